"""The campaign state machine (rewards.campaigns.states): every legal and illegal move, the
conditional UPDATE, the history rows, the automatic moves (budget pause, beat, error), and
that nothing else writes Campaign.status."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from engagement.webhooks.models import WebhookEvent
from rewards.campaigns import lifecycle, states
from rewards.campaigns.models import Campaign, CampaignStatusChange
from rewards.campaigns.scheduling import advance_statuses
from tests.campaigns.conftest import ev, ingest, make_campaign

S = Campaign.Status
ALL = [str(s) for s in S]
LEGAL = {
    ("draft", "scheduled"),
    ("draft", "active"),
    ("scheduled", "draft"),
    ("scheduled", "active"),
    ("scheduled", "paused"),
    ("scheduled", "ended"),
    ("active", "paused"),
    ("active", "error"),
    ("active", "ended"),
    ("paused", "active"),
    ("paused", "ended"),
    ("error", "active"),
    ("error", "ended"),
}
ROOT = Path(__file__).resolve().parents[2]


def history(campaign):
    return list(
        CampaignStatusChange.objects.filter(campaign=campaign).values_list("from_status", "to_status", "reason")
    )


def campaign_in(program, status):
    campaign = make_campaign(program, "event", {"event_type": "purchase"}, status="draft")
    # Put it in `status` behind the machine's back: the test is about the move from there.
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def test_the_table_is_the_documented_one():
    assert set(states.allowed_pairs()) == LEGAL


@pytest.mark.parametrize(("from_status", "to_status"), sorted(LEGAL))
def test_every_legal_move_updates_the_row_and_writes_history(acme, from_status, to_status):
    user = get_user_model().objects.create_user("ops", "ops@example.com", "pw")
    campaign = campaign_in(acme, from_status)

    assert states.transition(campaign, to_status, reason="because", actor=user) is True

    campaign.refresh_from_db()
    assert campaign.status == to_status
    change = CampaignStatusChange.objects.get(campaign=campaign)
    assert (change.from_status, change.to_status, change.reason, change.actor) == (
        from_status,
        to_status,
        "because",
        user,
    )


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    sorted((a, b) for a in ALL for b in ALL if (a, b) not in LEGAL),
)
def test_every_illegal_move_is_refused_and_changes_nothing(acme, from_status, to_status):
    campaign = campaign_in(acme, from_status)

    with pytest.raises(states.IllegalTransition):
        states.transition(campaign, to_status)
    with pytest.raises(lifecycle.CampaignInvalid) as refused:
        lifecycle.set_status(campaign, to_status)

    assert refused.value.errors == [("status", f"cannot go from {from_status} to {to_status}.")]
    campaign.refresh_from_db()
    assert campaign.status == from_status
    assert history(campaign) == []


def test_a_move_that_lost_the_race_changes_nothing(acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})
    stale = Campaign.objects.get(pk=campaign.pk)
    assert states.transition(campaign, S.PAUSED) is True

    assert states.transition(stale, S.ENDED) is False

    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert [(a, b) for a, b, _ in history(campaign)] == [("draft", "active"), ("active", "paused")]


def test_lifecycle_records_each_move(acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})

    lifecycle.pause(campaign)
    lifecycle.resume(campaign)
    lifecycle.set_status(campaign, S.ENDED)

    assert [(a, b) for a, b, _ in history(campaign)] == [
        ("draft", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("active", "ended"),
    ]


def test_error_keeps_the_message_and_records_campaign_failed(acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})

    assert lifecycle.mark_failed(campaign, ValueError("bad rule")) is True
    assert lifecycle.mark_failed(campaign, ValueError("again")) is False  # no longer active

    campaign.refresh_from_db()
    assert (campaign.status, campaign.last_error) == ("error", "ValueError: bad rule")
    assert history(campaign)[-1] == ("active", "error", "ValueError: bad rule")
    assert WebhookEvent.objects.filter(type="campaign.failed").count() == 1


def test_resuming_from_error_needs_a_rule_that_validates(acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})
    Campaign.objects.filter(pk=campaign.pk).update(trigger_config={"event_type": "purchase", "min_value": "NaN"})
    campaign.refresh_from_db()
    lifecycle.mark_failed(campaign, "InvalidOperation")

    with pytest.raises(lifecycle.CampaignInvalid) as refused:
        lifecycle.resume(campaign)
    assert [attr for attr, _ in refused.value.errors] == ["trigger.config.min_value"]
    assert Campaign.objects.get(pk=campaign.pk).status == "error"

    lifecycle.update_campaign(campaign, {"trigger": {"kind": "event", "config": {"event_type": "purchase"}}})
    lifecycle.resume(Campaign.objects.get(pk=campaign.pk))
    assert Campaign.objects.get(pk=campaign.pk).status == "active"


def test_budget_auto_pause_goes_through_the_machine(acme, alice, bob):
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 60})], limits={"budget_points": 100}
    )

    ingest(acme, [ev(alice, "purchase", value=10), ev(bob, "purchase", value=10)])

    campaign.refresh_from_db()
    assert (campaign.status, campaign.paused_reason) == ("paused", "budget_exhausted")
    assert history(campaign)[-1] == ("active", "paused", "budget_exhausted")


def test_beat_starts_and_ends_campaigns_with_history(acme):
    now = timezone.now()
    starting = make_campaign(
        acme, "event", {"event_type": "purchase"}, status="scheduled", starts_at=now - timedelta(minutes=1)
    )
    ending = make_campaign(acme, "event", {"event_type": "purchase"}, ends_at=now - timedelta(minutes=1))
    failed = make_campaign(acme, "event", {"event_type": "purchase"}, ends_at=now - timedelta(minutes=1))
    lifecycle.mark_failed(failed, "boom")
    draft = make_campaign(acme, "event", {"event_type": "purchase"}, status="draft", ends_at=now - timedelta(minutes=1))

    assert advance_statuses(now) == (1, 2)

    assert history(starting)[-1] == ("scheduled", "active", "starts_at")
    assert history(ending)[-1] == ("active", "ended", "ends_at")
    assert history(failed)[-1] == ("error", "ended", "ends_at")
    assert Campaign.objects.get(pk=draft.pk).status == "draft"


# --- one door --------------------------------------------------------------------------------


def _root_name(node):
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def status_writes(path):
    """Lines of `path` that write a campaign's status outside the state machine: Campaign
    querysets updated/created with status= (or **kwargs), Campaign(status=...),
    campaign.status = ..., and raw SQL setting a status in a module that names the table."""
    source = path.read_text()
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        # status=..., or **fields that may hold it
        if isinstance(node, ast.Call) and any(k.arg in ("status", None) for k in node.keywords):
            func = node.func
            writer = isinstance(func, ast.Attribute) and func.attr in (
                "update",
                "create",
                "get_or_create",
                "update_or_create",
            )
            if _root_name(func) == "Campaign" and (writer or isinstance(func, ast.Name)):
                found.append(node.lineno)
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(item, ast.Attribute) and item.attr == "status":
                        if "campaign" in ast.unparse(item.value).lower():
                            found.append(node.lineno)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "set status" in node.value.lower():
            if "campaigns_campaign" in source or "Campaign._meta.db_table" in source:
                found.append(node.lineno)
    return found


def test_only_the_state_machine_writes_campaign_status():
    sources = [
        p
        for folder in ("config", "engagement", "payouts", "rewards", "surveys")
        for p in (ROOT / folder).rglob("*.py")
        if "migrations" not in p.parts and p != ROOT / "rewards" / "campaigns" / "states.py"
    ]

    offenders = {str(p.relative_to(ROOT)): lines for p in sources if (lines := status_writes(p))}

    assert offenders == {}
    # and the detector does find such writes (states.py itself has them)
    assert status_writes(ROOT / "rewards" / "campaigns" / "states.py") != []

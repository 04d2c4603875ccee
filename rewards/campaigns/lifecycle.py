"""Creating, changing and moving campaigns through their statuses: the only writers of
Campaign and CampaignAction rows (API, admin, templates and the demo all come here).

Public API (stable; callers use only these): `create_campaign`, `update_campaign`,
`set_status`, `pause`, `resume`, `clone`, `mark_failed`, `to_data`, `validate` and
`CampaignInvalid` (its `.errors` is [(attr, message)]); `TRANSITIONS` is the state machine's
table. Every function takes an optional keyword `actor` (a user, for the status history)
where it can move a status. Status moves go through states.py (conditional UPDATE + history
row); validation through validation.py.

Input is the API's shape (see docs/campaigns.md):
    {"name", "description", "status", "starts_at", "ends_at", "priority",
     "audience": {"kind", "values", "attributes"}, "trigger": {"kind", "config"},
     "customer_titles": {"en", "ar", "ms"} (optional),
     "conditions": [...], "actions": [{"kind", "config", "delay_minutes", "cancel_if_event_type"}],
     "limits": {"per_customer", "per_customer_period_days", "budget_points", "budget_money", "max_grants"}}
"""

from decimal import Decimal

from django.db import transaction

from rewards.campaigns import states
from rewards.campaigns.limits import BUDGET_EXHAUSTED, sync_counters
from rewards.campaigns.models import Campaign, CampaignAction
from rewards.campaigns.validation import LIMIT_FIELDS, CampaignInvalid, validate

__all__ = [
    "CampaignInvalid",
    "TRANSITIONS",
    "clone",
    "create_campaign",
    "mark_failed",
    "pause",
    "resume",
    "set_status",
    "to_data",
    "update_campaign",
    "validate",
]

S = Campaign.Status
# The status machine (states.py); re-exported here for callers of the old name.
TRANSITIONS = states.TRANSITIONS
ERROR_MESSAGE_LENGTH = 2000
TITLE_LANGUAGES = ("en", "ar", "ms")


def to_data(campaign):
    """The campaign in the API's shape (also what `clone` and templates use)."""
    return {
        "name": campaign.name,
        "description": campaign.description,
        "status": campaign.status,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "priority": campaign.priority,
        "customer_titles": {lang: getattr(campaign, f"customer_title_{lang}") for lang in TITLE_LANGUAGES},
        "audience": {
            "kind": campaign.audience,
            "values": campaign.audience_values,
            "attributes": campaign.audience_attributes,
        },
        "trigger": {"kind": campaign.trigger_kind, "config": campaign.trigger_config},
        "conditions": campaign.conditions,
        "actions": [
            {
                "kind": a.kind,
                "config": a.config,
                "delay_minutes": a.delay_minutes,
                "cancel_if_event_type": a.cancel_if_event_type,
            }
            for a in campaign.actions.all()
        ],
        "limits": {key: getattr(campaign, name) for key, name in LIMIT_FIELDS.items()},
    }


def _apply(campaign, data):
    for name in ("name", "description", "starts_at", "ends_at", "priority"):
        if name in data:
            setattr(campaign, name, data[name] if name != "description" else data[name] or "")
    for lang, title in (data.get("customer_titles") or {}).items():
        if lang in TITLE_LANGUAGES:
            setattr(campaign, f"customer_title_{lang}", (title or "")[:120])
    audience = data.get("audience", {})
    campaign.audience = audience.get("kind", "all")
    campaign.audience_values = audience.get("values", [])
    campaign.audience_attributes = audience.get("attributes", {})
    campaign.trigger_kind = data["trigger"]["kind"]
    campaign.trigger_config = data["trigger"].get("config", {})
    campaign.conditions = data.get("conditions", [])
    limits = data.get("limits", {})
    for key, name in LIMIT_FIELDS.items():
        value = limits.get(key)
        setattr(campaign, name, Decimal(str(value)) if key == "budget_money" and value is not None else value)


def _replace_actions(campaign, action_list):
    """Store `action_list` as the campaign's actions, in that order. An item with the "id" of
    one of its actions (the admin's rows) updates that row in place, so the runs it already
    recorded, and delayed ones still pending, stay with it; rows not listed are deleted (with
    their runs). Items without an id (the API) become new rows."""
    existing = {a.pk: a for a in campaign.actions.all()}
    kept = []
    for index, item in enumerate(action_list):
        row = existing.get(item.get("id")) or CampaignAction(campaign=campaign)
        row.position = index
        row.kind = item["kind"]
        row.config = item.get("config", {})
        row.delay_minutes = item.get("delay_minutes", 0)
        row.cancel_if_event_type = item.get("cancel_if_event_type", "") or ""
        row.save()
        kept.append(row.pk)
    campaign.actions.exclude(pk__in=kept).delete()


def create_campaign(program, data, *, template_key="", actor=None):
    """Validate and create a campaign with its actions, in one transaction.

    Created as draft, then moved through the state machine to `data["status"]` when that is
    scheduled or active (a history row each). Raises CampaignInvalid listing every problem;
    nothing is stored then. Not idempotent by itself (the API's Idempotency-Key makes it so).
    """
    validate(program, data)
    status = data.get("status", S.DRAFT)
    if status not in (S.DRAFT, S.SCHEDULED, S.ACTIVE):
        raise CampaignInvalid([("status", "a new campaign is draft, scheduled or active.")])
    with transaction.atomic():
        campaign = Campaign(program=program, template_key=template_key)
        _apply(campaign, data)
        campaign.save()
        _replace_actions(campaign, data["actions"])
        if status != S.DRAFT:
            states.transition(campaign, status, reason="created", actor=actor)
    return campaign


def update_campaign(campaign, changes, *, actor=None):
    """Apply a partial change (PATCH): merged with the current definition, validated whole.

    Under the campaign's row lock, so a concurrent budget charge sees either all of it or
    none. Setting a budget on a running campaign first counts what it already spent. A
    "status" in `changes` moves the campaign through set_status after the change is saved.
    Raises CampaignInvalid (nothing changed). Returns the campaign as stored.
    """
    definition = {k: v for k, v in changes.items() if k != "status"}
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("program").get(pk=campaign.pk)
        # A status-only change validates nothing else: a campaign whose stored rule no longer
        # validates (one in error) can still be paused or ended.
        if definition:
            _change_definition(campaign, definition)
        if "status" in changes and changes["status"] != campaign.status:
            set_status(campaign, changes["status"], actor=actor)
    return campaign


def _change_definition(campaign, definition):
    data = {**to_data(campaign), **definition}
    validate(campaign.program, data)
    had_budget = campaign.has_budget
    _apply(campaign, data)
    if campaign.has_budget and not had_budget:
        sync_counters(campaign)
    errors = _budget_errors(campaign)
    if errors:
        raise CampaignInvalid(errors)
    # The status column is the state machine's alone (states.py).
    campaign.save(update_fields=[f.name for f in Campaign._meta.concrete_fields if f.name not in ("id", "status")])
    if "actions" in definition:
        _replace_actions(campaign, data["actions"])


def _budget_errors(campaign):
    errors = []
    if campaign.budget_points is not None and campaign.budget_points < campaign.spent_points:
        errors.append(("limits.budget_points", f"already {campaign.spent_points} points spent."))
    if campaign.budget_money is not None and campaign.budget_money < campaign.spent_money:
        errors.append(("limits.budget_money", f"already {campaign.spent_money} spent."))
    if campaign.max_grants is not None and campaign.max_grants < campaign.grants_count:
        errors.append(("limits.max_grants", f"already {campaign.grants_count} grants."))
    return errors


def set_status(campaign, status, *, actor=None, reason=""):
    """Move to `status` if the state machine allows it from the campaign's status (states.py);
    pausing by hand keeps no reason, leaving paused clears the reason; activating a campaign
    in error first re-validates its rule. Raises CampaignInvalid ("status") for a move not
    allowed, or one that lost a race (the row had moved meanwhile). Returns the campaign."""
    if campaign.status == S.ERROR and status == S.ACTIVE:
        validate(campaign.program, to_data(campaign))
    try:
        moved = states.transition(campaign, status, reason=reason, actor=actor)
    except states.IllegalTransition as exc:
        raise CampaignInvalid([("status", str(exc))]) from None
    if not moved:
        raise CampaignInvalid([("status", "the campaign's status changed meanwhile; reload it.")])
    return campaign


def pause(campaign, *, actor=None):
    """Active or scheduled -> paused (by hand). Raises CampaignInvalid otherwise."""
    return set_status(campaign, S.PAUSED, actor=actor)


def resume(campaign, *, actor=None):
    """Paused or error -> active. A campaign paused by its budget needs a larger budget first;
    one in error needs a rule that now validates. Raises CampaignInvalid otherwise."""
    if campaign.paused_reason == BUDGET_EXHAUSTED and campaign.has_budget:
        errors = []
        if campaign.budget_points is not None and campaign.spent_points >= campaign.budget_points:
            errors.append(("limits.budget_points", "the points budget is spent; raise it first."))
        if campaign.budget_money is not None and campaign.spent_money >= campaign.budget_money:
            errors.append(("limits.budget_money", "the money budget is spent; raise it first."))
        if campaign.max_grants is not None and campaign.grants_count >= campaign.max_grants:
            errors.append(("limits.max_grants", "all grants are used; raise max_grants first."))
        if errors:
            raise CampaignInvalid(errors)
    return set_status(campaign, S.ACTIVE, actor=actor)


def mark_failed(campaign, error):
    """Active -> error after its evaluation raised `error` (an exception or a message): the
    campaign stops being evaluated, the error and its time are stored on it and the webhook
    event campaign.failed is recorded, in the caller's transaction. Returns False when the
    campaign was no longer active (nothing changed)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if campaign.status != S.ACTIVE:
        return False
    return states.transition(campaign, S.ERROR, reason=message[:ERROR_MESSAGE_LENGTH])


def clone(campaign, name=None, *, actor=None):
    """A draft copy with the same rule and actions, and fresh counters."""
    data = to_data(campaign)
    data.update(name=name or f"{campaign.name} (copy)", status=S.DRAFT)
    return create_campaign(campaign.program, data, template_key=campaign.template_key, actor=actor)

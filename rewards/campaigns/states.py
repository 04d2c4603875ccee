"""The campaign state machine: the ONLY code that moves `Campaign.status`.

    draft     -> scheduled | active
    scheduled -> draft | active (by hand, or by beat at starts_at) | paused | ended
    active    -> paused (by hand, or by its budget running out) | error | ended
    paused    -> active | ended
    error     -> active (after the rule is fixed) | ended
    ended: final
Beat also ends scheduled, active, paused and error campaigns at `ends_at`.

`error` is an automatic pause: a campaign whose evaluation raised during a batch is moved there
by the engine (engine.evaluate_isolated), with the error on the row (`last_error`,
`last_error_at`), so it stops being evaluated while the rest of the batch commits.

Each move is a conditional UPDATE (`WHERE status = <from>`), so of two racing movers only one
wins and the effects run once, plus a `CampaignStatusChange` history row, in the caller's
transaction. Effects of entering a status, in that transaction:
- paused: `paused_reason` is the reason given ("budget_exhausted" or empty for by hand);
  leaving paused clears it;
- error: records the outbound webhook event `campaign.failed`.
"""

from django.db import connection, transaction
from django.utils import timezone

from engagement.webhooks.events import record_webhook_event
from rewards.campaigns.models import Campaign, CampaignStatusChange

S = Campaign.Status
TRANSITIONS = {
    S.DRAFT: {S.SCHEDULED, S.ACTIVE},
    S.SCHEDULED: {S.DRAFT, S.ACTIVE, S.PAUSED, S.ENDED},
    S.ACTIVE: {S.PAUSED, S.ERROR, S.ENDED},
    S.PAUSED: {S.ACTIVE, S.ENDED},
    S.ERROR: {S.ACTIVE, S.ENDED},
    S.ENDED: set(),
}
CAMPAIGNS = Campaign._meta.db_table
HISTORY_REASON_LENGTH = 300


class IllegalTransition(Exception):
    """The requested move is not in TRANSITIONS."""

    def __init__(self, from_status, to_status):
        super().__init__(f"cannot go from {from_status} to {to_status}.")
        self.from_status, self.to_status = from_status, to_status


def allowed_pairs():
    return sorted((str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets)


def can_move(from_status, to_status):
    return to_status in TRANSITIONS.get(from_status, set())


def _fields(from_status, to_status, reason, now):
    fields = {"status": to_status, "updated_at": now}
    if to_status == S.PAUSED:
        fields["paused_reason"] = reason[:40]
    elif from_status == S.PAUSED:
        fields["paused_reason"] = ""
    if to_status == S.ERROR:
        fields.update(last_error=reason, last_error_at=now)
    return fields


def transition(campaign, to_status, *, reason="", actor=None, now=None):
    """Move `campaign` from the status it was loaded with to `to_status`.

    Returns True when this call made the move (the instance is updated); False when the row
    was no longer in that status: someone else moved it first and nothing changed. Raises
    IllegalTransition for a move TRANSITIONS does not allow. Joins the caller's transaction.
    """
    from_status = campaign.status
    if not can_move(from_status, to_status):
        raise IllegalTransition(from_status, to_status)
    now = now or timezone.now()
    fields = _fields(from_status, to_status, reason, now)
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, status=from_status).update(**fields):
            return False
        for name, value in fields.items():
            setattr(campaign, name, value)
        change = CampaignStatusChange.objects.create(
            campaign=campaign,
            from_status=from_status,
            to_status=to_status,
            reason=reason[:HISTORY_REASON_LENGTH],
            actor=actor,
            created_at=now,
        )
        if to_status == S.ERROR:
            _record_failed(campaign, change)
    return True


def transition_due(from_status, to_status, due, *, reason, now=None):
    """Set-based move of every campaign in `from_status` matching the Q `due` (beat's
    starts_at / ends_at passes): one conditional UPDATE ... RETURNING and one insert of
    history rows. Returns how many moved."""
    if not can_move(from_status, to_status):
        raise IllegalTransition(from_status, to_status)
    now = now or timezone.now()
    ids = list(Campaign.objects.filter(due, status=from_status).values_list("id", flat=True))
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Re-checked in the UPDATE: a campaign moved since the SELECT is left alone.
        cursor.execute(
            f"UPDATE {CAMPAIGNS} SET status = %s, updated_at = %s, paused_reason = ''"
            " WHERE id = ANY(%s) AND status = %s RETURNING id",
            [to_status, now, ids, from_status],
        )
        moved = [row[0] for row in cursor.fetchall()]
        CampaignStatusChange.objects.bulk_create(
            [
                CampaignStatusChange(
                    campaign_id=pk, from_status=from_status, to_status=to_status, reason=reason, created_at=now
                )
                for pk in moved
            ]
        )
    return len(moved)


def _record_failed(campaign, change):
    payload = {
        "campaign": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "error": campaign.last_error,
        "failed_at": campaign.last_error_at.isoformat(),
    }
    record_webhook_event(campaign.program, "campaign.failed", payload, idempotency_key=f"campaign.failed:{change.pk}")

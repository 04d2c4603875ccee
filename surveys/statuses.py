"""Invitation statuses driven by the channel (engagement.channels status hooks) and by time.

Forward-only: a late "delivered" callback never moves an opened or answered invitation back.
Each move goes through surveys.states (locked, conditional, with a history row), safe to repeat.
"""

from django.utils import timezone

from surveys import states
from surveys.models import Invitation

S = Invitation.Status
# Channel status -> (new invitation status, timestamp field, statuses it may move from).
MOVES = {
    "sent": (S.SENT, "sent_at", (S.QUEUED,)),
    "delivered": (S.DELIVERED, "delivered_at", (S.QUEUED, S.SENT)),
    "failed": (S.FAILED, "failed_at", (S.QUEUED, S.SENT)),
    "dropped": (S.FAILED, "failed_at", (S.QUEUED,)),
}
EXPIRABLE = (S.QUEUED, S.SENT, S.DELIVERED, S.OPENED)


def on_message_status(message_id, status):
    """engagement.channels status handler: move the invitation whose message this is.

    Runs inside the channel's transaction. Timestamps are kept even when the status has
    already moved further (an invitation opened before its "sent" callback still gets sent_at).
    Reminder messages do not change the invitation.
    """
    move = MOVES.get(status)
    if move is None:
        return
    new_status, stamp, from_statuses = move
    now = timezone.now()
    invitations = Invitation.objects.filter(message_id=message_id)
    states.move_many(invitations, from_statuses, new_status, reason=f"message {status}")
    invitations.filter(**{f"{stamp}__isnull": True}).update(**{stamp: now})
    if status in ("failed", "dropped"):
        invitations.filter(failure_reason="").update(failure_reason=status)
    if status == "delivered":
        # A delivery receipt implies the message was sent.
        invitations.filter(sent_at__isnull=True).update(sent_at=now)


def expire_due_invitations(now=None, queryset=None):
    """Invitations past their link validity and not answered become expired; returns how many.
    Beat runs it over all invitations; the answer page over the one being opened."""
    now = now or timezone.now()
    queryset = Invitation.objects.all() if queryset is None else queryset
    # SKIP LOCKED: an invitation being answered right now is left to its answer (which checks expiry).
    due = queryset.filter(expires_at__lte=now)
    return len(states.move_many(due, EXPIRABLE, S.EXPIRED, reason="link expired", skip_locked=True))

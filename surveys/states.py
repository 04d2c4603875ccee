"""The invitation state machine: the ONLY code that writes `Invitation.status`.

    (new)     -> held (throttled) | queued
    held      -> queued (released, handed to its channel) | failed (no longer eligible, channel refused)
    queued    -> sent | delivered | failed | opened | answered | expired
    sent      -> delivered | failed | opened | answered | expired
    delivered -> opened | answered | expired
    opened    -> answered | expired
    failed, answered, expired: final.

Forward-only: a late "delivered" callback never moves an opened or answered invitation back.
Each move is a conditional UPDATE (`WHERE status = <from>`), so of two racing movers only one
wins, plus an InvitationStatusChange row. Who moves what: surveys.sending (create, release,
channel refusal), surveys.statuses (channel callbacks, expiry), surveys.answering (opened,
answered) and the demo loader.
"""

from typing import Any

from django.db.models import QuerySet

from engagement.state_machine import IllegalTransition, StateMachine
from surveys.models import Invitation, InvitationStatusChange

S = Invitation.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.HELD: frozenset({S.QUEUED, S.FAILED}),
    S.QUEUED: frozenset({S.SENT, S.DELIVERED, S.FAILED, S.OPENED, S.ANSWERED, S.EXPIRED}),
    S.SENT: frozenset({S.DELIVERED, S.FAILED, S.OPENED, S.ANSWERED, S.EXPIRED}),
    S.DELIVERED: frozenset({S.OPENED, S.ANSWERED, S.EXPIRED}),
    S.OPENED: frozenset({S.ANSWERED, S.EXPIRED}),
    S.FAILED: frozenset(),
    S.ANSWERED: frozenset(),
    S.EXPIRED: frozenset(),
}
INITIAL = frozenset({S.HELD, S.QUEUED})
FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)

__all__ = [
    "FINAL",
    "INITIAL",
    "TRANSITIONS",
    "IllegalTransition",
    "create",
    "import_history",
    "move_many",
    "transition",
]

MACHINE = StateMachine(
    model=Invitation,
    history=InvitationStatusChange,
    subject="invitation",
    transitions=TRANSITIONS,
    initial=INITIAL,
)


def allowed_pairs() -> list[tuple[str, str]]:
    return MACHINE.allowed_pairs()


def create(invitation: Invitation, status: str, *, reason: str = "") -> Invitation:
    """Insert the unsaved `invitation` as held or queued (history row included); raises
    IllegalTransition for any other status."""
    return MACHINE.create(invitation, status, reason=reason)


def import_history(rows: list[tuple[Invitation, str]], *, reason: str = "imported history") -> list[Invitation]:
    """Insert unsaved invitations each with the status its (past) history ended in, in one
    statement, with a history row each; for the demo loader. Raises IllegalTransition for a
    status the machine does not know."""
    return MACHINE.import_history(rows, reason=reason)


def transition(
    invitation: Invitation,
    to_status: str,
    *,
    reason: str = "",
    actor: Any = None,
    updates: dict[str, Any] | None = None,
) -> bool:
    """Move `invitation` from the status it was loaded with; False when another mover won
    (nothing changed). Raises IllegalTransition. `updates` are columns written in the same UPDATE."""
    return MACHINE.transition(invitation, to_status, reason=reason, actor=actor, updates=updates)


def move_many(
    invitations: QuerySet[Invitation],
    from_statuses: list[str] | tuple[str, ...],
    to_status: str,
    *,
    reason: str = "",
    updates: dict[str, Any] | None = None,
    skip_locked: bool = False,
) -> list[int]:
    """Move every invitation of `invitations` in one of `from_statuses` (rows locked in id
    order); returns the ids moved. Raises IllegalTransition, changing nothing."""
    return MACHINE.move_many(
        invitations, from_statuses, to_status, reason=reason, updates=updates, skip_locked=skip_locked
    )

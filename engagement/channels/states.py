"""The message state machine: the ONLY code that writes `Message.status`.

    (new)     -> queued | held | skipped
    queued    -> sending (claimed by a worker) | held (policy, at the claim) | dropped
    held      -> queued (released by the sweep or an admin) | dropped (held too long, erased)
    sending   -> sent | delivered | failed | queued (transient error or a dead worker: retry)
    sent      -> delivered | failed (provider reports)
    delivered -> failed (a late "undelivered" report)
    failed, skipped, dropped: final.

Each move is a conditional UPDATE (`WHERE status = <from>`), so of two racing movers only one
wins, plus a MessageStatusChange row; moves into sent, delivered, failed or dropped run the
status handlers (engagement.channels.hooks) inside the same transaction.
"""

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from engagement.channels import hooks
from engagement.channels.models import Message, MessageStatus, MessageStatusChange
from engagement.state_machine import IllegalTransition, StateMachine

S = MessageStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.SENDING, S.HELD, S.DROPPED}),
    S.HELD: frozenset({S.QUEUED, S.DROPPED}),
    S.SENDING: frozenset({S.SENT, S.DELIVERED, S.FAILED, S.QUEUED}),
    S.SENT: frozenset({S.DELIVERED, S.FAILED}),
    S.DELIVERED: frozenset({S.FAILED}),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.DROPPED: frozenset(),
}
INITIAL = frozenset({S.QUEUED, S.HELD, S.SKIPPED})
FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)

__all__ = ["FINAL", "INITIAL", "TRANSITIONS", "IllegalTransition", "create", "move_many", "transition"]


def _run_status_handlers(message_ids: list[int], status: str) -> None:
    for message_id in message_ids:
        hooks.run_status_handlers(message_id, status)


MACHINE = StateMachine(
    model=Message,
    history=MessageStatusChange,
    subject="message",
    transitions=TRANSITIONS,
    initial=INITIAL,
    after_move=_run_status_handlers,
    # update() does not touch auto_now fields.
    stamp=lambda: {"updated_at": timezone.now()},
)


def allowed_pairs() -> list[tuple[str, str]]:
    return MACHINE.allowed_pairs()


def create(message: Message, status: str, *, reason: str = "") -> Message:
    """Insert the unsaved `message` as queued, held or skipped (history row included).

    Runs in a savepoint: an IntegrityError (a duplicate idempotency key) propagates and leaves
    the caller's transaction usable. Raises IllegalTransition for any other status.
    """
    return MACHINE.create(message, status, reason=reason)


def transition(
    message: Message, to_status: str, *, reason: str = "", actor: Any = None, updates: dict[str, Any] | None = None
) -> bool:
    """Move `message` from the status it was loaded with; False when another mover won (nothing changed).
    Raises IllegalTransition. `updates` are columns written in the same UPDATE."""
    return MACHINE.transition(message, to_status, reason=reason, actor=actor, updates=updates)


def move_many(
    messages: QuerySet[Message],
    from_statuses: list[str],
    to_status: str,
    *,
    reason: str = "",
    actor: Any = None,
    updates: dict[str, Any] | None = None,
    skip_locked: bool = False,
) -> list[int]:
    """Move every message of `messages` in one of `from_statuses` (rows locked in id order);
    returns the ids moved. Raises IllegalTransition, changing nothing."""
    return MACHINE.move_many(
        messages, from_statuses, to_status, reason=reason, actor=actor, updates=updates, skip_locked=skip_locked
    )

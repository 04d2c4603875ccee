"""The mechanism behind the invitation and message state machines (surveys.states,
engagement.channels.states): a transition table, moves by conditional UPDATE, and one
append-only history row per move. payouts.states is the same idea with money effects.

A machine is declared once per model; its module is the only code that writes the status
column (tests/test_status_writers.py greps for any other writer). Every move runs in a
transaction (the caller's, or its own): the UPDATE, the history rows and `after_move`
commit or roll back together.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class StatusChange(models.Model):
    """Base of the append-only history models: one row per move (from_status blank at creation)."""

    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["id"]


class IllegalTransition(Exception):
    """The requested move (or initial status) is not in the machine's table; nothing changed."""


@dataclass(frozen=True)
class StateMachine:
    model: type[models.Model]
    # A StatusChange model with a foreign key named `subject` to `model`.
    history: type[StatusChange]
    subject: str
    transitions: Mapping[str, frozenset[str]]
    initial: frozenset[str]
    # Called inside the move's transaction with (moved ids, new status), e.g. to run hooks.
    after_move: Callable[[list[int], str], None] | None = None
    # Extra columns written by every move (e.g. updated_at, which update() does not touch).
    stamp: Callable[[], dict[str, Any]] | None = None

    def allowed_pairs(self) -> list[tuple[str, str]]:
        return sorted((str(a), str(b)) for a, targets in self.transitions.items() for b in targets)

    def can_move(self, from_status: str, to_status: str) -> bool:
        return to_status in self.transitions.get(from_status, frozenset())

    def check(self, from_statuses: Iterable[str], to_status: str) -> None:
        """Raise IllegalTransition unless every `from_statuses` -> `to_status` is allowed."""
        illegal = [str(status) for status in from_statuses if not self.can_move(status, to_status)]
        if illegal:
            raise IllegalTransition(f"{', '.join(illegal)} -> {to_status}")

    def create(self, instance: Any, status: str, *, reason: str = "", actor: Any = None) -> Any:
        """Insert the unsaved `instance` in an initial `status`, with its first history row.

        Raises IllegalTransition for a status a row may not start in. Runs in a savepoint of
        the caller's transaction, so an IntegrityError (a duplicate key) leaves that usable.
        """
        if status not in self.initial:
            raise IllegalTransition(f"created as {status}")
        instance.status = status
        with transaction.atomic():
            instance.save(force_insert=True)
            self._record([(instance.pk, "")], status, reason, actor)
        return instance

    def transition(
        self,
        instance: Any,
        to_status: str,
        *,
        reason: str = "",
        actor: Any = None,
        updates: dict[str, Any] | None = None,
    ) -> bool:
        """Move `instance` from the status it was loaded with to `to_status`.

        True when this call made the move (the instance's attributes are updated); False when
        the row had already left that status (someone else moved it: nothing changed). Raises
        IllegalTransition for a move the table does not allow. `updates` are other columns
        written in the same UPDATE.
        """
        from_status = instance.status
        self.check([from_status], to_status)
        fields = {"status": to_status, **(self.stamp() if self.stamp else {}), **(updates or {})}
        with transaction.atomic():
            moved = self.model._default_manager.filter(pk=instance.pk, status=from_status).update(**fields)
            if not moved:
                return False
            for name, value in fields.items():
                setattr(instance, name, value)
            self._record([(instance.pk, from_status)], to_status, reason, actor)
        return True

    def move_many(
        self,
        queryset: models.QuerySet[Any],
        from_statuses: Sequence[str],
        to_status: str,
        *,
        reason: str = "",
        actor: Any = None,
        updates: dict[str, Any] | None = None,
        skip_locked: bool = False,
    ) -> list[int]:
        """Move every row of `queryset` that is in one of `from_statuses` to `to_status`.

        Set-based: one locking SELECT (rows locked in primary-key order, so two movers cannot
        deadlock; `skip_locked` lets concurrent sweeps share the work), one UPDATE, one bulk
        insert of history rows. Returns the ids moved. Raises IllegalTransition (nothing
        changed) when any of `from_statuses` may not move to `to_status`.
        """
        self.check(from_statuses, to_status)
        fields = {"status": to_status, **(self.stamp() if self.stamp else {}), **(updates or {})}
        with transaction.atomic():
            rows = list(
                queryset.filter(status__in=list(from_statuses))
                .select_for_update(skip_locked=skip_locked, of=("self",))
                .order_by("pk")
                .values_list("pk", "status")
            )
            if not rows:
                return []
            ids = [pk for pk, _status in rows]
            self.model._default_manager.filter(pk__in=ids).update(**fields)
            self._record(rows, to_status, reason, actor)
        return ids

    def import_history(self, rows: Sequence[tuple[Any, str]], *, reason: str = "imported history") -> list[Any]:
        """Insert unsaved instances each already in a known status (history written elsewhere,
        such as a demo's past): one INSERT of the rows and one of their history rows, which
        say where each row started (from_status blank), so every status still has a door."""
        known = set(self.transitions)
        unknown = sorted({str(status) for _instance, status in rows if status not in known})
        if unknown:
            raise IllegalTransition(f"imported as {', '.join(unknown)}")
        for instance, status in rows:
            instance.status = status
        with transaction.atomic():
            instances = self.model._default_manager.bulk_create([instance for instance, _status in rows])
            now = timezone.now()
            self.history._default_manager.bulk_create(
                self.history(
                    **{f"{self.subject}_id": instance.pk}, from_status="", to_status=status,
                    reason=reason[:300], created_at=now,
                )
                for instance, (_unsaved, status) in zip(instances, rows, strict=True)
            )  # fmt: skip
        return instances

    def _record(self, rows: list[tuple[int, str]], to_status: str, reason: str, actor: Any) -> None:
        now = timezone.now()
        self.history._default_manager.bulk_create(
            self.history(
                **{f"{self.subject}_id": pk},
                from_status=from_status,
                to_status=to_status,
                reason=reason[:300],
                actor=actor,
                created_at=now,
            )
            for pk, from_status in rows
        )
        if self.after_move is not None:
            self.after_move([pk for pk, _from in rows], str(to_status))

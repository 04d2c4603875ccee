"""The grants of one processing batch, written by ONE rewards.ledger.bulk_grant at its end.

engagement.processing runs a batch's event handlers in one transaction. The base earn rule
and referrals (rewards.earning) and the campaigns' ActionBatch each called bulk_grant — three
account-lock passes, key lookups and inserts per batch. Inside `collecting()` (the batch
scope processing wraps around its handlers, registered in RewardsConfig.ready) they `add`
their grants here, and the scope's end writes them all, in the order they were added: the
order of the three calls before, so every entry's balance_after, key, webhook and id order
is unchanged. Outside a scope (a handler called alone, the beat) `add` writes at once.

Readers of the ledger later in the same batch must see the queued grants:
- the refund clawbacks (rewards.earning) read an order's entries and lots: `flush()` first;
- the tier recompute reads the points earned in its window: `earned_points` gives what the
  queued grants will add (rewards.tiers), so tiers, and the campaigns' tier multipliers
  and conditions after it, are those of one write per handler.
Nothing else between the earn rule and the end of the campaigns reads balances or entries.
"""

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from engagement.models import Program
from rewards import ledger
from rewards.models import EntryKind, LedgerEntry

log = logging.getLogger(__name__)

# Per grant after the write: its LedgerEntry, or the exception it failed with alone.
Results = list[LedgerEntry | Exception]
Then = Callable[[Results], None]


@dataclass
class _Group:
    program: Program
    grants: list[ledger.Grant]
    then: Then | None


class GrantCollector:
    """The queued grants of one batch (see the module docstring)."""

    def __init__(self) -> None:
        self.groups: list[_Group] = []

    def add(self, program: Program, grants: Sequence[ledger.Grant], then: Then | None) -> None:
        self.groups.append(_Group(program, list(grants), then))

    def flush(self) -> None:
        """Write what is queued: one bulk_grant per program, then each group's `then`."""
        groups, self.groups = self.groups, []
        by_program = defaultdict(list)
        for group in groups:
            by_program[group.program.pk].append(group)
        for program_groups in by_program.values():
            _write(program_groups)

    def earned_points(self, program: Program, since: datetime) -> dict[int, int]:
        """{customer id: points} the queued grants will add to rewards.balances.earned_since:
        spendable earn/adjust entries created at or after `since`, first use of a key only."""
        grants = [g for group in self.groups if group.program.pk == program.pk for g in group.grants]
        grants = [g for g in grants if g.kind in (EntryKind.EARN, EntryKind.ADJUST)]
        if not grants:
            return {}
        now = timezone.now()
        used = set(
            LedgerEntry.objects.filter(
                program=program, idempotency_key__in={g.idempotency_key for g in grants}
            ).values_list("idempotency_key", flat=True)
        )
        points: dict[int, int] = defaultdict(int)
        for grant in grants:
            if grant.idempotency_key in used:
                continue
            used.add(grant.idempotency_key)
            pending = grant.pending_until is not None and grant.pending_until > now
            if not pending and (grant.earned_at or now) >= since:
                points[grant.customer.pk] += grant.points
        return dict(points)


_current: ContextVar[GrantCollector | None] = ContextVar("rewards_grant_collector", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[GrantCollector]:
    """Collect the grants made inside; write them when the block ends without an error (a
    raising block writes nothing: its transaction rolls back). Must run in a transaction."""
    collector = GrantCollector()
    token = _current.set(collector)
    try:
        yield collector
        collector.flush()
    finally:
        _current.reset(token)


def add(program: Program, grants: Sequence[ledger.Grant], *, notify: bool = False, then: Then | None = None) -> None:
    """Queue `grants` for the batch's bulk write (at once outside a batch scope). `notify`:
    webhook reward.granted for each new entry. `then(results)` runs after the write; a grant
    that fails even alone (after a failed bulk write) gives its exception to `then`, or
    raises when there is no `then` (the batch rolls back, as a failing bulk_grant did)."""
    if not grants:
        return
    if notify:
        grants = [replace(grant, notify=True) for grant in grants]
    collector = _current.get()
    if collector is None:
        _write([_Group(program, list(grants), then)])
    else:
        collector.add(program, grants, then)


def flush() -> None:
    """Write the grants queued so far (before reading the ledger in the same batch)."""
    collector = _current.get()
    if collector is not None:
        collector.flush()


def earned_points(program: Program, since: datetime) -> dict[int, int]:
    """What the batch's queued grants will add to earned_since per customer ({} outside a batch)."""
    collector = _current.get()
    return collector.earned_points(program, since) if collector is not None else {}


def _write(groups: list[_Group]) -> None:
    """One bulk_grant for the groups (one program). If it fails (anything but a transient
    OperationalError, which rolls the batch back for a retry) and a group handles failures,
    each grant is written alone in its own savepoint: a bad one cannot block the others."""
    program = groups[0].program
    grants = [grant for group in groups for grant in group.grants]
    handled = any(group.then is not None for group in groups)
    try:
        with transaction.atomic():
            results: Results = list(ledger.bulk_grant(program, grants))
    except OperationalError:
        raise
    except Exception as exc:  # noqa: BLE001 - one by one below, each failure given to its `then`
        if not handled:
            raise
        log.warning("bulk write of %s grants failed (%s); writing them one by one", len(grants), exc)
        results = [_write_one(program, grant, group.then is not None) for group in groups for grant in group.grants]
    start = 0
    for group in groups:
        if group.then is not None:
            group.then(results[start : start + len(group.grants)])
        start += len(group.grants)


def _write_one(program: Program, grant: ledger.Grant, handled: bool) -> LedgerEntry | Exception:
    try:
        with transaction.atomic():
            return ledger.bulk_grant(program, [grant])[0]
    except OperationalError:
        raise
    except IntegrityError as exc:
        # A concurrent transaction committed the same key first: that entry is this grant's.
        existing = LedgerEntry.objects.filter(program=program, idempotency_key=grant.idempotency_key).first()
        if existing is not None:
            return existing
        if not handled:
            raise
        return exc
    except Exception as exc:  # noqa: BLE001 - given to the group's `then` (campaigns record it)
        if not handled:
            raise
        return exc

"""Hooks that higher apps register at start-up (in their AppConfig.ready), so that
engagement can hand work upward without importing them (DESIGN.md: no web of signals).

- Event handlers are called by engagement.processing with (program_id, event_ids) *inside*
  the processing transaction, for events being processed for the first time. They must be
  set-based, and must defer anything that leaves the database with transaction.on_commit.
  If one raises, the transaction rolls back and the events are retried later. They run in
  the order of EVENT_HANDLER_ORDER below, whatever the order of INSTALLED_APPS.
- Batch scopes (`fn() -> context manager`) wrap all the event handlers of one processing
  batch, inside its transaction: rewards collects the batch's ledger grants in one and
  writes them with one bulk write when it closes (rewards.grant_batch).
- Transition handlers are called the same way with (program_id, transition_ids) when the
  scoring pass records score/segment/tier transitions (one today: campaigns).
- Metric providers let higher apps contribute metrics computed from their own tables
  (loyalty metrics from the ledger, survey response rate): `fn(program, start, end,
  segment=None) -> engagement.metrics.types.MetricValue`, under a METRICS.md name.
- Demo steps are called by `manage.py load_demo`, in order, to add each app's demo data;
  demo sign-ins (`fn(program, site) -> list of lines`) add the logins an app's demo step
  created (payouts: its two approvers) to the command's final block.
- The referral handler (rewards) ties a customer to a referrer's code when a partner's
  customer upsert carries `referral_code`: `fn(customer, code, source) -> dict` with
  `status` and `reason`, or None when the code is unknown (the caller then refuses).
"""

import contextlib
from collections.abc import Callable, Iterable, Iterator

EventHandler = Callable[[int, Iterable[int]], None]

# The event handlers, in the order they run (tests/engagement/test_hooks.py asserts it):
EVENT_HANDLER_ORDER = (
    # engagement.scoring: queue the events' customers for the incremental re-score.
    "scores",
    # engagement.channels.consent: an email_unsubscribed event withdraws email consent before
    # anything of the same batch (a campaign's message) could be sent.
    "consent",
    # rewards.earning: base earn rule, refund clawbacks, referrals; then recomputes the tiers
    # of the customers who earned.
    "earning",
    # rewards.campaigns.engine: evaluates campaigns; a grant multiplies by the customer's tier
    # multiplier, so it runs after earning to see a tier reached by this very batch.
    "campaigns",
)

_event_handlers: dict[str, EventHandler] = {}
_transition_handlers = []
_batch_scopes: list[Callable[[], contextlib.AbstractContextManager]] = []
_demo_steps = []
_demo_sign_ins = []
_metric_providers = {}
_referral_handler = []


def register_event_handler(name: str, handler: EventHandler) -> EventHandler:
    """Register `handler` in the slot `name` of EVENT_HANDLER_ORDER (ValueError for another name)."""
    if name not in EVENT_HANDLER_ORDER:
        raise ValueError(f"Unknown event handler slot {name!r}; add it to EVENT_HANDLER_ORDER first.")
    _event_handlers[name] = handler
    return handler


def event_handlers() -> list[tuple[str, EventHandler]]:
    """The registered event handlers, in the order they run."""
    return [(name, _event_handlers[name]) for name in EVENT_HANDLER_ORDER if name in _event_handlers]


def register_batch_scope(scope: Callable[[], contextlib.AbstractContextManager]) -> None:
    if scope not in _batch_scopes:
        _batch_scopes.append(scope)


@contextlib.contextmanager
def batch_scope() -> Iterator[None]:
    """Enter every registered batch scope (in registration order) around a batch's handlers."""
    with contextlib.ExitStack() as stack:
        for scope in list(_batch_scopes):
            stack.enter_context(scope())
        yield


def register_transition_handler(handler):
    if handler not in _transition_handlers:
        _transition_handlers.append(handler)
    return handler


def run_event_handlers(program_id: int, event_ids: Iterable[int]) -> None:
    for _name, handler in event_handlers():
        handler(program_id, event_ids)


def run_transition_handlers(program_id, transition_ids):
    for handler in list(_transition_handlers):
        handler(program_id, transition_ids)


def register_demo_step(order, name, step):
    """`step(program, progress)` adds demo data; must be safe to run twice (no duplicates)."""
    if all(existing[1] != name for existing in _demo_steps):
        _demo_steps.append((order, name, step))


def demo_steps():
    return sorted(_demo_steps, key=lambda item: item[0])


def register_demo_sign_in(lines):
    if lines not in _demo_sign_ins:
        _demo_sign_ins.append(lines)


def demo_sign_ins(program, site):
    """The registered demo sign-ins' lines for load_demo's final block, in registration order."""
    return [line for lines in _demo_sign_ins for line in lines(program, site)]


def register_metric(name, provider):
    _metric_providers[name] = provider


def metric_providers():
    return dict(_metric_providers)


# --- Right to erasure and access (engagement.erasure, engagement.customer_export) ----------
# An erasure handler is `fn(customer, scrubber)`, called inside the erasure transaction after
# every collector ran: it removes or scrubs the app's personal data about `customer` and
# leaves totals (counts, sums) as they are. A collector `fn(customer) -> iterable of str`
# names whole values that are personal (free-text answers) so every handler can scrub copies.
# An export section is `fn(customer) -> JSON-able value`, shown under its name.
_erasure_handlers = []
_erasure_collectors = []
_export_sections = {}


def register_erasure_handler(handler, collector=None):
    if handler not in _erasure_handlers:
        _erasure_handlers.append(handler)
    if collector is not None and collector not in _erasure_collectors:
        _erasure_collectors.append(collector)
    return handler


def erasure_handlers():
    return list(_erasure_handlers)


def erasure_collectors():
    return list(_erasure_collectors)


def register_export_section(name, section):
    _export_sections[name] = section


def export_sections():
    return dict(_export_sections)


def register_referral_handler(handler):
    _referral_handler[:] = [handler]


def attach_referral(customer, code, source):
    """The registered referral handler's answer, or None when no app handles referrals."""
    return _referral_handler[0](customer, code, source) if _referral_handler else None


# --- The customer's admin page (engagement.customer_page) -----------------------------------
# A section is `fn(request, customer) -> engagement.customer_page.Section | None`, shown in
# `order` (engagement's own: 10-19 and 70+; rewards 20-39, payouts 40-49, surveys 50-59).
# An action is an engagement.customer_page.CustomerAction (a POST-only button or form).
_customer_sections = []
_customer_actions = {}


def register_customer_section(order, name, section):
    if all(existing[1] != name for existing in _customer_sections):
        _customer_sections.append((order, name, section))


def customer_sections():
    """The registered (order, name, fn) sections, in page order."""
    return sorted(_customer_sections, key=lambda item: item[0])


def register_customer_action(action):
    _customer_actions[action.name] = action


def customer_actions():
    """The registered actions, in page order."""
    return sorted(_customer_actions.values(), key=lambda action: action.order)

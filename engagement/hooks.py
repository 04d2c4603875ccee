"""Hooks that higher apps register at start-up (in their AppConfig.ready), so that
engagement can hand work upward without importing them (DESIGN.md: no web of signals).

- Event handlers are called by engagement.processing with (program_id, event_ids) *inside*
  the processing transaction, for events being processed for the first time. They must be
  set-based, and must defer anything that leaves the database with transaction.on_commit.
  If one raises, the transaction rolls back and the events are retried later.
- Transition handlers are called the same way with (program_id, transition_ids) when the
  scoring pass records score/segment/tier transitions.
- Metric providers let higher apps contribute metrics computed from their own tables
  (loyalty metrics from the ledger, survey response rate): `fn(program, start, end,
  segment=None) -> engagement.metrics.types.MetricValue`, under a METRICS.md name.
- Demo steps are called by `manage.py load_demo`, in order, to add each app's demo data.
- The referral handler (rewards) ties a customer to a referrer's code when a partner's
  customer upsert carries `referral_code`: `fn(customer, code, source) -> dict` with
  `status` and `reason`, or None when the code is unknown (the caller then refuses).
"""

_event_handlers = []
_transition_handlers = []
_demo_steps = []
_metric_providers = {}
_referral_handler = []


def register_event_handler(handler):
    if handler not in _event_handlers:
        _event_handlers.append(handler)
    return handler


def register_transition_handler(handler):
    if handler not in _transition_handlers:
        _transition_handlers.append(handler)
    return handler


def run_event_handlers(program_id, event_ids):
    for handler in list(_event_handlers):
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


def register_metric(name, provider):
    _metric_providers[name] = provider


def metric_providers():
    return dict(_metric_providers)


def register_referral_handler(handler):
    _referral_handler[:] = [handler]


def attach_referral(customer, code, source):
    """The registered referral handler's answer, or None when no app handles referrals."""
    return _referral_handler[0](customer, code, source) if _referral_handler else None

"""Outbound notices of rewards: partner webhooks through engagement.webhooks (contract
`record_webhook_event`, written in the caller's transaction, delivered on commit).

If the webhooks app does not provide the function (an install without it), nothing is
recorded: a reward never fails because nobody listens.
"""

import logging

logger = logging.getLogger(__name__)


def webhook(program, event_type, payload, idempotency_key=None):
    """Record webhook `event_type` for `program` in the current transaction."""
    try:
        from engagement.webhooks.events import record_webhook_event
    except ImportError:
        logger.debug("webhooks not available; %s not recorded", event_type)
        return None
    return record_webhook_event(program, event_type, payload, idempotency_key=idempotency_key)

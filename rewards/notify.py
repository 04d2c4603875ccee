"""Outbound notices of rewards: partner webhooks through engagement.webhooks (contract
`record_webhook_event`, written in the caller's transaction, delivered on commit)."""

from engagement.webhooks.events import record_webhook_event


def webhook(program, event_type, payload, idempotency_key=None):
    """Record webhook `event_type` for `program` in the current transaction."""
    return record_webhook_event(program, event_type, payload, idempotency_key=idempotency_key)

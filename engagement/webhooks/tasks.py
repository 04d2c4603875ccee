"""Celery tasks for webhooks: they take ids and call engagement.webhooks.delivery."""

from celery import shared_task

from engagement.webhooks import delivery


@shared_task(queue="webhooks")
def deliver_webhooks_task(delivery_ids):
    """Attempt each due delivery in the batch; ids no longer due (or gone) are skipped."""
    for delivery_id in delivery_ids:
        delivery.attempt_delivery(delivery_id)


@shared_task(queue="webhooks")
def sweep_webhook_deliveries_task():
    """Beat: hand back deliveries of dead workers and enqueue due retries and lost messages."""
    delivery.sweep_deliveries()

"""Celery tasks of engagement: they take ids and call services, nothing else."""

from celery import shared_task

from engagement import idempotency, processing


@shared_task(queue="ingest", acks_late=True)
def process_events_task(event_ids):
    return processing.process_events(event_ids)


@shared_task(queue="ingest")
def sweep_unprocessed_events_task():
    """Re-process events whose processing task was lost (a broker message, a dead worker)."""
    total = 0
    while ids := processing.list_stranded_event_ids():
        done = processing.process_events(ids)
        total += done
        if done == 0:
            break
    return total


@shared_task
def purge_idempotency_keys_task():
    return idempotency.purge_expired_keys()

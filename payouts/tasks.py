"""Celery tasks of payouts (queue "payouts"): they take ids and call services.

All are idempotent: processing claims rows with conditional UPDATEs, so a task delivered
twice, or ids that no longer exist, do nothing harmful.
"""

from celery import shared_task


@shared_task(queue="payouts", acks_late=True)
def process_payouts_task(payout_ids):
    from payouts import processing

    return processing.process_payouts(payout_ids)


@shared_task(queue="payouts")
def sweep_payouts_task():
    """Re-claim payouts that are due: retries after backoff, lookups, polls, lost messages."""
    from payouts import processing

    total = 0
    for _ in range(20):  # bounded: at most 20 x 500 payouts per sweep
        ids = processing.list_due_payout_ids()
        if not ids:
            break
        done = processing.process_payouts(ids)
        total += done
        if done == 0:
            break
    return total


@shared_task(queue="payouts", acks_late=True)
def release_funds_holds_task(program_id, currency):
    from payouts import services

    return services.release_funds_holds(program_id, currency)


@shared_task(queue="payouts")
def reconcile_payouts_task():
    """Nightly: reconcile yesterday (UTC) for every program and provider with payouts."""
    from payouts import reconciliation

    return len(reconciliation.reconcile_recent())


@shared_task(queue="payouts")
def sync_catalogues_task():
    """Daily: mirror the catalogue of every provider account that asks for one."""
    from payouts import catalogue

    return len(catalogue.sync_all())

"""Celery tasks of checkout: they take ids and call services (STYLE.md)."""

from celery import shared_task

from rewards.checkout import pools, reservations


@shared_task(queue="default")
def expire_reservations_task():
    """Release every hold past its time (in chunks until none is left)."""
    total = 0
    while expired := reservations.expire_reservations():
        total += expired
    return total


@shared_task(queue="default", acks_late=True)
def generate_pool_task(pool_id):
    """Generate a code pool's codes (idempotent: fills up to its count)."""
    return pools.generate_codes(pool_id)

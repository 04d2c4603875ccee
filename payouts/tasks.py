"""Celery tasks of payouts (queue "payouts"): they take ids and call services."""

from celery import shared_task


@shared_task(queue="payouts", acks_late=True)
def process_payouts_task(payout_ids):
    from payouts import processing

    return processing.process_payouts(payout_ids)


@shared_task(queue="payouts", acks_late=True)
def release_funds_holds_task(program_id, currency):
    from payouts import services

    return services.release_funds_holds(program_id, currency)

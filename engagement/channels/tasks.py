"""Celery tasks of channels: they take ids and call delivery/sweep, nothing else."""

from celery import shared_task

from engagement.channels import delivery, sweep


@shared_task(queue="messaging", acks_late=True)
def deliver_messages_task(message_ids):
    """Deliver each queued message of `message_ids` (ids that no longer exist are ignored)."""
    return [delivery.deliver_message(message_id) for message_id in message_ids]


@shared_task(queue="messaging")
def sweep_messages_task():
    released, dropped = sweep.release_held_messages()
    requeued = sweep.requeue_stuck_messages()
    return {"released": released, "dropped": dropped, "requeued": requeued}

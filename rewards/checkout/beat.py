"""Periodic tasks of checkout (merged by config/celery.py). No Django imports here."""

SCHEDULE = {
    "checkout-expire-reservations": {"task": "rewards.checkout.tasks.expire_reservations_task", "schedule": 60},
}

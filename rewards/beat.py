"""Periodic tasks of rewards (merged by config/celery.py). No Django imports here."""

SCHEDULE = {
    "rewards-expire-points": {"task": "rewards.tasks.expire_points_task", "schedule": 15 * 60},
    "rewards-release-pending-points": {"task": "rewards.tasks.release_pending_points_task", "schedule": 15 * 60},
    "rewards-recompute-tiers": {"task": "rewards.tasks.recompute_tiers_task", "schedule": 6 * 3600},
    "rewards-purge-login-tokens": {"task": "rewards.tasks.purge_login_tokens_task", "schedule": 24 * 3600},
    "rewards-release-bulk-grants": {"task": "rewards.tasks.release_bulk_grants_task", "schedule": 60},
}

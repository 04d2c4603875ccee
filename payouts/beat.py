"""Periodic tasks of payouts (merged by config.celery)."""

SCHEDULE = {
    "payouts-sweep": {"task": "payouts.tasks.sweep_payouts_task", "schedule": 60.0},
    "payouts-reconcile": {"task": "payouts.tasks.reconcile_payouts_task", "schedule": 24 * 3600.0},
    "payouts-sync-catalogues": {"task": "payouts.tasks.sync_catalogues_task", "schedule": 24 * 3600.0},
}

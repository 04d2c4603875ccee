from config.celery import app
from engagement.webhooks.tasks import deliver_webhooks_task, sweep_webhook_deliveries_task


def test_the_sweep_runs_every_minute_on_the_webhooks_queue():
    entry = app.conf.beat_schedule["webhooks-sweep"]

    assert entry == {
        "task": sweep_webhook_deliveries_task.name,
        "schedule": 60.0,
        "options": {"queue": "webhooks"},
    }
    assert sweep_webhook_deliveries_task.name in app.tasks
    assert deliver_webhooks_task.queue == sweep_webhook_deliveries_task.queue == "webhooks"

"""The Celery application: configured from Django settings (CELERY_* names).

Periodic tasks: each app that has them keeps a plain `SCHEDULE` dict in its own `beat.py`
(no Django imports there), merged here, so no app edits another's schedule.
"""

import importlib
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ganjaran")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BEAT_MODULES = (
    "engagement.beat",
    "engagement.channels.beat",
    "engagement.webhooks.beat",
    "surveys.beat",
    "payouts.beat",
    "rewards.beat",
    "rewards.campaigns.beat",
    "rewards.checkout.beat",
)


def build_beat_schedule():
    schedule = {}
    for name in BEAT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module: say so
                raise
            continue
        schedule.update(module.SCHEDULE)
    return schedule


app.conf.beat_schedule = build_beat_schedule()

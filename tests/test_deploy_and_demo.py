"""Whole-project checks run as real subprocesses: the production settings pass Django's
deployment checklist, and the embedded SQLite demo (eager Celery) loads and works."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env, timeout=600):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def clean_env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DEBUG",
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    env.update(extra)
    return env


def test_check_deploy_is_clean_with_production_settings():
    env = clean_env(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        ALLOWED_HOSTS="loyalty.example.com",
    )

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_small_demo_loads_twice_on_sqlite_without_duplicates(tmp_path):
    # Given the embedded mode: SQLite and eager Celery (no REDIS_URL)
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        SECRET_KEY="smoke",
        GANJARAN_DEMO_CUSTOMERS="60",
        GANJARAN_DEMO_EVENTS="3000",
    )
    assert manage("migrate", "--noinput", env=env).returncode == 0

    first = manage("load_demo", env=env)
    second = manage("load_demo", env=env)

    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "partner key for the API" in second.stdout
    counts = manage("shell", "-c", SUMMARY, env=env)
    assert counts.returncode == 0, counts.stderr[-2000:]
    summary = json.loads(counts.stdout.strip().splitlines()[-1])
    assert summary["customers"] == 60
    assert summary["events"] >= 3000  # platform events (e.g. survey answers) come on top
    assert summary["unprocessed"] == 0
    assert summary["keys"] == 1
    assert summary["admins"] == 1


SUMMARY = """
import json
from django.contrib.auth.models import User
from engagement.models import Customer, Event, PartnerKey
print(json.dumps({
    "customers": Customer.objects.count(),
    "events": Event.objects.count(),
    "unprocessed": Event.objects.filter(processed_at__isnull=True).count(),
    "keys": PartnerKey.objects.count(),
    "admins": User.objects.filter(is_superuser=True).count(),
}))
"""

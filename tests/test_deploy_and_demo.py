"""Whole-project checks run as real subprocesses: the production settings pass Django's
deployment checklist, the demo loads on PostgreSQL (eager Celery, as `make demo` runs it) and
a second load creates nothing, and the embedded PostgreSQL starts and stops."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env, timeout=900):
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
            "EMBEDDED_PGDATA",
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


class ScratchDatabase:
    """A database of its own on the test server, dropped at the end."""

    def __init__(self):
        self.name = f"demo_{secrets.token_hex(6)}"
        parts = urlsplit(settings.DATABASE_URL)
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))

    def __enter__(self):
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc):
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def test_small_demo_loads_on_postgresql_and_a_second_load_creates_nothing():
    with ScratchDatabase() as database:
        # Given the demo's mode: eager Celery (no REDIS_URL), a small demo
        env = clean_env(
            DATABASE_URL=database.url,
            SECRET_KEY="smoke",
            DEBUG="1",
            GANJARAN_DEMO_CUSTOMERS="60",
            GANJARAN_DEMO_EVENTS="3000",
            SITE_URL="http://127.0.0.1:8109",
        )
        migrated = manage("migrate", "--noinput", "-v", "0", env=env)
        assert migrated.returncode == 0, migrated.stderr[-3000:]

        first = manage("load_demo", env=env)
        assert first.returncode == 0, first.stderr[-3000:]
        before = summary(env, printed_token(first))
        second = manage("load_demo", env=env)
        assert second.returncode == 0, second.stderr[-3000:]
        after = summary(env, printed_token(second))

    # Then the demo is complete
    assert before["customers"] == 60
    assert before["nameless"] == 0
    assert before["events"] >= 3000  # platform events (tier changes, survey answers) come on top
    assert before["unprocessed"] == 0
    assert before["keys"] == 1
    assert before["admins"] == 1
    # and the second run created nothing but the sign-in token of the link it printed
    grown = {
        table: (before["rows"][table], count)
        for table, count in after["rows"].items()
        if count != before["rows"][table]
    }
    assert grown == {"rewards_portallogintoken": (1, 2)}
    # and each run printed the final block with a working one-time sign-in link
    for run, state in ((first, before), (second, after)):
        assert "partner key for the API (program acme): gk_demo_acme_" in run.stdout
        assert "user 'admin', password 'ganjaran-demo'" in run.stdout
        assert "users 'approver1' and 'approver2', password 'ganjaran-demo'" in run.stdout
        assert state["link_works"] is True


def printed_token(run):
    link = re.search(r"sign-in link \(valid 15 min\): http://127\.0\.0\.1:8109/portal/login/(\S+)/", run.stdout)
    assert link is not None, run.stdout
    return link.group(1)


SUMMARY = """
import json
import os
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from engagement.models import Customer, Event, PartnerKey
from rewards import portal_auth

with connection.cursor() as cursor:
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        cursor.execute(f'SELECT COUNT(*) FROM "{model._meta.db_table}"')
        rows[model._meta.db_table] = cursor.fetchone()[0]
print(json.dumps({
    "customers": Customer.objects.count(),
    "nameless": Customer.objects.filter(name="").count(),
    "events": Event.objects.count(),
    "unprocessed": Event.objects.filter(processed_at__isnull=True).count(),
    "keys": PartnerKey.objects.count(),
    "admins": User.objects.filter(is_superuser=True).count(),
    "rows": rows,
    "link_works": portal_auth.check_login_token(os.environ["DEMO_TOKEN"]),
}))
"""


def summary(env, token):
    result = manage("shell", "-c", SUMMARY, env={**env, "DEMO_TOKEN": token})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_postgresql_starts_serves_and_stops(tmp_path):
    # Given no DATABASE_URL: the settings' embedded server, in a folder of its own
    env = clean_env(EMBEDDED_PGDATA=str(tmp_path / "postgres"))
    try:
        # When a command runs, the server starts (cluster and database created on first use)
        result = manage("shell", "-c", EMBEDDED_PROBE, env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        # Then Django talks to PostgreSQL 18 through its socket, in the embedded database
        assert json.loads(result.stdout.strip().splitlines()[-1]) == {
            "vendor": "postgresql",
            "major": 18,
            "database": "ganjaran",
            "email": "django.core.mail.backends.filebased.EmailBackend",
        }
        assert (tmp_path / "postgres" / "postmaster.pid").exists()
        # And `run` of another command leaves a server it did not start running
        other = subprocess.run(
            [sys.executable, "-m", "config.embedded_db", "run", sys.executable, "-c", "pass"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr
        assert (tmp_path / "postgres" / "postmaster.pid").exists()
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "config.embedded_db", "stop"], cwd=ROOT, env=env, capture_output=True, text=True
        )
    # And `stop` ends it
    assert stopped.returncode == 0, stopped.stderr
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


EMBEDDED_PROBE = """
import json
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT current_database()")
    database = cursor.fetchone()[0]
print(json.dumps({
    "vendor": connection.vendor,
    "major": connection.pg_version // 10000,
    "database": database,
    "email": settings.EMAIL_BACKEND,
}))
"""

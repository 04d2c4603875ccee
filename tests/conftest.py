"""Shared fixtures: the cast (program `acme`, customers `alice` and `bob`), partner API
clients, and a real Celery worker process against the test PostgreSQL and Redis."""

import atexit
import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone, translation
from rest_framework.test import APIClient

from tests.factories import CustomerFactory, ProgramFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _require_real_services():
    # Tests run on PostgreSQL and Redis (make test starts them); SQLite is for the demo only.
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.exit("Run the tests with `make test` (PostgreSQL and Redis are required).", returncode=2)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from engagement.partner_api import keycache

    cache.clear()  # Redis: also the API's epoch and rate counters
    keycache.clear_local()
    yield
    # A request through the test client leaves its language (and a view its time zone) active
    # in this thread: the next test must start from the defaults, whatever ran before it.
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture
def acme(db):
    return ProgramFactory(name="Acme", slug="acme", currency="MYR")


@pytest.fixture
def globex(db):
    return ProgramFactory(name="Globex", slug="globex", currency="USD")


@pytest.fixture
def alice(acme):
    return CustomerFactory(program=acme, external_id="alice", name="Alice", email="alice@example.com")


@pytest.fixture
def bob(acme):
    return CustomerFactory(program=acme, external_id="bob", name="Bob", email="bob@example.com")


def make_partner_client(program, name="test"):
    from engagement.models import PartnerKey

    key, raw_key = PartnerKey.issue(program, name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    client.partner_key = key
    return client


@pytest.fixture
def partner_client():
    """partner_client(program) -> an APIClient authenticated with a fresh key of that program."""
    return make_partner_client


@pytest.fixture
def acme_api(acme):
    return make_partner_client(acme)


def wait_for(predicate, timeout=30.0, interval=0.1, message="condition"):
    """Poll `predicate` until truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout}s waiting for {message}")


class MailSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) keeping what it receives, parsed.

    Celery workers get EMAIL_URL=smtp://127.0.0.1:<port>, so the emails they send land
    here; the test process itself keeps Django's locmem outbox (django.core.mail.outbox).
    """

    def __init__(self):
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._received = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        atexit.register(self._controller.stop)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self._received.append(parsed)
        return "250 Message accepted for delivery"

    def messages(self):
        """The emails received so far (email.message.EmailMessage), oldest first."""
        with self._lock:
            return list(self._received)

    def clear(self):
        with self._lock:
            self._received.clear()


_mail_sink = None


def get_mail_sink():
    # Started on first use, and always before a worker (the worker's env needs its port).
    global _mail_sink
    if _mail_sink is None:
        _mail_sink = MailSink()
    return _mail_sink


@pytest.fixture(scope="session")
def mail_sink():
    """The session's SMTP sink: `.messages()` (parsed emails sent by workers), `.clear()`."""
    return get_mail_sink()


def _worker_env():
    from django.db import connection

    url = settings.DATABASE_URL.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "CONN_MAX_AGE": "0",
        "EMAIL_URL": f"smtp://127.0.0.1:{get_mail_sink().port}",
        # Test peers (webhook receivers, the fake payout provider) listen on 127.0.0.1.
        "WEBHOOKS_ALLOW_HTTP_LOOPBACK": "1",
        "PAYOUTS_ALLOW_LOOPBACK_BASE_URL": "1",
    }


def start_worker(name, concurrency=2, queues=None):
    """Start a real worker consuming `queues` (default: all of them); returns its process,
    with `.nodename` (the name control commands address it by)."""
    queues = ",".join(queues or settings.CELERY_TASK_QUEUES_ALL)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-n",
            f"{name}@%h",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=_worker_env(),
    )
    from config.celery import app

    def ready():
        if process.poll() is not None:
            pytest.fail(f"Celery worker {name} exited with {process.returncode}")
        replies = app.control.ping(timeout=0.5) or []
        return next((key for reply in replies for key in reply if key.startswith(f"{name}@")), None)

    process.nodename = wait_for(ready, timeout=60, message=f"celery worker {name}")
    return process


def stop_worker(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The session's worker starts consuming only this queue, which nothing sends to: it takes the
# real queues only while a test holds `celery_worker`, so tests without it keep their messages
# (a browser test that delivers a message itself, a payout that must stay queued).
IDLE_QUEUE = "ganjaran-test-idle"


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, django_db_blocker):
    process = start_worker("ganjaran-test", queues=[IDLE_QUEUE])
    yield process
    stop_worker(process)


def _switch_consumers(process, command):
    """Run add_consumer/cancel_consumer for every real queue on the session worker and wait
    for its acknowledgement of each (the worker has acted on it when it answers)."""
    from config.celery import app

    for queue in settings.CELERY_TASK_QUEUES_ALL:
        replies = getattr(app.control, command)(queue, destination=[process.nodename], reply=True, timeout=10)
        answers = [answer for reply in replies or [] for answer in reply.values()]
        if len(answers) != 1 or "ok" not in answers[0]:
            pytest.fail(f"{command} {queue} on {process.nodename}: {replies!r}")


@pytest.fixture
def celery_worker(transactional_db, _celery_worker_process):
    """A real Celery worker process (prefork, 2 children) on the test database and Redis,
    consuming every queue for the duration of the test only.

    Needs committed data, hence transactional_db. Queues are purged first so that messages
    left by earlier tests do not leak in. Tasks the worker had already taken when the test ends
    still run; a message it reads from a queue after its consumer is cancelled goes back.
    """
    from config.celery import app

    app.control.purge()
    _switch_consumers(_celery_worker_process, "add_consumer")
    yield _celery_worker_process
    _switch_consumers(_celery_worker_process, "cancel_consumer")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page():
    """browser_page(**context_options) -> a Playwright page in Debian's headless Chromium.

    Use with pytest-django's `live_server` (and `transactional_db`). Example phone viewport:
    browser_page(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ar").
    """
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
    # test body are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    contexts = []

    def open_page(**options):
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    # Starting Playwright switched this thread to another contextvars context, and Django keeps
    # its connections per context: close the test body's before Playwright stops and switches
    # back, or it stays open past the end of the test database.
    connections.close_all()
    for context in contexts:
        context.close()
    browser.close()
    manager.stop()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

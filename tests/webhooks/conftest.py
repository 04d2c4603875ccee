import pytest
from django.db import transaction

from engagement.webhooks.delivery import sweep_deliveries
from engagement.webhooks.receiver import LocalReceiver
from engagement.webhooks.tasks import deliver_webhooks_task


@pytest.fixture(autouse=True)
def _loopback_targets_allowed(settings):
    # Receivers listen on 127.0.0.1; production refuses loopback targets (SSRF), so these
    # tests switch loopback on explicitly (tests of the production rule switch it off).
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = True


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 (free port). Set `receiver.statuses = [500, 500, 200]`
    to script answers (the last one repeats); default 200."""
    local = LocalReceiver()
    local.statuses = [200]

    def respond(_received):
        return local.statuses.pop(0) if len(local.statuses) > 1 else local.statuses[0]

    local.respond = respond
    local.start()
    yield local
    local.stop()


@pytest.fixture
def run_beat(django_capture_on_commit_callbacks):
    """run_beat() -> the delivery ids the sweep released, after running their task in-process
    (as a worker would; in tests .delay() would only put them on Redis)."""

    def run():
        with django_capture_on_commit_callbacks(execute=False):
            result = sweep_deliveries()
        if result["enqueued"]:
            deliver_webhooks_task(result["enqueued"])
        return result["enqueued"]

    return run


@pytest.fixture
def record_and_send(django_capture_on_commit_callbacks):
    """record(...) -> event, with its deliveries attempted in-process as the on-commit
    message would have them (the callbacks are captured, not sent to Redis)."""
    from engagement.webhooks.events import record_webhook_event

    def record(program, type_, payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            with transaction.atomic():
                event = record_webhook_event(program, type_, payload, **kwargs)
        deliver_webhooks_task(list(event.deliveries.values_list("pk", flat=True)))
        record.callbacks = callbacks
        return event

    return record

"""Automatic garbage collection is paused while a batch is processed (engagement.processing)."""

import gc

import pytest
from django.db import connection

from engagement.ingest import record_events
from engagement.processing import collector_paused, process_events
from tests.campaigns.conftest import ev


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_batch_runs_with_the_collector_off_and_turns_it_back_on(acme, alice, collector_on):
    ids = record_events(acme, [ev(alice, "page_view"), ev(alice, "session")], enqueue=False).event_ids
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(gc.isenabled())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        assert process_events(ids) == 2

    # Every statement of the batch ran with the collector off; it is on again after.
    assert len(seen) > 0 and set(seen) == {False}
    assert gc.isenabled() is True
    alice.refresh_from_db()
    assert alice.event_count == 2


def test_the_collector_comes_back_after_a_failure_and_after_nested_uses(collector_on):
    with pytest.raises(ZeroDivisionError):
        with collector_paused():
            with collector_paused():
                assert gc.isenabled() is False
            assert gc.isenabled() is False  # the outer use still holds it
            1 / 0  # noqa: B018
    assert gc.isenabled() is True


def test_a_collector_turned_off_by_the_caller_stays_off(db):
    was = gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert gc.isenabled() is False
        assert gc.isenabled() is False
    finally:
        if was:
            gc.enable()

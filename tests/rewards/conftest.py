import pytest

from rewards.ledger_audit import find_breaches


@pytest.fixture
def assert_ledger_ok():
    def check(program=None):
        breaches = find_breaches(program)
        assert breaches == []

    return check


@pytest.fixture
def fake_tremendous(settings):
    """Tremendous' documented API on a local port (tests/payouts/fakes/tremendous.py)."""
    from tests.payouts.fakes.tremendous import FakeTremendous

    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True  # the fake listens on 127.0.0.1
    server = FakeTremendous().start()
    yield server
    server.stop()

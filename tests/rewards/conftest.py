import pytest

from rewards.ledger_audit import find_breaches


@pytest.fixture
def assert_ledger_ok():
    def check(program=None):
        breaches = find_breaches(program)
        assert breaches == []

    return check

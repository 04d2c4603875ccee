from decimal import Decimal

import pytest

from payouts import hooks, services
from payouts.models import ProviderAccount
from tests.payouts.fake_provider import API_KEY, WEBHOOK_SECRET, FakeProvider


@pytest.fixture
def funded_acme(acme):
    """acme with 10,000.00 MYR of payout funds."""
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="test funds")
    return acme


@pytest.fixture
def final_calls():
    """Records every (payout_id, status) the final-status hook receives."""
    calls = []

    def handler(payout_id, status):
        calls.append((payout_id, status))

    hooks.register_payout_final_handler(handler)
    yield calls
    hooks.unregister_payout_final_handler(handler)


@pytest.fixture
def fake_provider(settings):
    # The fake listens on 127.0.0.1: loopback base URLs are refused unless switched on.
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def http_account(acme, fake_provider):
    """acme's account at the Tremendous-style provider, pointing at the local fake."""
    return ProviderAccount.objects.create(
        program=acme, provider="tremendous", base_url=fake_provider.url, api_key=API_KEY, webhook_secret=WEBHOOK_SECRET
    )

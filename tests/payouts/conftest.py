from decimal import Decimal

import pytest

from payouts import hooks, services
from payouts.models import ProviderAccount
from tests.payouts.fakes import paypal, razorpayx, tango
from tests.payouts.fakes.tremendous import API_KEY, WEBHOOK_SECRET, FakeTremendous


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
    """A local Tremendous, strict about the documented request shapes."""
    # The fake listens on 127.0.0.1: loopback base URLs are refused unless switched on.
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True
    provider = FakeTremendous().start()
    yield provider
    provider.stop()


@pytest.fixture
def http_account(acme, fake_provider):
    """acme's account at Tremendous, pointing at the local fake; gift cards default to Grab,
    PayPal payouts use the PayPal product."""
    return ProviderAccount.objects.create(
        program=acme,
        provider="tremendous",
        base_url=fake_provider.url,
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        options={"products": {"gift_card": "GRABMY00001", "paypal": "KV934TZ93NQM"}},
    )


@pytest.fixture
def fake_tango(settings):
    """A local Tango Card RaaS, strict about the documented request shapes."""
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True  # it listens on 127.0.0.1
    provider = tango.FakeTango().start()
    yield provider
    provider.stop()


@pytest.fixture
def tango_account(acme, fake_tango):
    """acme's Tango Card platform account, charging its MYR account; gift cards are Grab."""
    return ProviderAccount.objects.create(
        program=acme,
        provider="tango",
        base_url=fake_tango.url,
        api_key=tango.PLATFORM_KEY,
        options={
            "platform_name": tango.PLATFORM_NAME,
            "customer_identifier": tango.CUSTOMER,
            "account_identifier": tango.ACCOUNT,
            "utids": {"gift_card": "U857954"},
        },
    )


@pytest.fixture
def fake_paypal(settings):
    """A local PayPal (OAuth, Payouts, webhook verification), strict about documented shapes."""
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True  # it listens on 127.0.0.1
    provider = paypal.FakePayPal().start()
    yield provider
    provider.stop()


@pytest.fixture
def paypal_account(acme, fake_paypal):
    return ProviderAccount.objects.create(
        program=acme,
        provider="paypal",
        base_url=fake_paypal.url,
        api_key=paypal.CLIENT_SECRET,
        options={"client_id": paypal.CLIENT_ID, "webhook_id": paypal.WEBHOOK_ID},
    )


@pytest.fixture
def fake_razorpayx(settings):
    """A local RazorpayX (payouts with idempotency keys), strict about documented shapes."""
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True  # it listens on 127.0.0.1
    provider = razorpayx.FakeRazorpayX().start()
    yield provider
    provider.stop()


@pytest.fixture
def inr_program(db):
    """An Indian program (INR) with RazorpayX set up, its funds and a customer, priya."""
    from engagement.models import Program
    from tests.factories import CustomerFactory

    program = Program.objects.create(name="Chai Club", slug="chai", currency="INR", timezone="Asia/Kolkata")
    services.record_funding_top_up(program, "INR", Decimal("100000.00"), note="test funds")
    CustomerFactory(program=program, external_id="priya", name="Priya Sharma", email="priya@example.com")
    return program


@pytest.fixture
def razorpayx_account(inr_program, fake_razorpayx):
    return ProviderAccount.objects.create(
        program=inr_program,
        provider="razorpayx",
        base_url=fake_razorpayx.url,
        api_key=razorpayx.KEY_SECRET,
        webhook_secret=razorpayx.WEBHOOK_SECRET,
        options={"key_id": razorpayx.KEY_ID, "account_number": razorpayx.ACCOUNT_NUMBER},
    )

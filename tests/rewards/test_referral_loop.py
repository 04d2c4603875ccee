"""Referrals end to end: link -> landing page -> friend joins (portal or partner upsert) ->
the friend's qualifying purchase rewards both exactly once; fraud rules with reasons;
unknown codes refused."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer
from engagement.processing import process_events
from rewards.models import LedgerEntry, PointsAccount, Referral, RewardsSettings
from rewards.referrals import UnknownReferralCode, attach_referral, get_referral_code
from tests.factories import CustomerFactory, ProgramFactory
from tests.rewards.test_portal import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(acme):
    return RewardsSettings.objects.create(
        program=acme, referral_points=200, referee_points=150, referral_min_purchase=Decimal("50.00"),
        return_window_days=0, referral_cap=10, referral_velocity_per_hour=0, brand_colour="#7a1f5c",
    )  # fmt: skip


def buy(customer, event_id, value):
    event = CleanEvent(
        event_id=event_id, type="purchase", customer=customer.external_id, occurred_at=timezone.now(),
        value=Decimal(value), currency="MYR", properties={"order_id": event_id},
    )  # fmt: skip
    process_events(record_events(customer.program, [event], enqueue=False).event_ids)


def referral_points(customer):
    """The points the customer got from referrals (key prefix -> points)."""
    rows = LedgerEntry.objects.filter(customer=customer, idempotency_key__startswith="referral:")
    return sorted((row.idempotency_key, row.points) for row in rows)


def balance(customer):
    row = PointsAccount.objects.filter(customer=customer).first()
    return row.balance if row else 0


def test_whole_loop_link_join_purchase_rewards_both_once(acme, alice, programme, assert_ledger_ok):
    # Given alice's link
    code = get_referral_code(alice).code
    html = signed_in_client(alice).get("/portal/referrals/").content.decode()
    link = re.search(r'value="(http://testserver/portal/r/[A-Z0-9]+/)"', html).group(1)
    assert link == f"http://testserver/portal/r/{code}/"
    mail.outbox.clear()

    # When a friend opens it: the program's offer and a sign-up form
    friend_browser = Client()
    page = friend_browser.get(link).content.decode()
    assert 'data-testid="program-name">Acme<' in page
    assert "Ganjaran" not in page
    assert 'data-testid="referee-points">150<' in page
    assert 'data-testid="referrer-points">200<' in page
    assert "RM50.00" in page  # the program's money, in the reader's locale (engagement.formatting)
    assert '<link rel="stylesheet" href="/portal/brand/acme.css">' in page

    # and joins
    response = friend_browser.post(link, {"name": "Farah", "email": "farah@example.net"})
    assert response.status_code == 200
    assert 'data-testid="joined"' in response.content.decode()
    friend = Customer.objects.get(program=acme, email="farah@example.net")
    assert friend.external_id.startswith("portal-") and friend.name == "Farah"
    referral = Referral.objects.get(referee=friend)
    assert (referral.referrer, referral.status, referral.source, referral.code) == (alice, "joined", "portal", code)
    assert [m.to for m in mail.outbox] == [["farah@example.net"]]
    assert "/portal/login/" in mail.outbox[0].body

    # Then a purchase under the minimum does not qualify
    buy(friend, "o-1", "49.99")
    assert referral_points(alice) == [] and referral_points(friend) == []

    # a qualifying one rewards both
    buy(friend, "o-2", "50.00")
    assert referral_points(alice) == [(f"referral:converted:{friend.external_id}", 200)]
    assert referral_points(friend) == [(f"referral:welcome:{friend.external_id}", 150)]
    # Each reads the line in their own language (message codes, rewards.activity).
    codes = LedgerEntry.objects.filter(idempotency_key__startswith="referral:").order_by("idempotency_key")
    assert list(codes.values_list("message_code", flat=True)) == ["referral", "welcome"]
    referral.refresh_from_db()
    assert referral.status == "converted"

    # and later purchases, a replayed event and a partner's referral_converted pay nothing more
    buy(friend, "o-3", "80.00")
    buy(friend, "o-2", "50.00")
    event = CleanEvent(
        event_id="rc-1", type="referral_converted", customer="alice", occurred_at=timezone.now(),
        value=None, currency="", properties={"referred_customer": friend.external_id},
    )  # fmt: skip
    process_events(record_events(acme, [event], enqueue=False).event_ids)
    assert referral_points(alice) == [(f"referral:converted:{friend.external_id}", 200)]
    assert referral_points(friend) == [(f"referral:welcome:{friend.external_id}", 150)]
    assert balance(alice) == 200
    assert balance(friend) == 150 + 49 + 50 + 80
    assert_ledger_ok()


def test_unknown_code_is_a_branded_404_and_joins_nobody(acme, programme):
    response = Client().get("/portal/r/FREEMONEY123/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This invitation code is not valid" in html
    assert 'data-testid="program-name">Acme<' in html  # the installation's only program
    response = Client().post("/portal/r/FREEMONEY123/", {"email": "x@example.net"})
    assert response.status_code == 404
    assert not Customer.objects.filter(email="x@example.net").exists()
    assert Referral.objects.count() == 0 and mail.outbox == []


def test_unknown_code_page_in_arabic(acme, programme):
    client = Client()
    client.post("/i18n/setlang/", {"language": "ar", "next": "/portal/"})
    html = client.get("/portal/r/NOPE2345/").content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert "رمز الدعوة هذا غير صالح" in html


def test_landing_page_in_malay_shows_amounts(acme, alice, programme):
    client = Client()
    client.post("/i18n/setlang/", {"language": "ms", "next": "/portal/"})
    html = client.get(f"/portal/r/{get_referral_code(alice).code}/").content.decode()
    assert "<bdi>Alice</bdi> menjemput anda menyertai Acme" in html
    assert "RM50.00" in html


def test_brand_css_gives_the_programs_colour(acme, programme):
    response = Client().get("/portal/brand/acme.css")
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert response.content.decode() == ":root { --brand: #7a1f5c; --plus: #7a1f5c; }\n"
    assert Client().get("/portal/brand/nobody.css").content == b""


def test_partner_upsert_with_referral_code(acme, alice, programme, acme_api):
    code = get_referral_code(alice).code
    response = acme_api.post(
        "/api/v1/customers", {"external_id": "shop-9", "email": "nine@example.net", "referral_code": code.lower()},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["referral"] == {"status": "joined", "reason": ""}
    friend = Customer.objects.get(external_id="shop-9")
    referral = Referral.objects.get(referee=friend)
    assert (referral.referrer, referral.source, referral.code) == (alice, "api", code)

    # Again (a retry): the same referral, unchanged.
    again = acme_api.post("/api/v1/customers", {"external_id": "shop-9", "referral_code": code}, format="json")
    assert again.status_code == 200 and again.json()["referral"] == {"status": "joined", "reason": ""}
    assert Referral.objects.count() == 1

    buy(friend, "o-1", "120.00")
    assert referral_points(alice) == [("referral:converted:shop-9", 200)]
    assert referral_points(friend) == [("referral:welcome:shop-9", 150)]


def test_partner_upsert_with_unknown_code_is_refused_and_stores_nothing(acme, programme, acme_api):
    response = acme_api.post(
        "/api/v1/customers", {"external_id": "shop-1", "name": "X", "referral_code": "FREEMONEY123"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [{"code": "invalid_referral_code", "detail": "Unknown referral code.", "attr": "referral_code"}],
    }
    assert not Customer.objects.filter(external_id="shop-1").exists()
    assert Referral.objects.count() == 0


def test_code_of_another_program_is_unknown(acme, globex, programme):
    stranger = CustomerFactory(program=globex, external_id="g1")
    friend = CustomerFactory(program=acme, external_id="f1")
    with pytest.raises(UnknownReferralCode):
        attach_referral(friend, get_referral_code(stranger).code, "api")
    assert Referral.objects.count() == 0


def test_first_code_wins(acme, alice, bob, programme):
    friend = CustomerFactory(program=acme, external_id="f1")
    first = attach_referral(friend, get_referral_code(alice).code, "api")
    second = attach_referral(friend, get_referral_code(bob).code, "portal")
    assert second.pk == first.pk
    assert list(Referral.objects.values_list("referrer__external_id", "status")) == [("alice", "joined")]


def rejected(referral, reason):
    assert (referral.status, referral.rejection_reason) == ("rejected", reason)


def assert_never_rewarded(referrer, friend):
    buy(friend, "o-fraud", "500.00")
    assert referral_points(referrer) == [] and referral_points(friend) == []


def test_self_referral_is_rejected(acme, alice, programme):
    rejected(attach_referral(alice, get_referral_code(alice).code, "api"), "self_referral")
    assert_never_rewarded(alice, alice)


def test_shared_email_is_rejected_even_with_plus_addressing(acme, alice, programme):
    friend = CustomerFactory(program=acme, external_id="f1", email="Alice+2@Example.com")
    rejected(attach_referral(friend, get_referral_code(alice).code, "api"), "shared_email")
    assert_never_rewarded(alice, friend)


def test_shared_phone_is_rejected(acme, alice, programme):
    alice.phone = "+60 12-345 6789"
    alice.save()
    friend = CustomerFactory(program=acme, external_id="f1", phone="012 345 6789")
    rejected(attach_referral(friend, get_referral_code(alice).code, "api"), "shared_phone")
    assert_never_rewarded(alice, friend)


def test_existing_customer_is_rejected(acme, alice, bob, programme):
    buy(bob, "old-1", "10.00")
    rejected(attach_referral(bob, get_referral_code(alice).code, "api"), "existing_customer")
    assert referral_points(alice) == []


def test_cap_per_referrer_per_period(acme, alice, programme):
    programme.referral_cap, programme.referral_cap_days = 2, 30
    programme.save()
    code = get_referral_code(alice).code
    friends = [CustomerFactory(program=acme, external_id=f"f{i}") for i in range(4)]
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=31)):
        assert attach_referral(friends[0], code, "api").status == "joined"  # outside the period
    with time_machine.travel(start):
        assert attach_referral(friends[1], code, "api").status == "joined"
        assert attach_referral(friends[2], code, "api").status == "joined"
        rejected(attach_referral(friends[3], code, "api"), "cap_reached")
    assert_never_rewarded(alice, friends[3])


def test_velocity_per_hour(acme, alice, programme):
    programme.referral_velocity_per_hour = 2
    programme.save()
    code = get_referral_code(alice).code
    friends = [CustomerFactory(program=acme, external_id=f"f{i}") for i in range(4)]
    start = timezone.now()
    with time_machine.travel(start):
        assert [attach_referral(f, code, "api").status for f in friends[:2]] == ["joined", "joined"]
        rejected(attach_referral(friends[2], code, "portal"), "velocity")
    with time_machine.travel(start + timedelta(minutes=61)):
        assert attach_referral(friends[3], code, "portal").status == "joined"


def test_portal_join_by_existing_email_ties_the_existing_customer(acme, alice, bob, programme):
    response = Client().post(f"/portal/r/{get_referral_code(alice).code}/", {"email": "BOB@example.com"})
    assert response.status_code == 200
    assert Customer.objects.filter(program=acme).count() == 2
    assert Referral.objects.get().referee == bob


def test_join_form_needs_an_email(acme, alice, programme):
    response = Client().post(f"/portal/r/{get_referral_code(alice).code}/", {"name": "No Mail", "email": "nope"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert Customer.objects.filter(program=acme).count() == 1 and Referral.objects.count() == 0


def test_referrals_page_has_share_buttons_with_amounts(acme, alice, programme):
    html = signed_in_client(alice).get("/portal/referrals/").content.decode()
    code = get_referral_code(alice).code
    assert 'data-testid="referrer-points">200<' in html and 'data-testid="referee-points">150<' in html
    assert (
        'href="https://wa.me/?text=Join%20Acme%20with%20my%20link%20and%20get%20150%20welcome%20points%3A%20'
        f'http%3A%2F%2Ftestserver%2Fportal%2Fr%2F{code}%2F"'
    ) in html
    assert 'href="mailto:?subject=Join%20me%20at%20Acme&amp;body=Join%20Acme' in html
    assert 'data-copy="#referral-link"' in html
    assert '<script src="/static/rewards/share.js" defer></script>' in html


def test_codes_are_unique_across_programs(acme):
    other = ProgramFactory(slug="other")
    codes = {get_referral_code(CustomerFactory(program=p)).code for p in (acme, other) for _ in range(20)}
    assert len(codes) == 40

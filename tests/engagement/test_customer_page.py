"""The customer's admin page: the overview (exact values for a customer with a known history,
a bounded number of queries for a busy one) and its actions (adjust points, send a sign-in
link, erase): success, refusals that change nothing, and tenancy (staff of program A cannot
open or act on program B's customer)."""

import datetime
import re
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail

from engagement.channels.consent import set_channel_consent
from engagement.channels.models import Message
from engagement.models import Customer, CustomerScore, CustomerScoreSnapshot, Event, ProgramStaff, ScoreTransition
from rewards import ledger, tiers
from rewards.models import LedgerEntry, PointsAccount, PortalLoginToken, Tier
from rewards.redemptions import redeem_reward
from surveys.answering import categorize
from surveys.models import Answer, Invitation, Response
from tests.factories import CustomerFactory
from tests.payouts.factories import make_payout
from tests.rewards.factories import VoucherCodeFactory, VoucherItemFactory, make_tiers
from tests.surveys.factories import make_survey

pytestmark = pytest.mark.django_db

# 2026-03-02 02:30 UTC is 10:30 in Kuala Lumpur (the program's time zone).
T0 = datetime.datetime(2026, 3, 2, 2, 30, tzinfo=datetime.UTC)


def open_page(client, customer, query=""):
    """The customer's page as seen an hour after the history was made."""
    with time_machine.travel(T0 + datetime.timedelta(hours=1), tick=False):
        return client.get(page_url(customer) + query).content.decode()


def page_url(customer):
    return f"/admin/engagement/customer/{customer.pk}/change/"


def action_url(customer, name):
    return f"/admin/engagement/customer/{customer.pk}/{name}/"


def text_of(html):
    """The page's visible text on one line (tags dropped, whitespace collapsed)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")).strip()


def section(html, key):
    """The text of one section of the overview (id="cp-<key>")."""
    match = re.search(rf'<section class="cp-card[^"]*" id="cp-{key}".*?</section>', html, flags=re.S)
    assert match, f"no section {key}"
    return text_of(match.group(0))


@pytest.fixture
def boss(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-Boss-123")
    client.force_login(user)
    return user


def give_history(customer, *, ledger_rows=3, redemptions=1, payouts=1, responses=1, events=2, messages=1):
    """A known history: points, tier, redemption with a voucher code, payout, scores, an NPS
    answer, a message, consent changes and events, all at fixed times."""
    program = customer.program
    if not Tier.objects.filter(program=program).exists():
        make_tiers(program)
    with time_machine.travel(T0, tick=False):
        ledger.grant_points(
            customer=customer, points=1500, reason="Opening bonus", idempotency_key=f"seed-{customer.pk}",
            expires_at=datetime.datetime(2026, 6, 30, 15, 59, 59, tzinfo=datetime.UTC),
        )  # fmt: skip
        for n in range(ledger_rows - 1):
            ledger.grant_points(
                customer=customer, points=10, reason=f"Visit {n}", idempotency_key=f"v-{customer.pk}-{n}"
            )
        ledger.grant_points(
            customer=customer, points=200, reason="Purchase order-7", idempotency_key=f"p-{customer.pk}",
            pending_until=T0 + datetime.timedelta(days=14),
        )  # fmt: skip
        item = VoucherItemFactory(program=program, title_en="Kopi voucher", points_cost=300)
        for n in range(redemptions):
            VoucherCodeFactory(item=item, code=f"KOPI-{customer.pk}-{n}")
            redeem_reward(customer=customer, item=item, idempotency_key=f"r-{customer.pk}-{n}")
        for n in range(payouts):
            make_payout(customer, amount="1234.50", idempotency_key=f"pay-{customer.pk}-{n}")
        CustomerScore.objects.create(
            customer=customer, program=program, engagement_score=Decimal("62.50"), r_score=4, f_score=3, m_score=5,
            segment="Loyal", churn_risk=Decimal("0.257"), scored_at=T0,
        )  # fmt: skip
        for day, (score, risk, segment) in enumerate([("40.00", "0.500", "Promising"), ("62.50", "0.257", "Loyal")]):
            CustomerScoreSnapshot.objects.create(
                program=program, customer=customer, date=datetime.date(2026, 3, 1 + day),
                engagement_score=Decimal(score), churn_risk=Decimal(risk), segment=segment,
            )  # fmt: skip
        ScoreTransition.objects.create(
            program=program, customer=customer, kind="segment", from_value="Promising", to_value="Loyal",
            occurred_at=T0 - datetime.timedelta(hours=1),
        )  # fmt: skip
        survey = make_survey(program, name="After purchase")
        for n in range(responses):
            invitation = Invitation.objects.create(
                program=program, survey=survey, customer=customer, channel="email", status="answered",
                invited_at=T0, answered_at=T0,
            )  # fmt: skip
            response = Response.objects.create(
                program=program, survey=survey, customer=customer, invitation=invitation, score=9,
                category=categorize(survey.kind, 9), channel="email", completed_at=T0,
            )  # fmt: skip
            comment = survey.questions.filter(type="text").first()
            if comment is not None:
                Answer.objects.create(response=response, question=comment, value_text=f"Great kopi {n}")
        for n in range(messages):
            Message.objects.create(
                program=program, customer=customer, channel="email", template_key="welcome", subject=f"Welcome {n}",
                to_address=customer.email,
            )  # fmt: skip
        tiers.recompute_tiers(program)
        set_channel_consent(customer, "sms", True, "admin")
        for n in range(events):
            Event.objects.create(
                program=program, customer=customer, event_id=f"e-{customer.pk}-{n}", type="purchase",
                occurred_at=T0 - datetime.timedelta(days=1, minutes=n), value=Decimal("88.00"), currency="MYR",
            )  # fmt: skip


def test_overview_shows_the_customers_exact_values(client, boss, alice):
    give_history(alice)

    html = open_page(client, alice)

    points = section(html, "points")
    # 1500 + 10 + 10 earned, 300 redeemed; 200 pending until 16 Mar.
    assert "Balance 1,220 points" in points
    assert "Pending 200" in points
    assert "200 on 16 Mar 2026" in points
    assert "1,200 on 30 Jun 2026" in points
    assert "Silver" in points and "480 more to Gold (76 % of the way)" in points
    ledger_text = section(html, "ledger")
    assert "Redeemed: Kopi voucher" in ledger_text and "-300" in ledger_text
    assert "Page 1 of 1 (entries: 5)" in ledger_text
    assert "2 Mar 2026, 10:30 am" in ledger_text  # the program's time zone, not UTC
    redemptions = section(html, "redemptions")
    assert f"KOPI-{alice.pk}-0" in redemptions and "Kopi voucher" in redemptions
    payouts = section(html, "payouts")
    assert "RM1,234.50 Gift card Pending approval (Insufficient funds)" in payouts
    scores = section(html, "scores")
    assert "Engagement score 62.50 / 100" in scores
    assert "Loyal R4 F3 M5" in scores
    assert "Churn risk 26 %" in scores
    assert "1 Mar 2026 40.00 Promising 50 %" in scores
    assert "RFM segment: Promising → Loyal" in scores
    answers = section(html, "surveys")
    assert "After purchase" in answers and "NPS" in answers and " 9 " in answers and "Promoter" in answers
    messages = section(html, "messages")
    assert "Welcome 0" in messages and "Queued" in messages
    consents = section(html, "consents")
    assert "SMS given 2 Mar 2026, 10:30 am · Admin" in consents
    timeline = section(html, "timeline")
    assert "Event purchase · RM88.00" in timeline
    assert "Consent SMS: given (Admin)" in timeline
    profile = section(html, "profile")
    assert "External id alice" in profile and "Acme" in profile


def test_overview_query_count_does_not_grow_with_the_history(client, boss, acme, django_assert_max_num_queries):
    small = CustomerFactory(program=acme, external_id="small")
    busy = CustomerFactory(program=acme, external_id="busy")
    give_history(small, ledger_rows=2, redemptions=1, payouts=1, responses=1, events=1, messages=1)
    client.get(page_url(small))  # warm the per-process caches (content types, settings rows)
    with django_assert_max_num_queries(80) as small_queries:
        client.get(page_url(small))
    give_history(busy, ledger_rows=60, redemptions=4, payouts=30, responses=30, events=40, messages=30)

    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        response = client.get(page_url(busy))

    assert "Page 1 of 4 (entries: 65)" in section(response.content.decode(), "ledger")


def test_ledger_is_paginated_newest_first(client, boss, alice):
    give_history(alice, ledger_rows=45)

    first = section(open_page(client, alice), "ledger")
    last = section(open_page(client, alice, "?ledger_page=3"), "ledger")

    # 47 entries: the opening bonus, 44 visits, the pending purchase and the redemption.
    assert "Page 1 of 3 (entries: 47)" in first and first.index("Redeemed") < first.index("Visit 43")
    assert "Visit 26" in first and "Visit 25" not in first
    assert "Page 3 of 3 (entries: 47)" in last and "Redeemed" not in last
    assert last.index("Visit 5") < last.index("Visit 0") < last.index("Opening bonus")


# --- actions ---------------------------------------------------------------------------------


def key_of(html):
    return re.search(r'name="key" value="([0-9a-f]{32})"', html).group(1)


def balance(customer):
    return PointsAccount.objects.get(customer=customer).balance


def test_adjust_points_through_the_ledger_once_for_a_double_submit(client, boss, alice):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    key = key_of(client.get(page_url(alice)).content.decode())
    data = {"points": "-40", "reason": "Damaged parcel", "key": key}

    first = client.post(action_url(alice, "adjust-points"), data)
    second = client.post(action_url(alice, "adjust-points"), data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == page_url(alice)
    entry = LedgerEntry.objects.get(kind="adjust")
    assert (entry.points, entry.reason, entry.actor, entry.balance_after) == (-40, "Damaged parcel", boss, 60)
    assert balance(alice) == 60
    page = text_of(client.get(page_url(alice)).content.decode())
    assert "Adjusted the points of alice by -40; the balance is now 60." in page


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"points": "abc", "reason": "x"}, "Points not adjusted: Enter a whole number."),
        ({"points": "0", "reason": "x"}, "Points not adjusted: Enter a non-zero number of points."),
        ({"points": "10", "reason": "  "}, "Points not adjusted: This field is required."),
        ({"points": "-101", "reason": "x"}, "Points not adjusted: Not enough points."),
        ({"points": "10", "reason": "x", "key": "not-a-key"}, "the form has expired"),
    ],
)
def test_adjust_points_refusals_change_nothing(client, boss, alice, data, problem):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    data = {"key": "a" * 32, **data}

    response = client.post(action_url(alice, "adjust-points"), data, follow=True)

    assert problem in text_of(response.content.decode())
    assert balance(alice) == 100
    assert LedgerEntry.objects.count() == 1


def test_actions_answer_post_only(client, boss, alice):
    response = client.get(action_url(alice, "adjust-points") + "?points=5&reason=x&key=" + "b" * 32)

    assert response.status_code == 302 and response["Location"] == page_url(alice)
    assert LedgerEntry.objects.count() == 0


def test_send_sign_in_link_emails_a_one_time_link(client, boss, alice):
    response = client.post(action_url(alice, "sign-in-link"), follow=True)

    assert "Sent a sign-in link to alice@example.com." in text_of(response.content.decode())
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "/portal/login/" in mail.outbox[0].body
    assert PortalLoginToken.objects.filter(customer=alice, used_at__isnull=True).count() == 1


def test_send_sign_in_link_refused_without_an_email(client, boss, acme):
    nobody = CustomerFactory(program=acme, external_id="nobody", email="")

    response = client.post(action_url(nobody, "sign-in-link"), follow=True)

    assert "No sign-in link sent: the customer has no email address." in text_of(response.content.decode())
    assert mail.outbox == [] and PortalLoginToken.objects.count() == 0


def test_erase_asks_for_confirmation_then_erases(client, boss, alice):
    confirm = client.get(action_url(alice, "erase"))
    assert confirm.status_code == 200
    assert "Erase the personal data of customer alice?" in text_of(confirm.content.decode())
    assert Customer.objects.get(pk=alice.pk).erased_at is None

    response = client.post(action_url(alice, "erase"), {"confirm": "yes"}, follow=True)

    alice.refresh_from_db()
    assert (alice.name, alice.email, alice.erased_at is not None) == ("", "", True)
    assert "Erased the personal data of customer alice." in text_of(response.content.decode())


def test_erase_without_the_confirmation_changes_nothing(client, boss, alice):
    response = client.post(action_url(alice, "erase"), follow=True)

    assert "Erasing needs the confirmation page's button." in text_of(response.content.decode())
    alice.refresh_from_db()
    assert (alice.name, alice.email, alice.erased_at) == ("Alice", "alice@example.com", None)


@pytest.fixture
def acme_staff(client, acme, globex):
    """Staff of Acme with every permission: only tenancy keeps them out of Globex."""
    staff = get_user_model().objects.create_user("siti", "siti@acme.example", "pw-Siti-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())
    ProgramStaff.objects.create(program=acme, user=staff)
    client.force_login(staff)
    return staff


def test_staff_of_another_program_can_neither_open_nor_act(client, acme_staff, alice, globex):
    gus = CustomerFactory(program=globex, external_id="gus", name="Gus", email="gus@example.com")
    ledger.grant_points(customer=gus, points=100, reason="seed", idempotency_key="seed")

    # The admin answers an object outside the staff member's rows like a missing one.
    hidden = client.get(page_url(gus))
    assert (hidden.status_code, hidden["Location"]) == (302, "/admin/")
    assert client.get(page_url(alice)).status_code == 200
    for name, data in [
        ("adjust-points", {"points": "50", "reason": "x", "key": "c" * 32}),
        ("sign-in-link", {}),
        ("erase", {"confirm": "yes"}),
    ]:
        assert client.post(action_url(gus, name), data).status_code == 404
    gus.refresh_from_db()
    assert (balance(gus), gus.erased_at, gus.name, mail.outbox) == (100, None, "Gus", [])
    assert LedgerEntry.objects.filter(customer=gus).count() == 1


def test_actions_need_their_permission(client, acme, alice):
    viewer = get_user_model().objects.create_user("ali", "ali@acme.example", "pw-Ali-123", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_customer", "change_customer"]))
    ProgramStaff.objects.create(program=acme, user=viewer)
    client.force_login(viewer)
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")

    page = client.get(page_url(alice)).content.decode()
    refused = client.post(action_url(alice, "adjust-points"), {"points": "50", "reason": "x", "key": "d" * 32})

    assert 'name="points"' not in page and "Send a sign-in link" in page
    assert refused.status_code == 403
    assert balance(alice) == 100

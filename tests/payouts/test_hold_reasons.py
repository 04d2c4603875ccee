"""Why a payout is held, in the staff user's language: each hold records its kind and the
figures behind it (Payout.hold_params); the review queue and the payout's page word them in
English, Arabic or Malay with money in the locale's format, while hold_detail (the partner
API's text) stays English. Rows held before hold_params show their stored text, and
erasing a customer scrubs the params as it does the text."""

from decimal import Decimal

import pytest
from django.test import Client

from engagement.erasure import erase_customer
from payouts import services
from payouts.models import Hold, Payout, Status
from tests.factories import CustomerFactory
from tests.payouts.factories import make_approver, make_payout

QUEUE = "/admin/payouts/payoutreview/"


def policy(program, **values):
    settings = services.get_settings(program)
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def above_threshold(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    policy(acme, approval_threshold=Decimal("500.00"))
    return make_payout(alice, amount="750.00")


def too_many(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    policy(acme, velocity_max_count=2)
    make_payout(alice, amount="5.00")
    make_payout(alice, amount="5.00")
    return make_payout(alice, amount="5.00")


def shared_destination(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    make_payout(alice, method="upi", destination={"vpa": "same.person@okaxis"})
    return make_payout(bob, method="upi", destination={"vpa": "same.person@okaxis"})


def over_daily_limit(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    policy(acme, customer_daily_limit=Decimal("1000.00"))
    make_payout(alice, amount="990.00")
    return make_payout(alice, amount="22.50")


def short_of_funds(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("20.00"), note="funds")
    return make_payout(alice, amount="30.00")


# (how the payout came to be held, its hold, params, and the English text of hold_detail)
HOLDS = {
    "approval": (
        above_threshold,
        Hold.APPROVAL,
        {"threshold": "500.00", "currency": "MYR"},
        "Above the approval threshold of 500.00 MYR.",
    ),
    "count": (
        too_many,
        Hold.VELOCITY,
        {"check": "count", "count": 3, "minutes": 60, "limit": 2},
        "3 payouts in the last 60 minutes (limit 2).",
    ),
    "shared": (
        shared_destination,
        Hold.VELOCITY,
        {"check": "shared_destination", "customer": "alice"},
        "Destination already used by another customer (alice).",
    ),
    "daily": (
        over_daily_limit,
        Hold.DAILY_LIMIT,
        {"total": "1012.50", "currency": "MYR", "daily_limit": "1000.00"},
        "1012.50 MYR today for this customer (daily limit 1000.00).",
    ),
    "funds": (
        short_of_funds,
        Hold.FUNDS,
        {"amount": "30.00", "currency": "MYR", "available": "20.00"},
        "Needs 30.00 MYR; 20.00 available.",
    ),
}

# (label shown before the reason, the reason) per hold and language; an approval hold's
# reason names its kind itself, so it has no label.
WORDED = {
    ("approval", "en"): ("", "Above the approval threshold of 500.00 MYR."),
    ("approval", "ar"): ("", "فوق حد الموافقة البالغ 500,00 MYR."),
    ("approval", "ms"): ("", "Melebihi ambang kelulusan 500.00 MYR."),
    ("count", "en"): ("Velocity check", "3 payouts in the last 60 minutes (limit 2)."),
    ("count", "ar"): ("فحص السرعة", "عدد الدفعات خلال الدقائق الـ60 الماضية: 3 (الحد الأقصى 2)."),
    ("count", "ms"): ("Semakan kekerapan", "3 pembayaran dalam 60 minit yang lalu (had 2)."),
    ("shared", "en"): ("Velocity check", "Destination already used by another customer (alice)."),
    ("shared", "ar"): ("فحص السرعة", "الوجهة مستخدمة بالفعل لدى عميل آخر (alice)."),
    ("shared", "ms"): ("Semakan kekerapan", "Destinasi sudah digunakan oleh pelanggan lain (alice)."),
    ("daily", "en"): ("Customer daily limit", "1012.50 MYR today for this customer (daily limit 1000.00)."),
    ("daily", "ar"): ("الحد اليومي للعميل", "مجموع اليوم لهذا العميل 1012,50 MYR (الحد اليومي 1000,00)."),
    ("daily", "ms"): ("Had harian pelanggan", "1012.50 MYR hari ini untuk pelanggan ini (had harian 1000.00)."),
    ("funds", "en"): ("Insufficient funds", "Needs 30.00 MYR; 20.00 available."),
    ("funds", "ar"): ("رصيد غير كافٍ", "يلزم 30,00 MYR؛ المتاح 20,00."),
    ("funds", "ms"): ("Dana tidak mencukupi", "Memerlukan 30.00 MYR; 20.00 tersedia."),
}


def staff_client(program, language):
    client = Client()
    client.force_login(make_approver(program, "aminah"))
    client.cookies["django_language"] = language
    return client


def decision_paragraph(label, reason):
    label = f"<strong>{label}</strong>: " if label else ""
    return f'<p class="decision-hold">{label}{reason}</p>'


@pytest.mark.parametrize("kind", HOLDS)
def test_a_hold_records_its_figures_and_keeps_the_english_detail(acme, alice, bob, kind):
    hold_payout, hold, params, detail = HOLDS[kind]

    payout = Payout.objects.get(pk=hold_payout(acme, alice, bob).pk)

    assert (payout.status, payout.hold, payout.hold_params, payout.hold_detail) == (
        Status.PENDING_APPROVAL,
        hold,
        params,
        detail,
    )


@pytest.mark.parametrize("language", ["en", "ar", "ms"])
@pytest.mark.parametrize("kind", HOLDS)
def test_queue_and_payout_page_word_the_reason_in_the_staff_language(acme, alice, bob, kind, language):
    payout = HOLDS[kind][0](acme, alice, bob)
    label, reason = WORDED[(kind, language)]
    client = staff_client(acme, language)

    queue = client.get(QUEUE).content.decode()
    page = client.get(f"/admin/payouts/payout/{payout.pk}/change/").content.decode()

    # The queue's cell: the label, then the reason (in full as the link's tooltip)
    assert f'title="{reason}">' in queue
    assert (f"<strong>{label}</strong><br>" in queue) == bool(label)
    # The payout's page: the decision panel and the Approval section
    assert decision_paragraph(label, reason) in page
    assert f'<div class="readonly">{reason}</div>' in page
    # The partner API's text is not the admin's
    assert Payout.objects.get(pk=payout.pk).hold_detail == HOLDS[kind][3]


def test_the_queue_truncates_a_long_reason_in_the_row(acme, alice, bob):
    payout = too_many(acme, alice, bob)

    queue = staff_client(acme, "ar").get(QUEUE).content.decode()

    link = f'<a href="/admin/payouts/payoutreview/{payout.pk}/change/" title="'
    reason = "عدد الدفعات خلال الدقائق الـ60 الماضية: 3 (الحد الأقصى 2)."
    assert f'{link}{reason}">{reason[:47]}…</a>' in queue


def test_a_row_held_before_hold_params_shows_its_stored_text(acme, alice, bob):
    # Given a payout held before hold_params existed: its English text and no params
    payout = above_threshold(acme, alice, bob)
    Payout.objects.filter(pk=payout.pk).update(hold_params={}, hold_detail="Above the approval threshold of 500 MYR.")
    client = staff_client(acme, "ar")

    queue = client.get(QUEUE).content.decode()
    page = client.get(f"/admin/payouts/payout/{payout.pk}/change/").content.decode()

    # Then the Arabic admin shows the stored text, as before
    assert 'title="Above the approval threshold of 500 MYR.">' in queue
    assert decision_paragraph("", "Above the approval threshold of 500 MYR.") in page


def test_params_that_do_not_fit_the_template_show_the_stored_text(acme, alice, bob):
    payout = over_daily_limit(acme, alice, bob)
    Payout.objects.filter(pk=payout.pk).update(hold_params={"total": "[erased]", "currency": "MYR"})

    page = staff_client(acme, "ar").get(f"/admin/payouts/payout/{payout.pk}/change/").content.decode()

    reason = "1012.50 MYR today for this customer (daily limit 1000.00)."
    assert decision_paragraph("الحد اليومي للعميل", reason) in page


def test_a_released_payout_keeps_no_hold_params(acme, alice, bob):
    payout = above_threshold(acme, alice, bob)

    services.approve_payout(payout.pk, user=make_approver(acme, "farid"))

    payout.refresh_from_db()
    assert (payout.status, payout.hold, payout.hold_detail, payout.hold_params) == (Status.QUEUED, "", "", {})


def test_erasure_scrubs_hold_params_that_quote_a_customer(acme, alice, bob):
    # Given carol, known to the partner by her email, and dan, who pays out to carol's
    # account: dan's payout is held and its reason quotes carol's external id
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    carol = CustomerFactory(program=acme, external_id="carol@mail.example", name="Carol", email="carol@mail.example")
    dan = CustomerFactory(program=acme, external_id="dan", name="Dan Lee", email="dan@mail.example")
    make_payout(carol, method="upi", destination={"vpa": "carol.pay@okaxis"})
    held = make_payout(dan, method="upi", destination={"vpa": "carol.pay@okaxis"})
    others = make_payout(alice, amount="10.00")
    assert Payout.objects.get(pk=held.pk).hold_params == {
        "check": "shared_destination",
        "customer": "carol@mail.example",
    }

    # When carol is erased
    erase_customer(carol)

    # Then dan's payout quotes her no more, in the text or the params; the rest stays
    held = Payout.objects.get(pk=held.pk)
    assert (held.hold, held.hold_detail, held.hold_params, held.amount) == (
        Hold.VELOCITY,
        "Destination already used by another customer ([erased]).",
        {"check": "shared_destination", "customer": "[erased]"},
        Decimal("25.00"),
    )
    page = staff_client(acme, "ar").get(f"/admin/payouts/payout/{held.pk}/change/").content.decode()
    assert decision_paragraph("فحص السرعة", "الوجهة مستخدمة بالفعل لدى عميل آخر ([erased]).") in page
    assert Payout.objects.get(pk=others.pk).hold_params == {}


def test_erasure_scrubs_the_customers_own_hold_params_and_keeps_the_figures(acme, alice, bob):
    # Given dan's payouts: one held quoting carol's email-like external id, one over his daily limit
    services.record_funding_top_up(acme, "MYR", Decimal("10000.00"), note="funds")
    carol = CustomerFactory(program=acme, external_id="carol@mail.example", name="Carol", email="carol@mail.example")
    dan = CustomerFactory(program=acme, external_id="dan", name="Dan Lee", email="dan@mail.example")
    make_payout(carol, method="upi", destination={"vpa": "carol.pay@okaxis"})
    quoting = make_payout(dan, method="upi", destination={"vpa": "carol.pay@okaxis"})
    policy(acme, customer_daily_limit=Decimal("100.00"))
    over = make_payout(dan, amount="90.00")

    # When dan is erased
    erase_customer(dan)

    # Then the quoted address is gone from his payout, and the daily figures stay as they were
    quoting, over = Payout.objects.get(pk=quoting.pk), Payout.objects.get(pk=over.pk)
    assert (quoting.hold_detail, quoting.hold_params) == (
        "Destination already used by another customer ([erased]).",
        {"check": "shared_destination", "customer": "[erased]"},
    )
    assert (over.hold, over.hold_detail, over.hold_params) == (
        Hold.DAILY_LIMIT,
        "115.00 MYR today for this customer (daily limit 100.00).",
        {"total": "115.00", "currency": "MYR", "daily_limit": "100.00"},
    )

"""METRICS.md worked examples and null rules, checked through GET /api/v1/metrics."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engagement import hooks
from engagement.metrics import PROVIDED, metric_names
from engagement.metrics.types import MetricValue
from engagement.models import Customer, CustomerScore, Event
from engagement.processing import process_events

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)  # 31 days: one month
MID = START + timedelta(days=10)
_ids = itertools.count()


def make_customers(program, n, prefix="c"):
    return Customer.objects.bulk_create([Customer(program=program, external_id=f"{prefix}-{i:05d}") for i in range(n)])


def ev(customer, type_, at=MID, value=None, **properties):
    return Event(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"t-{next(_ids)}",
        type=type_,
        occurred_at=at,
        value=Decimal(value) if value is not None else None,
        properties=properties,
    )


def add(*events):
    Event.objects.bulk_create(list(events))


@pytest.fixture(params=[False, True], ids=["unprocessed", "processed"])
def add_activity(request):
    """`add`, then (second run) event processing as the pipeline does it: the section 6 counts
    then come from the customers' first and last seen times instead of their events."""

    def add_processed(*events):
        add(*events)
        if request.param:
            process_events([event.pk for event in events])

    return add_processed


def get_metrics(client, names, start=START, end=END, **params):
    response = client.get(
        "/api/v1/metrics", {"names": ",".join(names), "start": start.isoformat(), "end": end.isoformat(), **params}
    )
    assert response.status_code == 200, response.json()
    return response.json()["metrics"]


def answer(customer, kind, score, at=MID):
    return ev(customer, "survey_answered", at, survey="1", kind=kind, score=score)


def test_nps_example_70_promoters_10_detractors_is_60(acme, acme_api):
    people = make_customers(acme, 10)
    scores = [9, 10, 9, 10, 9, 10, 9, 7, 8, 3]  # 7 promoters, 2 passives, 1 detractor
    add(*(answer(c, "nps", s) for c, s in zip(people, scores, strict=True)))
    add(answer(people[0], "csat", 1))  # other kinds do not count

    body = get_metrics(acme_api, ["nps"])

    assert body["nps"] == {"value": "60.00", "numerator": 6, "denominator": 10, "unit": "score"}


def test_csat_example_400_of_500_is_80(acme, acme_api):
    people = make_customers(acme, 500)
    add(*(answer(c, "csat", 5 if i < 250 else 4 if i < 400 else (i % 3) + 1) for i, c in enumerate(people)))

    body = get_metrics(acme_api, ["csat"])

    assert body["csat"] == {"value": "80.00", "numerator": 400, "denominator": 500, "unit": "percent"}


def test_ces_mean_and_share_easy(acme, acme_api):
    people = make_customers(acme, 4)
    add(*(answer(c, "ces", s) for c, s in zip(people, [7, 5, 4, 2], strict=True)))

    body = get_metrics(acme_api, ["ces", "ces_easy_rate"])

    assert body["ces"] == {"value": "4.50", "numerator": "18.00", "denominator": 4, "unit": "score"}
    assert body["ces_easy_rate"]["value"] == "50.00"


def test_churn_example_1000_at_start_50_lost_is_5_percent(acme, acme_api, add_activity):
    people = make_customers(acme, 1000)
    add_activity(*(ev(c, "page_view", START - timedelta(days=30), url="/") for c in people))
    add_activity(*(ev(c, "page_view", MID, url="/") for c in people[50:]))
    # Active before the lookback only: not "at start", so neither counted nor lost.
    old = make_customers(acme, 3, prefix="old")
    add_activity(*(ev(c, "page_view", START - timedelta(days=200), url="/") for c in old))

    body = get_metrics(acme_api, ["churn_rate"])

    assert body["churn_rate"] == {"value": "5.00", "numerator": 50, "denominator": 1000, "unit": "percent"}


def test_retention_rate_is_end_minus_new_over_start(acme, acme_api, add_activity):
    # S = 10 active before start; 2 go silent for the whole 90 days before end; 3 new arrive.
    regulars = make_customers(acme, 10)
    newcomers = make_customers(acme, 3, prefix="new")
    add_activity(*(ev(c, "page_view", START - timedelta(days=5), url="/") for c in regulars))
    add_activity(*(ev(c, "page_view", MID, url="/") for c in regulars[2:] + newcomers))

    body = get_metrics(acme_api, ["retention_rate"])

    # E = 10 (the 2 silent ones were still active within 90 days before end) + 3 = 13; (13 - 3) / 10.
    assert body["retention_rate"] == {"value": "100.00", "numerator": 10, "denominator": 10, "unit": "percent"}


def test_repeat_purchase_example_200_of_1000_is_20_percent(acme, acme_api):
    people = make_customers(acme, 1000)
    add(*(ev(c, "purchase", MID, "10.00", order_id=f"o-{c.pk}") for c in people))
    add(*(ev(c, "purchase", MID + timedelta(days=1), "10.00", order_id=f"p-{c.pk}") for c in people[:200]))

    body = get_metrics(acme_api, ["repeat_purchase_rate"])

    assert body["repeat_purchase_rate"] == {"value": "20.00", "numerator": 200, "denominator": 1000, "unit": "percent"}


def test_clv_example_50_times_4_per_year_times_5_years_is_1000(acme, acme_api, add_activity):
    start, end = datetime(2024, 4, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)  # 365 days
    people = make_customers(acme, 5)
    add_activity(*(ev(c, "page_view", start - timedelta(days=10), url="/") for c in people))
    # Four keep buying (4 purchases of 50 in the year); one is lost: annual churn 20 % -> ACL 5.
    add_activity(
        *(
            ev(c, "purchase", start + timedelta(days=30 * k + 1), "50.00", order_id="o")
            for c in people[:4]
            for k in range(4)
        )
    )

    body = get_metrics(acme_api, ["aov", "apf", "acl", "clv"], start, end)

    assert body["aov"] == {"value": "50.00", "numerator": "800.00", "denominator": 16, "unit": "money"}
    assert body["apf"] == {"value": "4.00", "numerator": 16, "denominator": 4, "unit": "per_year"}
    assert body["acl"] == {"value": "5.00", "numerator": 1, "denominator": 5, "unit": "years"}
    assert body["clv"] == {"value": "1000.00", "numerator": None, "denominator": None, "unit": "money"}


def test_acl_without_churn_is_capped_by_the_program(acme, acme_api, add_activity):
    person = make_customers(acme, 1)[0]
    add_activity(ev(person, "page_view", START - timedelta(days=1), url="/"), ev(person, "page_view", MID, url="/"))

    assert get_metrics(acme_api, ["acl"])["acl"]["value"] == "10.00"


def test_mrr_example_100_paying_times_50_is_5000(acme, acme_api):
    people = make_customers(acme, 100)
    add(*(ev(c, "purchase", MID, "50.00", order_id="s", recurring=True) for c in people))
    add(ev(people[0], "purchase", MID, "999.00", order_id="one-off"))  # not recurring

    body = get_metrics(acme_api, ["mrr", "arpc"])

    assert body["mrr"] == {"value": "5000.00", "numerator": "5000.00", "denominator": "1.00", "unit": "money"}
    assert body["arpc"] == {"value": "50.00", "numerator": "5000.00", "denominator": 100, "unit": "money"}


def test_website_metrics_and_per_page_exit_rate(acme, acme_api):
    a, b = make_customers(acme, 2)
    add(
        *(ev(a, "page_view", url="/shop") for _ in range(4)),
        ev(b, "page_view", url="/help"),
        ev(a, "session", duration_seconds=100, page_views=1, exit_page="/shop"),
        ev(b, "session", duration_seconds=300, page_views=3, exit_page="/help"),
        ev(b, "session", duration_seconds=200, page_views=2, exit_page="/shop"),
    )

    body = get_metrics(acme_api, ["page_views", "avg_session_duration", "bounce_rate", "exit_rate"])
    shop = get_metrics(acme_api, ["exit_rate", "page_views"], page="/shop")

    assert body["page_views"]["value"] == 5
    assert body["avg_session_duration"] == {
        "value": "200.00",
        "numerator": "600.00",
        "denominator": 3,
        "unit": "seconds",
    }
    assert body["bounce_rate"] == {"value": "33.33", "numerator": 1, "denominator": 3, "unit": "percent"}
    assert body["exit_rate"]["value"] == "60.00"
    assert shop["exit_rate"] == {"value": "50.00", "numerator": 2, "denominator": 4, "unit": "percent"}
    assert shop["page_views"]["value"] == 4


def test_social_counts_total_and_per_network(acme, acme_api):
    a = make_customers(acme, 1)[0]
    add(
        ev(a, "social_like", network="instagram"),
        ev(a, "social_like", network="x"),
        ev(a, "social_share", network="x"),
        ev(a, "social_comment", network="x"),
        ev(a, "social_click", network="instagram"),
    )
    names = ["social_likes", "social_shares", "social_comments", "social_clicks"]

    total = get_metrics(acme_api, names)
    on_x = get_metrics(acme_api, names, network="x")

    assert [total[n]["value"] for n in names] == [2, 1, 1, 1]
    assert [on_x[n]["value"] for n in names] == [1, 1, 1, 0]


def test_email_rates_unique_per_customer_per_message(acme, acme_api):
    a, b, c, d = make_customers(acme, 4)
    sent = [ev(x, "email_sent", message_id="m1") for x in (a, b, c, d)] + [ev(a, "email_sent", message_id="m2")]
    add(
        *sent,
        ev(d, "email_bounced", message_id="m1"),
        ev(a, "email_opened", message_id="m1"),
        ev(a, "email_opened", message_id="m1"),  # a second open of the same message: still one
        ev(b, "email_opened", message_id="m1"),
        ev(a, "email_clicked", MID, message_id="m1"),
        ev(a, "email_converted", MID + timedelta(hours=1), message_id="m1"),
        ev(b, "email_converted", MID, message_id="m1"),  # no click before: not a conversion
        ev(c, "email_unsubscribed", message_id="m1"),
        ev(a, "email_opened", message_id="m2"),
    )
    names = ["emails_delivered", "email_open_rate", "email_ctr", "email_conversion_rate", "email_unsubscribe_rate"]

    overall = get_metrics(acme_api, names)
    m1 = get_metrics(acme_api, names, message_id="m1")

    assert overall["emails_delivered"]["value"] == 4  # 5 sent - 1 bounced
    assert overall["email_open_rate"] == {"value": "75.00", "numerator": 3, "denominator": 4, "unit": "percent"}
    assert m1["emails_delivered"]["value"] == 3
    assert m1["email_open_rate"]["value"] == "66.67"
    assert m1["email_ctr"]["value"] == "33.33"
    assert m1["email_conversion_rate"] == {"value": "33.33", "numerator": 1, "denominator": 3, "unit": "percent"}
    assert m1["email_unsubscribe_rate"]["value"] == "33.33"


def test_event_campaign_metrics(acme, acme_api):
    a, b = make_customers(acme, 2)
    add(
        *(ev(x, "event_registered", event_name="Fest") for x in (a, b, a, b)),
        *(ev(x, "event_attended", event_name="Fest") for x in (a, b, a)),
        ev(a, "event_interaction", event_name="Fest"),
    )

    body = get_metrics(acme_api, ["event_registrations", "event_attendance", "event_interactions", "attendance_rate"])

    assert [body[n]["value"] for n in ["event_registrations", "event_attendance", "event_interactions"]] == [4, 3, 1]
    assert body["attendance_rate"]["value"] == "75.00"


def test_advocacy_metrics_and_cai(acme, acme_api):
    referrer, quiet_referrer, friend, other = make_customers(acme, 4)
    friend.external_id, other.external_id = "friend", "other"
    Customer.objects.filter(pk=friend.pk).update(external_id="friend")
    add(
        ev(referrer, "referral_sent", referred_customer="friend"),
        ev(referrer, "referral_sent", referred_customer="x"),
        ev(quiet_referrer, "referral_sent", referred_customer="y"),
        ev(referrer, "referral_converted", referred_customer="friend"),
        ev(friend, "purchase", MID, "30.00", order_id="f"),
        ev(other, "purchase", MID, "70.00", order_id="o"),
        # CAI: referrer NPS 10 then 8 (latest counts), CSAT 5, 1 converted referral and 1 share.
        answer(referrer, "nps", 10, MID - timedelta(days=1)),
        answer(referrer, "nps", 8, MID),
        answer(referrer, "csat", 5),
        ev(referrer, "social_share", network="x"),
        # other: only NPS 0, no referrals -> CSAT part dropped, weights 0.5 and 0.2 re-weighted.
        answer(other, "nps", 0),
    )
    names = [
        "referrals_generated",
        "referral_conversion_rate",
        "advocacy_conversion_rate",
        "advocacy_revenue",
        "advocacy_revenue_share",
        "cai",
    ]

    body = get_metrics(acme_api, names)

    assert body["referrals_generated"]["value"] == 3
    assert body["referral_conversion_rate"]["value"] == "33.33"
    assert body["advocacy_conversion_rate"] == {"value": "50.00", "numerator": 1, "denominator": 2, "unit": "percent"}
    assert body["advocacy_revenue"]["value"] == "30.00"
    assert body["advocacy_revenue_share"]["value"] == "30.00"
    # referrer: 0.5*80 + 0.3*100 + 0.2*min(100, 25+5) = 40 + 30 + 6 = 76; other: 0 / 0.7 = 0.
    assert body["cai"] == {"value": "38.00", "numerator": "76.00", "denominator": 2, "unit": "score"}


ZERO_DENOMINATOR = [
    "avg_session_duration",
    "bounce_rate",
    "exit_rate",
    "email_open_rate",
    "email_ctr",
    "email_conversion_rate",
    "email_unsubscribe_rate",
    "nps",
    "csat",
    "ces",
    "ces_easy_rate",
    "attendance_rate",
    "churn_rate",
    "retention_rate",
    "repeat_purchase_rate",
    "aov",
    "apf",
    "acl",
    "clv",
    "arpc",
    "referral_conversion_rate",
    "advocacy_conversion_rate",
    "advocacy_revenue_share",
    "cai",
]


def test_every_zero_denominator_is_null(acme, acme_api, monkeypatch):
    for name in PROVIDED:
        monkeypatch.delitem(hooks._metric_providers, name, raising=False)

    body = get_metrics(acme_api, metric_names())

    assert {name for name, v in body.items() if v["value"] is None} == set(ZERO_DENOMINATOR) | set(PROVIDED)
    assert body["page_views"]["value"] == 0
    assert body["mrr"]["value"] == "0.00"


def test_loyalty_metrics_come_from_registered_providers(acme, acme_api, monkeypatch):
    calls = []

    def issued(program, start, end, segment=None):
        calls.append((program.pk, start, end, segment))
        return MetricValue(Decimal(1200), Decimal(1200), None, "points")

    monkeypatch.setitem(hooks._metric_providers, "points_issued", issued)

    body = get_metrics(acme_api, ["points_issued"], segment="Champions")

    assert body["points_issued"] == {"value": 1200, "numerator": "1200.00", "denominator": None, "unit": "points"}
    assert calls == [(acme.pk, START, END, "Champions")]


def test_segment_restricts_to_customers_of_that_segment(acme, acme_api):
    champ, other = make_customers(acme, 2)
    CustomerScore.objects.create(customer=champ, program=acme, segment="Champions", scored_at=START)
    add(answer(champ, "nps", 10), answer(other, "nps", 0))

    assert get_metrics(acme_api, ["nps"], segment="Champions")["nps"]["value"] == "100.00"
    assert get_metrics(acme_api, ["nps"])["nps"]["value"] == "0.00"


def test_other_programs_events_never_count(acme, globex, acme_api):
    add(answer(make_customers(globex, 1)[0], "nps", 10))

    assert get_metrics(acme_api, ["nps"])["nps"]["value"] is None


def test_dates_may_be_plain_dates_in_the_program_time_zone(acme, acme_api):
    response = acme_api.get("/api/v1/metrics", {"names": "page_views", "start": "2025-03-01", "end": "2025-04-01"})

    assert response.status_code == 200
    assert response.json()["start"] == "2025-03-01T00:00:00+08:00"
    assert response.json()["end"] == "2025-04-01T00:00:00+08:00"


@pytest.mark.parametrize(
    ("params", "code", "attr"),
    [
        ({"names": "nps,bogus"}, "unknown_metric", "names"),
        ({"names": "nps", "start": "yesterday"}, "invalid", "start"),
        ({"names": "nps", "end": "2025-13-40"}, "invalid", "end"),
        ({"names": "nps", "start": "2025-04-01", "end": "2025-03-01"}, "invalid", "start"),
        ({"names": "nps", "segment": "VIP"}, "unknown_segment", "segment"),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(acme_api, params, code, attr):
    response = acme_api.get("/api/v1/metrics", params)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [(code, attr)]


def test_unknown_metric_error_lists_valid_names(acme_api):
    detail = acme_api.get("/api/v1/metrics", {"names": "bogus"}).json()["errors"][0]["detail"]

    assert "bogus" in detail and "nps" in detail and "points_issued" in detail


def test_metrics_need_a_partner_key(acme, client):
    assert client.get("/api/v1/metrics").status_code == 401

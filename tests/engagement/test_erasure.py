"""Erasure is complete (GDPR Art. 17) and the export shows everything held (Art. 15/20):
issue 13, item 7."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection

from engagement.models import Event
from payouts import processing
from payouts import services as payout_services
from rewards import ledger
from rewards.models import LedgerEntry, PointsAccount, Redemption, RewardKind
from rewards.redemptions import redeem_reward
from surveys.answering import save_answers
from surveys.models import Answer, Response, Survey
from surveys.sending import send_survey
from tests.payouts.factories import make_payout
from tests.rewards.factories import RewardItemFactory
from tests.surveys.factories import make_survey
from tests.webhooks.factories import SubscriptionFactory

NAME, EMAIL, PHONE = "Eve Secret", "eve.secret@mail.example", "+60123456789"
WHY = "I am Eve Secret, call me on +60 12-345 6789"
ADDRESS = "12 Jalan Rahsia"
EVENT_BOB = {"event_id": "b1", "type": "page_view", "customer": "bob", "occurred_at": "2026-01-06T10:00:00Z"}
PERSONAL = [NAME, EMAIL, PHONE, WHY, ADDRESS, "eve.other@mail.example", "+60 19-876 5432"]


def texts_holding(needle):
    """Every (table, column) of the database whose text, varchar or json value contains
    `needle` (case-insensitive). A partition's rows are found through its partitioned table
    (the events' monthly partitions through engagement_event)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "JOIN pg_class r ON r.relname = c.table_name AND r.relnamespace = current_schema()::regnamespace "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND NOT r.relispartition "
            "AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s', [f"%{needle}%"])
            if cursor.fetchone()[0]:
                found.append((table, column))
    return found


@pytest.fixture
def eve(acme, acme_api, admin_user, django_capture_on_commit_callbacks):
    """A customer with personal data in every corner: profile (created through the API with
    an Idempotency-Key, so its answer is stored), events, a free-text survey answer, an
    invitation message, webhook payload copies, a ledger reason and a payout the provider has."""
    acme.personal_event_properties = ["address"]
    acme.save()
    SubscriptionFactory(program=acme)  # every webhook event gets a delivery row
    created = acme_api.post(
        "/api/v1/customers",
        {"external_id": "eve", "name": NAME, "email": EMAIL, "phone": PHONE, "consent_email": True},
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-eve",
    )
    assert created.status_code == 201
    event = {
        "event_id": "e1",
        "type": "purchase",
        "customer": "eve",
        "occurred_at": "2026-01-05T10:00:00Z",
        "value": "40.00",
        "currency": "MYR",
        "properties": {
            "order_id": "o-1001",
            "contact": "eve.other@mail.example",
            "note": "call +60 19-876 5432",
            "address": ADDRESS,
        },
    }
    with django_capture_on_commit_callbacks(execute=False):
        assert acme_api.post("/api/v1/events", event, format="json").status_code == 202
        survey = make_survey(acme, Survey.Kind.NPS, name="Acme NPS")
        from engagement.models import Customer

        customer = Customer.objects.get(program=acme, external_id="eve")
        invitation = send_survey(survey=survey, customer=customer, source="api").invitation
        score, why = survey.questions.order_by("position")[:2]
        save_answers(invitation, {score: 2, why: WHY}, complete=True)
        ledger.grant_points(customer=customer, points=100, reason=f"Welcome gift for {NAME}", idempotency_key="w")
        # a parcel on its way to her address
        mug = RewardItemFactory(program=acme, kind=RewardKind.MERCHANDISE, points_cost=10)
        shipping = {"ship_name": NAME, "ship_line1": ADDRESS, "ship_city": "Kuala Lumpur", "ship_phone": PHONE}
        redeem_reward(customer=customer, item=mug, idempotency_key="mug", fulfilment=shipping)
        payout_services.record_funding_top_up(acme, "MYR", Decimal("100.00"), note="funds")
        payout = make_payout(customer, amount="25.00", method="bank_transfer")
        # the provider has the order: the full destination is wiped, the masked copy stays
        assert processing.process_payout(payout.pk) == "pending"
    # an admin edited the customer: the admin history names it by str() (its name)
    LogEntry.objects.log_actions(admin_user.pk, [customer], CHANGE, change_message="Changed phone.")
    return customer


def test_after_erasure_no_table_holds_the_customers_personal_data(acme, acme_api, eve):
    # Given personal data spread over many tables
    assert all(texts_holding(needle) for needle in PERSONAL)
    totals_before = _totals(eve)

    # When the partner erases the customer
    response = acme_api.delete("/api/v1/customers/eve")

    # Then no text, varchar or json column of any table holds it any more
    assert response.status_code == 204
    assert {needle: texts_holding(needle) for needle in PERSONAL} == {needle: [] for needle in PERSONAL}
    # and the totals stay
    assert _totals(eve) == totals_before
    assert Answer.objects.get(response__customer=eve, value_int__isnull=False).value_int == 2
    assert Event.objects.get(customer=eve, event_id="e1").properties["order_id"] == "o-1001"
    # Erasing again changes nothing and still answers 204
    assert acme_api.delete("/api/v1/customers/eve").status_code == 204


def test_erasure_leaves_other_customers_data_alone(acme, acme_api, eve):
    # Given bob, created through the API too (his answer is stored for replays), with an event
    bob = {"external_id": "bob", "name": "Bob Tan", "email": "bob.tan@mail.example", "phone": "+60198765432"}
    assert acme_api.post("/api/v1/customers", bob, format="json", HTTP_IDEMPOTENCY_KEY="create-bob").status_code == 201
    event = {**EVENT_BOB, "properties": {"url": "/", "contact": "bob.tan@mail.example"}}
    assert acme_api.post("/api/v1/events", event, format="json").status_code == 202
    holding_before = {needle: texts_holding(needle) for needle in (bob["name"], bob["email"], bob["phone"])}

    # When eve is erased
    acme_api.delete("/api/v1/customers/eve")

    # Then every copy of bob's data is where it was
    assert {needle: texts_holding(needle) for needle in (bob["name"], bob["email"], bob["phone"])} == holding_before
    assert sorted(holding_before["bob.tan@mail.example"]) == [
        ("engagement_customer", "email"),
        ("engagement_event", "properties"),
        ("engagement_idempotencyrecord", "response_body"),
    ]
    replay = acme_api.post("/api/v1/customers", bob, format="json", HTTP_IDEMPOTENCY_KEY="create-bob")
    assert (replay.status_code, replay.json()["email"]) == (201, "bob.tan@mail.example")


def test_the_admin_erase_action_is_as_complete(acme, admin_client, eve):
    response = admin_client.post(
        "/admin/engagement/customer/", {"action": "erase_selected", "_selected_action": [eve.pk]}, follow=True
    )

    assert response.status_code == 200
    assert {needle: texts_holding(needle) for needle in PERSONAL} == {needle: [] for needle in PERSONAL}


def _totals(customer):
    return (
        list(LedgerEntry.objects.filter(customer=customer).values_list("points", "balance_after")),
        PointsAccount.objects.get(customer=customer).balance,
        Event.objects.filter(customer=customer).count(),
        str(customer.payouts.get().amount),
        customer.payouts.get().status,
        list(Response.objects.filter(customer=customer).values_list("score", "category")),
        customer.messages.count(),
    )


def test_export_holds_everything_about_the_customer(acme, acme_api, eve):
    body = acme_api.get("/api/v1/customers/eve/export").json()

    assert body["program"] == "acme"
    assert {k: body["customer"][k] for k in ("external_id", "name", "email", "phone")} == {
        "external_id": "eve",
        "name": NAME,
        "email": EMAIL,
        "phone": PHONE,
    }
    purchases = [e for e in body["events"] if e["type"] == "purchase"]
    assert [(e["event_id"], e["value"], e["properties"]["address"]) for e in purchases] == [("e1", "40.00", ADDRESS)]
    assert [e["type"] for e in body["events"]] == ["purchase", "survey_answered"]
    assert [a["value"] for a in body["surveys"]["responses"][0]["answers"]] == ["2", WHY]
    assert [(e["kind"], e["points"]) for e in body["rewards"]["ledger"]] == [("earn", 100), ("redeem", -10)]
    assert body["rewards"]["ledger"][0]["reason"] == f"Welcome gift for {NAME}"
    assert body["rewards"]["balance"] == 90
    parcel = body["rewards"]["redemptions"][0]["fulfilment"]
    assert (parcel["status"], parcel["ship_name"], parcel["ship_line1"], parcel["ship_phone"]) == (
        "requested",
        NAME,
        ADDRESS,
        PHONE,
    )
    assert [(p["amount"], p["status"], p["destination"]["account_name"]) for p in body["payouts"]] == [
        ("25.00", "processing", NAME)
    ]
    assert [m["channel"] for m in body["messages"]] == ["email"]


def test_export_after_erasure_shows_what_was_kept(acme, acme_api, eve):
    acme_api.delete("/api/v1/customers/eve")

    body = acme_api.get("/api/v1/customers/eve/export").json()

    assert (body["customer"]["name"], body["customer"]["email"], body["customer"]["phone"]) == ("", "", "")
    assert body["customer"]["erased_at"] is not None
    assert [a["value"] for a in body["surveys"]["responses"][0]["answers"]] == ["2", ""]
    assert body["events"][0]["properties"] == {
        "order_id": "o-1001",
        "contact": "[erased]",
        "note": "call [erased]",
        "address": "[erased]",
    }
    mug = Redemption.objects.get(customer=eve).item.title_en
    assert [(e["points"], e["reason"]) for e in body["rewards"]["ledger"]] == [
        (100, "Welcome gift for [erased]"),
        (-10, f"Redeemed: {mug}"),
    ]
    parcel = body["rewards"]["redemptions"][0]["fulfilment"]
    # the address is gone; where it was going (the country) and its status stay
    assert {k: parcel[k] for k in ("status", "ship_name", "ship_line1", "ship_city", "ship_phone")} == {
        "status": "requested", "ship_name": "", "ship_line1": "", "ship_city": "", "ship_phone": "",
    }  # fmt: skip


def test_export_of_another_programs_customer_is_a_404(globex, partner_client, eve):
    assert partner_client(globex).get("/api/v1/customers/eve/export").status_code == 404


def test_export_is_in_the_openapi_schema(acme_api):
    schema = acme_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/customers/{external_id}/export"]["get"]
    properties = schema["components"]["schemas"][
        operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]["properties"]
    assert sorted(properties) == sorted(
        [
            "program",
            "customer",
            "engagement",
            "events",
            "events_rolled_up",
            "messages",
            "push_subscriptions",
            "surveys",
            "rewards",
            "payouts",
        ]
    )


@pytest.mark.parametrize(
    "text, scrubbed",
    [
        ("Order 100023456 paid 40.00 on 2026-01-05", "Order 100023456 paid 40.00 on 2026-01-05"),
        ("call +60 12-345 6789 after 5", "call [erased] after 5"),
        ("or 012-345 6789", "or [erased]"),
        ("mail EVE.secret@Mail.example now", "mail [erased] now"),
        ("gift for eve SECRET", "gift for [erased]"),
        ("ok", "ok"),
    ],
)
def test_the_scrubber_takes_out_personal_data_and_leaves_figures(text, scrubbed):
    from engagement.erasure import Scrubber

    scrubber = Scrubber(needles=[NAME, EMAIL, PHONE], whole_values=["ok then"], personal_keys=["address"])

    assert scrubber.text(text) == scrubbed
    assert scrubber.value({"address": "x", "n": 5, "list": [text]}) == {
        "address": "[erased]",
        "n": 5,
        "list": [scrubbed],
    }

"""Events partitioned by month (engagement.partitions): deduplication stays exact across
months, rows without a partition land in the default one and move to their month's, and
metrics over a period spanning partitions read every one of them."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from engagement import partitions
from engagement.metrics import compute_metrics
from engagement.models import Event, EventKey

URL = "/api/v1/events"


def page_view(event_id, occurred_at, customer="alice"):
    return {
        "event_id": event_id,
        "type": "page_view",
        "customer": customer,
        "occurred_at": occurred_at,
        "properties": {"url": "/home"},
    }


def partition_of(event_id):
    """The table each stored copy of `event_id` physically lives in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM engagement_event WHERE event_id = %s", [event_id])
        return sorted(row[0] for row in cursor.fetchall())


def test_the_same_event_id_in_another_month_is_a_duplicate(acme, acme_api):
    partitions.ensure_event_partitions(now=datetime(2025, 1, 15, tzinfo=UTC), ahead=2)

    first = acme_api.post(URL, page_view("e1", "2025-01-20T10:00:00Z"), format="json")
    again = acme_api.post(
        URL,
        {"events": [page_view("e1", "2025-03-02T10:00:00Z"), page_view("e2", "2025-03-02T10:00:00Z")]},
        format="json",
    )

    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert again.json() == {"accepted": 1, "duplicates": 1}
    assert partition_of("e1") == ["engagement_event_y2025m01"]
    assert partition_of("e2") == ["engagement_event_y2025m03"]
    assert sorted(EventKey.objects.filter(program=acme).values_list("event_id", flat=True)) == ["e1", "e2"]


def test_keys_outlive_their_events(acme, acme_api):
    acme_api.post(URL, page_view("gone", "2025-01-20T10:00:00Z"), format="json")
    Event.objects.filter(program=acme, event_id="gone").delete()  # as an erasure or a dropped partition would

    again = acme_api.post(URL, page_view("gone", "2025-06-20T10:00:00Z"), format="json")

    assert again.json() == {"accepted": 0, "duplicates": 1}
    assert not Event.objects.filter(program=acme, event_id="gone").exists()


def test_keys_are_per_program(acme, acme_api, globex):
    from tests.conftest import make_partner_client

    acme_api.post(URL, page_view("shared", "2025-01-20T10:00:00Z"), format="json")
    other = make_partner_client(globex).post(URL, page_view("shared", "2025-01-20T10:00:00Z"), format="json")

    assert other.json() == {"accepted": 1, "duplicates": 0}
    assert Event.objects.filter(event_id="shared").count() == 2


def test_rows_without_a_partition_go_to_default_then_to_their_month(acme, acme_api):
    response = acme_api.post(
        URL,
        {"events": [page_view("old-1", "2019-07-31T23:59:59Z"), page_view("old-2", "2019-08-01T00:00:00Z")]},
        format="json",
    )
    assert response.json() == {"accepted": 2, "duplicates": 0}
    assert partition_of("old-1") == partition_of("old-2") == ["engagement_event_default"]
    ids = dict(Event.objects.filter(program=acme).values_list("event_id", "id"))

    now = timezone.now()
    created = partitions.ensure_event_partitions(now=now, ahead=14)

    current = partitions.month_start(now)
    ahead = [partitions.partition_name(partitions.add_months(current, n)) for n in range(15)]
    assert created[:2] == ["engagement_event_y2019m07", "engagement_event_y2019m08"]
    # The migration made the current month and 3 ahead; the rest up to 14 ahead are new.
    assert created[2:] == ahead[4:]
    assert partition_of("old-1") == ["engagement_event_y2019m07"]
    assert partition_of("old-2") == ["engagement_event_y2019m08"]
    assert dict(Event.objects.filter(program=acme).values_list("event_id", "id")) == ids
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM engagement_event_default")
        assert cursor.fetchone()[0] == 0
    assert partitions.ensure_event_partitions(now=now, ahead=14) == []  # idempotent

    # The moved rows still have their key: a retry is a duplicate.
    retry = acme_api.post(URL, page_view("old-1", "2019-07-31T23:59:59Z"), format="json")
    assert retry.json() == {"accepted": 0, "duplicates": 1}


def test_a_metric_over_a_period_spanning_partitions_counts_every_month(acme, acme_api):
    partitions.ensure_event_partitions(now=datetime(2025, 1, 1, tzinfo=UTC), ahead=3)
    times = ["2024-12-31T23:00:00Z", "2025-01-01T00:00:00Z", "2025-02-14T12:00:00Z", "2025-03-31T23:59:59Z"]
    purchases = [
        {
            "event_id": f"p{n}",
            "type": "purchase",
            "customer": "alice" if n % 2 else "bob",
            "occurred_at": at,
            "value": "10.25",
            "properties": {"order_id": f"o{n}"},
        }
        for n, at in enumerate(times)
    ]
    views = [page_view(f"v{n}", at) for n, at in enumerate(times)]
    assert acme_api.post(URL, {"events": purchases + views}, format="json").json() == {"accepted": 8, "duplicates": 0}
    assert sorted({p for n in range(4) for p in partition_of(f"v{n}")}) == [
        "engagement_event_default",  # December 2024: before the first partition
        "engagement_event_y2025m01",
        "engagement_event_y2025m02",
        "engagement_event_y2025m03",
    ]

    # [2024-12-31 12:00, 2025-04-01): all four months, the default partition included.
    values = compute_metrics(
        acme, ["page_views", "aov"], datetime(2024, 12, 31, 12, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    )
    assert values["page_views"].value == 4
    assert values["aov"].value == Decimal("10.25")
    assert values["aov"].denominator == 4

    # From the middle of January to the middle of March: only the February event.
    values = compute_metrics(acme, ["page_views"], datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC))
    assert values["page_views"].value == 1

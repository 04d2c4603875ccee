"""Portal home and catalogue under load: what each request reads (pinned query counts), and
that program-level rows served from the per-process cache (rewards settings, tiers, catalogue
items; engagement.partner_api.keycache) never hide a change from the next request."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from engagement.erasure import erase_customer
from engagement.models import Customer
from engagement.partner_api import keycache
from rewards import activity, balances, catalogue, ledger, tiers
from rewards.models import RewardItem, RewardsSettings
from rewards.portal_auth import PROGRAM_SESSION_KEY, SESSION_KEY
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory, make_tiers
from tests.rewards.test_portal import signed_in_client

pytestmark = pytest.mark.django_db


def another_process_changes_something():
    """What `bump()` in another web process looks like from here: Redis's epoch moves, this
    process's own entries stay."""
    keycache._redis().set(keycache.EPOCH_KEY, "from-another-process")


@pytest.fixture
def silver_alice(acme, alice):
    """Alice with 1,234 points, Silver (Gold at 2,000), signed in."""
    make_tiers(acme)
    ledger.grant_points(customer=alice, points=1234, reason="Welcome", idempotency_key="w")
    tiers.recompute_tiers(acme)
    return signed_in_client(alice)


def test_portal_home_reads_one_statement_once_warm(silver_alice, django_assert_num_queries):
    silver_alice.get("/portal/")  # loads the program's settings and tiers into the cache
    # Customer with program, balance with tier state, window points and the recent entries;
    # the session comes from Redis (cached_db).
    with django_assert_num_queries(1):
        html = silver_alice.get("/portal/").content.decode()
    assert 'data-testid="balance">1,234<' in html
    assert 'data-testid="tier">Silver<' in html
    assert "Earn 766 more points to reach Gold." in html
    assert 'value="61"' in html  # 1,234 of 2,000


def test_catalogue_reads_one_statement_once_warm(acme, alice, django_assert_num_queries):
    ledger.grant_points(customer=alice, points=150, reason="Welcome", idempotency_key="w")
    RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120, stock=3)
    RewardItemFactory(program=acme, title_en="Umbrella", points_cost=400)
    voucher = VoucherItemFactory(program=acme, title_en="Free kopi", points_cost=50)
    VoucherCodeFactory(item=voucher)
    client = signed_in_client(alice)
    client.get("/portal/rewards/")
    # Customer with program, the balance and the items' live columns (the session: Redis).
    with django_assert_num_queries(1):
        html = client.get("/portal/rewards/").content.decode()
    order = ["Free kopi", "Tote bag", "Umbrella"]  # by cost
    assert sorted(order, key=html.index) == order
    assert html.count('class="button primary"') == 2  # two Redeem buttons
    assert "250 points to go" in html


def sessions_signed_in_before_the_program_id(client):
    """The client's session as sign-in wrote it before PROGRAM_SESSION_KEY existed."""
    session = client.session
    del session[PROGRAM_SESSION_KEY]
    session.save()


@pytest.mark.parametrize("path", ["/portal/", "/portal/rewards/"])
def test_a_session_without_the_program_id_reads_the_customer_on_its_own(
    silver_alice, alice, path, django_assert_num_queries
):
    # Given a session from before the program id was stored, the program's settings cached
    sessions_signed_in_before_the_program_id(silver_alice)
    warm = silver_alice.get(path).content.decode()
    another = signed_in_client(alice)

    # When the page is read: the customer's own statement, then the page's
    with django_assert_num_queries(2):
        html = silver_alice.get(path).content.decode()

    # Then the same page as a session with the program id gets, read in one statement
    with django_assert_num_queries(1):
        joined = another.get(path).content.decode()
    assert strip_csrf(html) == strip_csrf(joined) == strip_csrf(warm)
    assert "1,234" in html


def strip_csrf(html):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


@pytest.mark.parametrize("path", ["/portal/", "/portal/rewards/"])
def test_an_erased_customer_is_signed_out(silver_alice, alice, path, django_assert_num_queries):
    # Given alice signed in with the program's settings cached, then erased
    assert silver_alice.get(path).status_code == 200
    erase_customer(alice)

    # When she reads the page: the joined statement finds no row, the customer's own none
    with django_assert_num_queries(2):
        response = silver_alice.get(path)

    # Then she is sent to sign in, and so is a session from before the program id
    assert response.status_code == 302 and response["Location"] == "/portal/login/"
    sessions_signed_in_before_the_program_id(silver_alice)
    assert silver_alice.get(path)["Location"] == "/portal/login/"


@pytest.mark.parametrize("path", ["/portal/", "/portal/rewards/"])
def test_a_customer_moved_to_another_program_is_served_with_the_new_one(silver_alice, acme, alice, globex, path):
    # Given alice signed in to acme (acme's settings cached), then moved to globex
    assert "Acme" in silver_alice.get(path).content.decode()
    Customer.objects.filter(pk=alice.pk).update(program=globex)
    RewardItemFactory(program=globex, title_en="Globex mug", points_cost=10)

    # When she reads the page twice (the second with globex's settings cached too)
    pages = [silver_alice.get(path).content.decode() for _ in range(2)]

    # Then it is globex's, never acme's: the session's program id no longer matches
    assert ["Globex" in html and "Acme" not in html for html in pages] == [True, True]
    assert silver_alice.session[PROGRAM_SESSION_KEY] == acme.pk


def test_catalogue_changes_are_visible_on_the_next_request(acme, alice):
    ledger.grant_points(customer=alice, points=500, reason="Welcome", idempotency_key="w")
    bag = RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120, stock=1)
    umbrella = RewardItemFactory(program=acme, title_en="Umbrella", points_cost=400)
    client = signed_in_client(alice)
    assert "120 points" in client.get("/portal/rewards/").content.decode()

    # A price change (save: the epoch moves) and the last unit taken (a queryset update, as
    # a redemption does: read live).
    bag.points_cost = 130
    bag.save()
    RewardItem.objects.filter(pk=bag.pk).update(stock=0)
    html = client.get("/portal/rewards/").content.decode()
    assert "130 points" in html and "120 points" not in html
    assert "This reward is out of stock." in html

    # Withdrawn by staff, and a new reward added.
    umbrella.active = False
    umbrella.save()
    RewardItemFactory(program=acme, title_en="Flask", points_cost=90)
    html = client.get("/portal/rewards/").content.decode()
    assert "Umbrella" not in html
    assert "Flask" in html


def test_an_item_changed_by_another_process_reaches_this_one_through_the_epoch(acme, alice):
    bag = RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120)
    client = signed_in_client(alice)
    assert "120 points" in client.get("/portal/rewards/").content.decode()
    # Another process's save: the row (no signal here) and, once committed, the epoch.
    RewardItem.objects.filter(pk=bag.pk).update(points_cost=140)
    another_process_changes_something()
    assert "140 points" in client.get("/portal/rewards/").content.decode()


def test_settings_and_tier_changes_are_visible_on_the_next_request(acme, alice):
    make_tiers(acme)
    # 300 points earned 10 days ago, 100 today.
    ledger.bulk_grant(acme, [ledger.Grant(alice, 300, "old", "old", earned_at=timezone.now() - timedelta(days=10))])
    ledger.grant_points(customer=alice, points=100, reason="Welcome", idempotency_key="w")
    tiers.recompute_tiers(acme)  # Bronze
    client = signed_in_client(alice)
    assert "Earn 100 more points to reach Silver." in client.get("/portal/").content.decode()

    settings = RewardsSettings.get_for(acme)
    settings.tier_window_days = 5
    settings.save()
    assert "Earn 400 more points to reach Silver." in client.get("/portal/").content.decode()

    silver = acme.tiers.get(name="Silver")
    silver.min_points = 450
    silver.save()
    assert "Earn 350 more points to reach Silver." in client.get("/portal/").content.decode()


def test_tier_progress_from_the_summary_is_the_same_as_read_alone(acme, alice):
    # Given a Gold customer whose review is near and who will not keep enough points
    make_tiers(acme)
    now = timezone.now()
    ledger.bulk_grant(acme, [ledger.Grant(alice, 2500, "old", "old", earned_at=now - timedelta(days=350))])
    ledger.grant_points(customer=alice, points=700, reason="Recent", idempotency_key="r")
    tiers.recompute_tiers(acme)
    alice.tier_status.review_at = (now + timedelta(days=30)).date()
    alice.tier_status.save()

    alone = tiers.get_tier_progress(alice, now)
    summary = balances.get_balance_summary(alice, now, with_tier=True)
    combined = tiers.get_tier_progress(alice, now, summary=summary, epoch=keycache.read_epoch())

    assert combined == alone
    assert alone["tier"].name == "Gold"
    assert alone["window_points"] == 3200
    assert alone["downgrade"]["to"].name == "Silver"
    assert alone["downgrade"]["points_needed"] == alone["tier"].min_points - 700


def test_a_signed_out_session_sees_no_cached_page(silver_alice):
    assert silver_alice.get("/portal/").status_code == 200
    silver_alice.post("/portal/logout/")
    response = silver_alice.get("/portal/")
    assert response.status_code == 302 and response["Location"] == "/portal/login/"
    assert Client().get("/portal/rewards/").status_code == 302


def test_recent_activity_is_the_start_of_the_full_list(acme, alice):
    for n in range(7):
        ledger.grant_points(customer=alice, points=10 + n, reason=f"Grant {n}", idempotency_key=f"g{n}")
    earlier = timezone.now() - timedelta(days=3)
    ledger.bulk_grant(acme, [ledger.Grant(alice, 99, "Earlier", "e", earned_at=earlier)])

    now = timezone.now()
    summary = balances.get_balance_summary(alice, now, with_tier=True, recent=5)

    recent = summary.pop("recent")
    assert [entry.pk for entry in recent] == [entry.pk for entry in activity.list_activity(alice)[:5]]
    assert [entry.points for entry in recent] == [16, 15, 14, 13, 12]
    assert recent[0].message_params == {} and recent[0].created_at.tzinfo is not None
    assert recent[0].reason == "Grant 6" and recent[0].customer_id == alice.pk
    assert recent[0]._state.adding is False  # as loaded by a queryset
    # The figures are those of the summary without the entries (one row per entry).
    assert summary == balances.get_balance_summary(alice, now, with_tier=True)
    assert summary["balance"] == 10 + 11 + 12 + 13 + 14 + 15 + 16 + 99
    # Fewer entries than asked for: all of them, newest first.
    assert [entry.points for entry in balances.get_balance_summary(alice, now, recent=10)["recent"]] == [
        16, 15, 14, 13, 12, 11, 10, 99,
    ]  # fmt: skip


def test_recent_activity_of_a_customer_without_entries_is_empty(bob):
    summary = balances.get_balance_summary(bob, recent=5)
    assert summary == {
        "balance": 0, "pending": 0, "held": 0, "expiring_soon": None, "expiring_soon_total": 0, "recent": [],
    }  # fmt: skip


def test_an_item_created_without_a_signal_is_listed_by_the_next_request(acme, alice):
    # Given a warm catalogue cache, then an item created by bulk_create (no signal: the epoch
    # does not move, the cached rows do not know it)
    RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120)
    client = signed_in_client(alice)
    client.get("/portal/rewards/")
    RewardItem.objects.bulk_create([RewardItem(program=acme, kind="merchandise", title_en="Umbrella", points_cost=80)])

    html = client.get("/portal/rewards/").content.decode()

    # Then the live statement finds it and the page lists it with the others, by cost
    assert sorted(["Umbrella", "Tote bag"], key=html.index) == ["Umbrella", "Tote bag"]


def test_an_empty_catalogue_still_shows_the_balance(acme, alice, bob, django_assert_num_queries):
    # Given no reward at all, alice with points and bob without a points account
    ledger.grant_points(customer=alice, points=1234, reason="Welcome", idempotency_key="w")
    alice_client, bob_client = signed_in_client(alice), signed_in_client(bob)
    alice_client.get("/portal/rewards/")
    bob_client.get("/portal/rewards/")

    with django_assert_num_queries(1):
        alice_html = alice_client.get("/portal/rewards/").content.decode()
    bob_html = bob_client.get("/portal/rewards/").content.decode()

    assert "<p>You have 1,234 points.</p>" in alice_html
    assert "<p>You have 0 points.</p>" in bob_html
    assert '<li class="muted">No rewards are available right now.</li>' in alice_html
    assert "data-item=" not in alice_html + bob_html


def test_the_portal_catalogue_lists_what_list_catalogue_lists(acme, alice):
    ledger.grant_points(customer=alice, points=150, reason="Welcome", idempotency_key="w")
    RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120, stock=0, position=2)
    RewardItemFactory(program=acme, title_en="Umbrella", points_cost=400)
    RewardItemFactory(program=acme, title_en="Mug", points_cost=100, active=False)
    voucher = VoucherItemFactory(program=acme, title_en="Free kopi", points_cost=50)
    VoucherCodeFactory(item=voucher)
    VoucherCodeFactory(item=voucher)
    now = timezone.now()

    balance, items = catalogue.list_portal_catalogue(alice, keycache.read_epoch(), now)

    # The same items and answers (list_catalogue's aggregate query has no ORDER BY: by id here).
    order = [item.pk for item in items]
    expected = sorted(catalogue.list_catalogue(acme, alice, now), key=lambda item: order.index(item.pk))
    assert balance == 150
    assert [item.title_en for item in items] == ["Free kopi", "Umbrella", "Tote bag"]  # position, cost
    assert [item.pk for item in items] == [item.pk for item in expected]
    assert [(item.available_codes, item.stock, item.affordable) for item in items] == [
        (2, None, True), (0, None, False), (0, 0, True),
    ]  # fmt: skip
    assert [(item.available_codes, item.stock, item.affordable) for item in expected] == [
        (2, None, True), (0, None, False), (0, 0, True),
    ]  # fmt: skip
    names = [type(item.eligibility).__name__ for item in items]
    assert names == [type(item.eligibility).__name__ for item in expected] == ["NoneType", "NoneType", "OutOfStock"]


def test_a_request_changes_its_own_copies_of_the_items_never_the_cached_rows(acme, alice):
    # Given the catalogue's rows cached by a first request, then a stock change read live
    tote = RewardItemFactory(program=acme, title_en="Tote bag", points_cost=120, stock=5)
    mug = RewardItemFactory(program=acme, title_en="Mug", points_cost=100)
    epoch = keycache.read_epoch()
    catalogue.list_portal_catalogue(alice, epoch)
    RewardItem.objects.filter(pk=tote.pk).update(stock=0)

    _balance, items = catalogue.list_portal_catalogue(alice, epoch)

    # Then the request's copies carry every field of the row, the live stock and their own
    # per-request attributes, as saved instances of the database's
    fields = [field.attname for field in RewardItem._meta.concrete_fields]
    fresh = {item.pk: item for item in RewardItem.objects.filter(program=acme)}
    assert [[getattr(item, name) for name in fields] for item in items] == [
        [getattr(fresh[item.pk], name) for name in fields] for item in items
    ]
    assert [(item.title_en, item.stock, item.available_codes, type(item.eligibility).__name__) for item in items] == [
        ("Mug", None, 0, "NoneType"), ("Tote bag", 0, 0, "OutOfStock"),
    ]  # fmt: skip
    assert [(item._state.db, item._state.adding, item.program is alice.program) for item in items] == [
        ("default", False, True), ("default", False, True),
    ]  # fmt: skip
    # and the shared rows are as loaded: the old stock, none of the request's attributes
    cached = catalogue._cached_items(acme, epoch)
    assert [(cached[pk].stock, hasattr(cached[pk], "available_codes")) for pk in (mug.pk, tote.pk)] == [
        (None, False), (5, False),
    ]  # fmt: skip
    assert [
        vars(cached[pk]).keys() & {"eligibility", "affordable", "_prefetched_objects_cache"} for pk in (mug.pk, tote.pk)
    ] == [set(), set()]
    assert [cached[pk]._state.fields_cache for pk in (mug.pk, tote.pk)] == [{}, {}]


def redis_calls():
    """{command: calls so far} of the test run's Redis server (INFO commandstats)."""
    stats = keycache._redis().info("commandstats")
    return {name.removeprefix("cmdstat_"): entry["calls"] for name, entry in stats.items()}


def calls_during(action):
    before = redis_calls()
    action()
    after = redis_calls()
    return {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}


def test_a_signed_in_page_reads_its_session_and_the_cache_epoch_in_one_redis_round_trip(silver_alice):
    silver_alice.get("/portal/")
    silver_alice.get("/portal/rewards/")
    pages = []

    # When each page is read once warm (INFO is the counting's own command)
    for path in ("/portal/", "/portal/rewards/"):
        assert calls_during(lambda path=path: pages.append(silver_alice.get(path))) == {"mget": 1, "info": 1}

    # Then one MGET answered the session and the epoch, and the pages are alice's
    assert [page.status_code for page in pages] == [200, 200]
    assert 'data-testid="balance">1,234<' in pages[0].content.decode()


def test_a_session_missing_from_redis_or_a_lost_epoch_are_read_again(silver_alice, alice, acme):
    silver_alice.get("/portal/")
    session_key = silver_alice.cookies[settings.SESSION_COOKIE_NAME].value
    epoch = keycache.read_epoch()

    # Given the session's cached copy gone (the database keeps it): cached_db's load, which
    # writes the cache again, and the epoch as read with the first MGET
    cache.delete(f"django.contrib.sessions.cached_db{session_key}")
    calls = calls_during(lambda: silver_alice.get("/portal/"))
    assert calls == {"mget": 1, "get": 1, "set": 1, "info": 1}
    assert cache.get(f"django.contrib.sessions.cached_db{session_key}") == {
        SESSION_KEY: alice.pk, PROGRAM_SESSION_KEY: acme.pk,
    }  # fmt: skip

    # Given the epoch lost (a Redis restart): a new one, set by keycache.read_epoch()
    keycache._redis().delete(keycache.EPOCH_KEY)
    page = silver_alice.get("/portal/")
    assert page.status_code == 200 and 'data-testid="balance">1,234<' in page.content.decode()
    assert keycache.read_epoch() not in ("", epoch)

    # and a session neither in Redis nor in the database signs nobody in
    cache.delete(f"django.contrib.sessions.cached_db{session_key}")
    Session.objects.filter(session_key=session_key).delete()
    assert silver_alice.get("/portal/")["Location"] == "/portal/login/"

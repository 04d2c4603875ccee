"""Catalogue reads: which rewards a customer may see and redeem, and why not.

Eligibility: active, inside its validity dates, in stock (or with unused codes), and - when
the item lists tiers or segments - the customer's tier name or RFM segment is one of them.
The segment comes from `customer.score.segment` (engagement scoring); a customer without a
score has no segment.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Count, Q, prefetch_related_objects
from django.db.models.base import ModelState
from django.utils import timezone

from engagement.partner_api import keycache
from payouts.models import ProviderProduct
from rewards import portal_auth
from rewards.errors import ItemUnavailable, NotEligible, OutOfStock
from rewards.models import PointsAccount, RewardItem, RewardKind, VoucherCode
from rewards.provider_rewards import is_withdrawn


def customer_segment(customer):
    """The customer's RFM segment, or "" when scoring has none (or is not installed)."""
    try:
        score = customer.score
    except (ObjectDoesNotExist, AttributeError):
        return ""
    return getattr(score, "segment", "") or ""


def is_in_window(item, now):
    return (item.valid_from is None or item.valid_from <= now) and (item.valid_until is None or item.valid_until > now)


def eligibility_error(item, customer, now=None, *, check_audience=True):
    """The RewardsError an attempt to redeem `item` would raise now, or None."""
    now = now or timezone.now()
    if not item.active or item.program_id != customer.program_id or not is_in_window(item, now):
        return ItemUnavailable()
    if is_withdrawn(item):
        return ItemUnavailable()
    if check_audience and item.eligible_tiers and customer.tier not in item.eligible_tiers:
        return NotEligible()
    if check_audience and item.eligible_segments and customer_segment(customer) not in item.eligible_segments:
        return NotEligible()
    if available_stock(item) == 0:
        return OutOfStock()
    return None


def available_stock(item):
    """Units left: unused codes for a voucher item with codes, else `stock` (None = unlimited)."""
    if item.kind == RewardKind.VOUCHER:
        codes = getattr(item, "available_codes", None)
        if codes is None:
            codes = VoucherCode.objects.filter(item=item, status=VoucherCode.Status.AVAILABLE).count()
        return codes if item.stock is None else min(codes, item.stock)
    return item.stock


def list_catalogue(program, customer=None, now=None, *, include_ineligible=True, balance=None):
    """Active items of the program in window, each annotated with `available_codes` and,
    with a customer, `eligibility` (None or the error) and `affordable` (against `balance`
    when the caller has read it, else the customer's account)."""
    now = now or timezone.now()
    items = list(
        RewardItem.objects.filter(program=program, active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .annotate(available_codes=Count("codes", filter=Q(codes__status=VoucherCode.Status.AVAILABLE)))
        .select_related("program")
        .prefetch_related("provider_products")
    )
    if customer is not None and balance is None:
        account = PointsAccount.objects.filter(customer=customer).first()
        balance = account.balance if account else 0
    return _with_eligibility(items, customer, balance, now, include_ineligible)


def list_portal_catalogue(customer, epoch, now=None):
    """The portal's catalogue page: (the customer's balance, 0 without an account, and the
    items as list_catalogue(customer.program, customer, now) lists them), in one statement.

    The items' descriptive rows come from the per-process cache under `epoch`
    (engagement.partner_api.keycache, read at the start of the request); only what changes
    without a signal is read live (_live_items): which items are active and in window,
    stock, unused codes, and the provider products of the items linked to some."""
    now = now or timezone.now()
    rows = _live_rows({"program": customer.program_id, "customer": customer.pk}, now)
    balance = rows[0][7]
    items = _live_items(rows, customer.program, epoch)
    return balance, _with_eligibility(items, customer, balance, now, include_ineligible=True)


def find_signed_in_catalogue(customer_id, program_id, epoch, now=None):
    """The portal's signed-in customer (rewards.portal_auth.SIGNED_IN_SOURCE: not erased,
    still in program `program_id`) with their program, and list_portal_catalogue's
    (balance, items) for them, in one statement: (customer, balance, items), or None when
    there is no such customer."""
    now = now or timezone.now()
    rows = _live_rows({"program": program_id, "customer": customer_id}, now, signed_in=True)
    if not rows:
        return None
    customer = portal_auth.customer_from_row(rows[0][8:])
    balance = rows[0][7]
    items = _live_items(rows, customer.program, epoch)
    return customer, balance, _with_eligibility(items, customer, balance, now, include_ineligible=True)


def _with_eligibility(items, customer, balance, now, include_ineligible):
    result = []
    for item in items:
        item.eligibility = eligibility_error(item, customer, now) if customer is not None else None
        item.affordable = customer is None or balance >= item.points_cost
        if include_ineligible or item.eligibility is None:
            result.append(item)
    return result


def _load_items(program):
    """{id: item} of all the program's items (no provider products)."""
    return {item.pk: item for item in RewardItem.objects.filter(program=program)}


def _cached_items(program, epoch):
    """_load_items from the per-process cache under `epoch`: shared and read-only."""
    return keycache.program_value(program, "reward_items", epoch, _load_items)


def _no_products():
    """An evaluated empty result, as prefetch_related stores one (an unevaluated none()
    would compile its SQL on every use)."""
    empty = ProviderProduct.objects.none()
    empty._result_cache, empty._prefetch_done = [], True
    return empty


def _request_copy(item):
    """copy.copy(item) without the pickling protocol's detour (Model.__reduce__, __getstate__,
    __setstate__ with its version check: most of a catalogue item's cost per request): its own
    attribute dict and model state, the related objects it caches copied as copy.copy does."""
    clone = RewardItem.__new__(RewardItem)
    clone.__dict__.update(item.__dict__)
    clone._state = state = ModelState()
    state.db, state.adding = item._state.db, item._state.adding
    if "fields_cache" in item._state.__dict__:
        state.fields_cache = item._state.fields_cache.copy()
    return clone


def _live_rows(params, now, *, signed_in=False):
    """The live columns of params["program"]'s items that are active and in window now, in
    catalogue order, then the balance of params["customer"] (0 without an account): one row
    per item, or one without an item (id None) when none is. `signed_in`: the customer as
    the portal's signed-in one in that program, portal_auth.signed_in_columns() last (no
    row without that customer)."""
    customer_columns, source = "", "(SELECT 1) AS one"
    if signed_in:
        # On the first row only (NULL on the others): loading the same 44 values again per
        # item cost more than the customer's own statement saved.
        customer_columns = "".join(
            f", CASE WHEN COALESCE(item.n, 1) = 1 THEN {column} END" for column in portal_auth.signed_in_columns()
        )
        source = portal_auth.SIGNED_IN_SOURCE
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT item.id, item.active, item.valid_from, item.valid_until, item.stock, item.codes,
                   item.has_products,
                   COALESCE((SELECT balance FROM {PointsAccount._meta.db_table}
                              WHERE customer_id = %(customer)s), 0){customer_columns}
              FROM {source}
              LEFT JOIN LATERAL (
                   SELECT item.id, item.active, item.valid_from, item.valid_until, item.stock,
                          item.position, item.points_cost,
                          row_number() OVER (ORDER BY item.position, item.points_cost, item.id) AS n,
                          (SELECT count(*) FROM {VoucherCode._meta.db_table} code
                            WHERE code.item_id = item.id AND code.status = %(available)s) AS codes,
                          EXISTS (SELECT 1 FROM {RewardItem.provider_products.through._meta.db_table} link
                                   WHERE link.rewarditem_id = item.id) AS has_products
                     FROM {RewardItem._meta.db_table} item
                    WHERE item.program_id = %(program)s AND item.active
                      AND (item.valid_from IS NULL OR item.valid_from <= %(now)s)
                      AND (item.valid_until IS NULL OR item.valid_until > %(now)s)
                   ) item ON true
             ORDER BY item.n
            """,
            {**params, "available": VoucherCode.Status.AVAILABLE, "now": now},
        )
        return cursor.fetchall()


def _live_items(rows, program, epoch):
    """Per-request copies of the cached items of _live_rows's `rows`, in their order, with
    stock, `available_codes` and provider products read live."""
    rows = [row[:7] for row in rows if row[0] is not None]
    cached = _cached_items(program, epoch)
    if any(row[0] not in cached for row in rows):
        # An item created after this request read its epoch: read them all, this once (the
        # creation moved the epoch, so the next request reloads the cache itself).
        cached = _load_items(program)
    items, linked = [], []
    no_products = _no_products()  # one per request, shared by its unlinked items (never changed)
    for item_id, active, valid_from, valid_until, stock, codes, has_products in rows:
        item = _request_copy(cached[item_id])  # own attributes per request; the shared row stays as is
        item.active, item.valid_from, item.valid_until, item.stock = active, valid_from, valid_until, stock
        item.available_codes = codes
        item.program = program
        if has_products:
            linked.append(item)
        else:
            item._prefetched_objects_cache = {"provider_products": no_products}
        items.append(item)
    prefetch_related_objects(linked, "provider_products")
    return items


def get_item(program, item_id):
    """The program's item by id or None (never another program's)."""
    try:
        return RewardItem.objects.select_related("program").get(program=program, pk=int(item_id))
    except (RewardItem.DoesNotExist, ValueError, TypeError):
        return None

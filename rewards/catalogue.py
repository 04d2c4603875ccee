"""Catalogue reads: which rewards a customer may see and redeem, and why not.

Eligibility: active, inside its validity dates, in stock (or with unused codes), and - when
the item lists tiers or segments - the customer's tier name or RFM segment is one of them.
The segment comes from `customer.score.segment` (engagement scoring); a customer without a
score has no segment.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q
from django.utils import timezone

from rewards.errors import ItemUnavailable, NotEligible, OutOfStock
from rewards.models import RewardItem, RewardKind, VoucherCode
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


def list_catalogue(program, customer=None, now=None, *, include_ineligible=True):
    """Active items of the program in window, each annotated with `available_codes` and,
    with a customer, `eligibility` (None or the error) and `affordable`."""
    now = now or timezone.now()
    items = (
        RewardItem.objects.filter(program=program, active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .annotate(available_codes=Count("codes", filter=Q(codes__status=VoucherCode.Status.AVAILABLE)))
        .select_related("program")
        .prefetch_related("provider_products")
    )
    result = []
    balance = None
    if customer is not None:
        from rewards.models import PointsAccount

        account = PointsAccount.objects.filter(customer=customer).first()
        balance = account.balance if account else 0
    for item in items:
        item.eligibility = eligibility_error(item, customer, now) if customer is not None else None
        item.affordable = balance is None or balance >= item.points_cost
        if include_ineligible or item.eligibility is None:
            result.append(item)
    return result


def get_item(program, item_id):
    """The program's item by id or None (never another program's)."""
    try:
        return RewardItem.objects.select_related("program").get(program=program, pk=int(item_id))
    except (RewardItem.DoesNotExist, ValueError, TypeError):
        return None

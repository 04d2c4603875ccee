"""Cart evaluation (a read: nothing is written): the discounts the codes give, the points
the order earns under the earning rules, and how many points may pay for it.

Order of the computation: line totals -> codes applied in the order given (each on the
lines' current nets) -> nets -> points earned on the nets (rules.py) -> points that may pay
the rest (CheckoutSettings: point value, share of the order, min/max per order, step).
Texts (promotion titles, refusal reasons) are in the active language: the API activates
the customer's.
"""

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from babel.numbers import get_currency_precision
from django.db import connection
from django.utils import timezone
from django.utils.translation import get_language

from rewards.checkout import promotions, rules
from rewards.checkout.models import CheckoutSettings, Reservation
from rewards.models import CustomerTier, PointsAccount, RewardsSettings, Tier


def currency_places(currency: str) -> int:
    """Decimal places of an ISO 4217 currency (JPY 0, MYR 2, KWD 3)."""
    return int(get_currency_precision(currency))


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_places(currency))


def points_state(customer) -> tuple[int, int, Decimal]:
    """(balance, held points, tier earn multiplier) of the customer in one query: what an
    evaluation reads per request. Plain SQL: the ORM's three correlated subqueries cost more
    CPU to build than the database spends answering them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT balance FROM {PointsAccount._meta.db_table} WHERE customer_id = %(id)s),
                   (SELECT sum(points) FROM {Reservation._meta.db_table}
                     WHERE customer_id = %(id)s AND status = %(held)s),
                   (SELECT tier.earn_multiplier
                      FROM {CustomerTier._meta.db_table} ct JOIN {Tier._meta.db_table} tier ON tier.id = ct.tier_id
                     WHERE ct.customer_id = %(id)s)
            """,
            {"id": customer.pk, "held": Reservation.Status.HELD},
        )
        balance, held, multiplier = cursor.fetchone()
    return balance or 0, int(held or 0), multiplier if multiplier is not None else Decimal(1)


def list_held_reservations(customer) -> list[Reservation]:
    """The customer's open holds, oldest first (the portal's history shows them)."""
    return list(Reservation.objects.filter(customer=customer, status=Reservation.Status.HELD).order_by("created_at"))


@dataclass
class Evaluation:
    lines: list[rules.Line]
    earned: list[rules.LineEarn]
    applied: list[promotions.Applied]
    refused: list[tuple[int, str, str]]
    points_earned: int
    balance: int
    held: int
    max_points: int
    max_points_value: Decimal
    limit: str
    currency: str

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))


def spendable_points(program, total: Decimal, balance: int, applied) -> tuple[int, str]:
    """(most points that may pay an order of `total`, what limits it)."""
    settings = CheckoutSettings.get_for(program)
    if any(not a.promotion.allow_points for a in applied):
        return 0, "promotion"
    by_share = math.floor(total * settings.max_order_share_percent / 100 / settings.point_value)
    limits = [(balance, "balance"), (by_share, "order_value")]
    if settings.max_points_per_order:
        limits.append((settings.max_points_per_order, "max_per_order"))
    points, limit = min(limits, key=lambda pair: pair[0])
    points -= points % settings.points_step
    if points < settings.min_points_per_order:
        return 0, "min_per_order"
    return max(points, 0), limit


def points_value(program, points: int) -> Decimal:
    """What `points` pay, rounded down to the currency's unit."""
    value = points * CheckoutSettings.get_for(program).point_value
    return value.quantize(quantum(program.currency), ROUND_DOWN)


def evaluate_cart(program, customer, lines: list[rules.Line], codes: list[str], *, now=None) -> Evaluation:
    """Evaluate a cart for the customer (lines without discounts). Reads only."""
    now = now or timezone.now()
    unit = quantum(program.currency)
    discounts = [Decimal(0)] * len(lines)
    applied, refused = promotions.check_codes(program, customer, codes, lines, discounts, unit, now)
    refused = [(i, code, reason) for i, code, reason in refused]
    nets = [
        rules.Line(line.sku, line.category, line.quantity, line.unit_price, line.tags, discounts[i])
        for i, line in enumerate(lines)
    ]
    account, held, multiplier = points_state(customer)
    rate = RewardsSettings.get_for(program).points_per_currency_unit
    earned_total, earned = rules.earn_lines(
        nets, rate=rate, tier_multiplier=multiplier, rules=rules.load_rules(program)
    )
    total = sum((line.net for line in nets), Decimal(0))
    max_points, limit = spendable_points(program, total, account, applied)
    return Evaluation(
        lines=nets, earned=earned, applied=applied, refused=refused, points_earned=earned_total, balance=account,
        held=held, max_points=max_points, max_points_value=points_value(program, max_points),
        limit=limit, currency=program.currency,
    )  # fmt: skip


def money(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(quantum(currency)))


def to_dict(evaluation: Evaluation, customer) -> dict:
    """The evaluation as the API answers it (money as strings in the currency's places)."""
    cur = evaluation.currency
    language = (get_language() or "en").split("-")[0]
    return {
        "customer": customer.external_id,
        "currency": cur,
        "subtotal": money(evaluation.subtotal, cur),
        "discount_total": money(evaluation.subtotal - evaluation.total, cur),
        "total": money(evaluation.total, cur),
        "lines": [
            {
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "tags": list(line.tags),
                "unit_price": money(line.unit_price, cur),
                "total": money(line.total, cur),
                "discount": money(line.discount, cur),
                "net": money(line.net, cur),
                "points": earn.points,
                "earning_multiplier": str(earn.multiplier),
                "excluded": earn.excluded,
            }
            for line, earn in zip(evaluation.lines, evaluation.earned, strict=True)
        ],  # fmt: skip
        "discounts": [
            {
                "code": a.code.code,
                "promotion": a.promotion.pk,
                "level": a.promotion.level,
                "amount": money(a.amount, cur),
                "reason": a.promotion.title(language),
                "lines": sorted(a.line_amounts),
            }
            for a in evaluation.applied
        ],  # fmt: skip
        "refused_codes": [
            {"code": code, "reason": reason, "detail": promotions.reason_text(reason), "index": i}
            for i, code, reason in evaluation.refused
        ],
        "points": {
            "earned": evaluation.points_earned,
            "balance": evaluation.balance,
            "held": evaluation.held,
            "max_spendable": evaluation.max_points,
            "max_spendable_value": money(evaluation.max_points_value, cur),
            "limited_by": evaluation.limit,
        },
    }

"""Demo data of checkout (demo step 30, after rewards): earning rules, the spending
settings, a promotion with a shared code (SPRING10) and a pool of 1,000 single-use codes,
and an order of the demo customer paid partly with points. Idempotent (get_or_create and
fixed order ids)."""

from decimal import Decimal

from engagement.models import Customer
from rewards.checkout import pools, reservations
from rewards.checkout.evaluation import evaluate_cart
from rewards.checkout.models import CheckoutSettings, CodePool, EarningRule, Promotion, PromotionCode, Reservation
from rewards.checkout.rules import Line
from rewards.demo import DEMO_CUSTOMER

RULES = [
    ("Coffee beans earn double", "category", "beans", Decimal("2"), False),
    ("Gift cards earn nothing", "category", "gift-cards", Decimal("1"), True),
    ("Clearance earns half", "tag", "clearance", Decimal("0.5"), False),
]
DEMO_ORDER = "demo-order-1001"


def load_demo(program, progress):
    CheckoutSettings.get_for(program)
    for name, target, value, multiplier, excluded in RULES:
        EarningRule.objects.get_or_create(
            program=program, target=target, value=value,
            defaults={"name": name, "multiplier": multiplier, "excluded": excluded},
        )  # fmt: skip
    promotion, _created = Promotion.objects.get_or_create(
        program=program, name="Spring sale",
        defaults={"title_en": "Spring sale: 10% off", "title_ar": "تخفيضات الربيع: خصم 10%",
                  "title_ms": "Jualan musim bunga: diskaun 10%", "kind": "percent", "value": Decimal("10"),
                  "level": "order", "min_order_value": Decimal("30"), "max_uses_per_customer": 1},
    )  # fmt: skip
    PromotionCode.objects.get_or_create(
        program=program, code="SPRING10", defaults={"promotion": promotion, "max_uses": 0}
    )
    pool, created = CodePool.objects.get_or_create(
        program=program, promotion=promotion, name="Spring flyer codes",
        defaults={"prefix": "SPR-", "length": 8, "count": 1000, "uses_per_code": 1},
    )  # fmt: skip
    if created or pool.status != CodePool.Status.READY:
        pools.generate_codes(pool.pk)
    _order_paid_with_points(program)


def _order_paid_with_points(program):
    """RM 48.00 of beans with SPRING10, 1,500 points (RM 15.00) paying part of it."""
    customer = Customer.objects.filter(program=program, external_id=DEMO_CUSTOMER).first()
    if customer is None or Reservation.objects.filter(program=program, order_id=DEMO_ORDER).exists():
        return
    lines = [Line("BEANS-250", "beans", 2, Decimal("24.00"))]
    # At most what the demo customer may spend (their balance depends on the demo's purchases).
    points = min(1500, evaluate_cart(program, customer, lines, ["SPRING10"]).max_points)
    if points <= 0:
        return
    reservation, _created = reservations.reserve_points(
        program=program, customer=customer, order_id=DEMO_ORDER, lines=lines, codes=["SPRING10"], points=points
    )
    reservations.confirm_reservation(program, reservation.pk)

"""Demo data of rewards (demo step 20): settings, tiers, a catalogue with voucher pools,
base points for every demo purchase (set-based, in bulk), tiers, and a few redemptions.

The known demo customer is cust-0001 (cust-0001@example.com): points, a tier, points
expiring soon and two voucher codes. Idempotent: fixed keys and get_or_create throughout.
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from engagement.models import Customer, Event
from rewards import activity, earning, fulfilment, ledger, tiers
from rewards.errors import RewardsError
from rewards.models import (
    Charity,
    Fulfilment,
    LedgerEntry,
    RewardItem,
    RewardKind,
    RewardsSettings,
    Tier,
    VoucherCode,
)
from rewards.redemptions import grant_reward, redeem_reward

DEMO_CUSTOMER = "cust-0001"
CHUNK = 2000

TIERS = [
    ("Bronze", "برونزي", "Gangsa", 0, "1.00"),
    ("Silver", "فضي", "Perak", 800, "1.25"),
    ("Gold", "ذهبي", "Emas", 2500, "1.50"),
]

ITEMS = [
    # kind, cost, value, stock, tiers, (en, ar, ms), (description en, ar, ms), code prefix
    (RewardKind.VOUCHER, 150, "8.00", None, [], ("Free iced kopi", "قهوة مثلجة مجانية", "Kopi ais percuma"),
     ("Any size, any outlet.", "أي حجم، في أي فرع.", "Sebarang saiz, di mana-mana cawangan."), "KOPI"),
    (RewardKind.VOUCHER, 400, "20.00", None, [], ("RM20 off your next order", "خصم 20 رنجت على طلبك القادم",
     "Diskaun RM20 untuk pesanan seterusnya"), ("Minimum spend RM60.", "حد أدنى للشراء 60 رنجت.",
     "Perbelanjaan minimum RM60."), "RM20"),
    (RewardKind.MERCHANDISE, 900, "45.00", 25, [], ("Acme tumbler", "كوب أكمي الحراري", "Tumbler Acme"),
     ("Keeps drinks hot for 6 hours.", "يحافظ على سخونة المشروبات 6 ساعات.", "Kekalkan minuman panas 6 jam."), ""),
    (RewardKind.DONATION, 200, "10.00", None, [], ("Donate a meal", "تبرّع بوجبة", "Dermakan sehidang makanan"),
     ("We give RM10 to a food bank.", "نتبرع بـ10 رنجت لبنك الطعام.", "Kami derma RM10 kepada bank makanan."), ""),
    (RewardKind.EXPERIENCE, 2000, "120.00", 10, ["Gold"], ("Barista masterclass", "دورة باريستا احترافية",
     "Kelas induk barista"), ("A morning with our head roaster.", "صباح مع كبير المحمصين لدينا.",
     "Sepagi bersama ketua pemanggang kami."), ""),
    (RewardKind.GIFT_CARD, 1000, "50.00", 50, ["Silver", "Gold"], ("RM50 gift card", "بطاقة هدية 50 رنجت",
     "Kad hadiah RM50"), ("Sent to your email.", "تُرسل إلى بريدك.", "Dihantar ke e-mel anda."), ""),
]  # fmt: skip


def load_demo(program, progress):
    RewardsSettings.objects.get_or_create(program=program, defaults={"return_window_days": 14})
    ensure_tiers(program)
    items = ensure_catalogue(program)
    earn_purchase_points(program, progress)
    tiers.recompute_tiers(program)
    ensure_demo_customer(program, items)
    ensure_redemptions(program, items)
    ensure_fulfilments(program, items)
    tiers.recompute_tiers(program)


def ensure_tiers(program):
    for name, ar, ms, min_points, multiplier in TIERS:
        Tier.objects.get_or_create(
            program=program,
            name=name,
            defaults={"name_ar": ar, "name_ms": ms, "min_points": min_points, "earn_multiplier": Decimal(multiplier)},
        )


def ensure_catalogue(program):
    items = []
    for position, (kind, cost, value, stock, tier_names, titles, texts, prefix) in enumerate(ITEMS):
        item, created = RewardItem.objects.get_or_create(
            program=program,
            title_en=titles[0],
            defaults={
                "kind": kind, "points_cost": cost, "cash_value": Decimal(value), "stock": stock,
                "eligible_tiers": tier_names, "title_ar": titles[1], "title_ms": titles[2],
                "description_en": texts[0], "description_ar": texts[1], "description_ms": texts[2],
                "position": position,
            },
        )  # fmt: skip
        if created and prefix:
            VoucherCode.objects.bulk_create(
                [VoucherCode(program=program, item=item, code=f"{prefix}-{n:05d}", batch="demo") for n in range(300)],
                ignore_conflicts=True,
            )
        items.append(item)
    return items


def earn_purchase_points(program, progress):
    """Base points for every demo purchase. Processing already earned them as the events
    arrived; this catches up (e.g. events loaded before rewards existed) in bulk, set-based:
    bulk_grant skips keys already in the ledger."""
    # Only the purchases without their earn entry (none on a rerun): the same keys as the rule's.
    earned = set(
        LedgerEntry.objects.filter(program=program, idempotency_key__startswith="earn:purchase:").values_list(
            "idempotency_key", flat=True
        )
    )
    purchases = Event.objects.filter(program=program, type="purchase").order_by("id").values_list("id", "event_id")
    ids = [pk for pk, event_id in purchases if f"earn:purchase:{event_id}" not in earned]
    with progress(total=len(ids), desc="purchase points", unit="ev") as bar:
        for start in range(0, len(ids), CHUNK):
            chunk = list(Event.objects.filter(pk__in=ids[start : start + CHUNK]).select_related("customer"))
            earning.earn_for_purchases(program, chunk)
            bar.update(len(chunk))


def ensure_demo_customer(program, items):
    customer = Customer.objects.get(program=program, external_id=DEMO_CUSTOMER)
    ledger.grant_points(
        customer=customer,
        points=1500,
        reason=activity.Reason(activity.WELCOME, "Welcome to the demo"),
        idempotency_key="demo:welcome:cust-0001",
    )
    ledger.grant_points(
        customer=customer,
        points=120,
        reason=activity.Reason(activity.BIRTHDAY, "Birthday bonus"),
        idempotency_key="demo:birthday:cust-0001",
        expires_at=timezone.now() + timedelta(days=10),
    )
    for n, item in enumerate(items[:2]):
        _redeem(customer, item, f"demo:redeem:cust-0001:{n}")


def ensure_redemptions(program, items):
    """A few redemptions by busy demo customers (fixed ids and keys: a rerun adds none)."""
    ids = [f"cust-{n:04d}" for n in range(2, 22)]
    for n, customer in enumerate(Customer.objects.filter(program=program, external_id__in=ids).order_by("external_id")):
        _redeem(customer, items[n % 4], f"demo:redeem:{customer.external_id}")


CHARITIES = [
    ("Food Aid Malaysia", "بنك الطعام الماليزي", "Bank Makanan Malaysia", "PPM-001-10-2015"),
    ("Clean Rivers Trust", "صندوق الأنهار النظيفة", "Tabung Sungai Bersih", "PPM-002-14-2019"),
]
ADDRESS = {
    "ship_line1": "12 Jalan Ampang", "ship_city": "Kuala Lumpur", "ship_region": "WP Kuala Lumpur",
    "ship_postcode": "50450", "ship_country": "MY", "ship_phone": "+60 12-345 6789",
}  # fmt: skip
# (reward index in ITEMS, the moves after redeeming): one redemption in each state.
FULFILMENTS = [
    (2, []), (2, ["shipped"]), (2, ["shipped", "delivered"]), (2, ["shipped", "returned"]),
    (3, []), (3, ["donated"]), (4, []), (4, ["booked"]),
]  # fmt: skip


def ensure_fulfilments(program, items):
    """Charities, and a merchandise, donation and experience redemption in each fulfilment
    state (customers cust-0030..; fixed keys, and a move is made only from the status before
    it, so a rerun adds nothing)."""
    charities = [
        Charity.objects.get_or_create(
            program=program, name_en=en, defaults={"name_ar": ar, "name_ms": ms, "registration": reg}
        )[0]
        for en, ar, ms, reg in CHARITIES
    ]
    ids = [f"cust-{n:04d}" for n in range(30, 30 + len(FULFILMENTS))]
    customers = list(Customer.objects.filter(program=program, external_id__in=ids).order_by("external_id"))
    for n, (customer, (index, moves)) in enumerate(zip(customers, FULFILMENTS, strict=False)):
        item, key = items[index], f"demo:fulfilment:{customer.external_id}"
        details = {**ADDRESS, "ship_name": customer.name or customer.external_id, "charity": charities[n % 2]}
        ledger.grant_points(
            customer=customer, points=item.points_cost, reason=activity.Reason(activity.WELCOME, "Demo points"),
            idempotency_key=f"{key}:points",
        )  # fmt: skip
        try:
            if item.eligible_tiers:  # the Gold-only masterclass: a gift, past the tier check
                redemption = grant_reward(customer=customer, item=item, idempotency_key=key, source="admin")
            else:
                redemption = redeem_reward(
                    customer=customer, item=item, idempotency_key=key, channel="demo", fulfilment=details
                )
        except RewardsError:
            continue
        _move_demo_fulfilment(redemption, moves, n)


def _move_demo_fulfilment(redemption, moves, n):
    steps = {
        "shipped": lambda pk: fulfilment.mark_shipped(pk, carrier="Pos Laju", tracking_number=f"EP{n:09d}MY"),
        "delivered": fulfilment.mark_delivered,
        "returned": lambda pk: fulfilment.mark_returned(pk, reason="Parcel refused"),
        "donated": fulfilment.mark_donated,
        "booked": lambda pk: fulfilment.mark_booked(pk, booking_code=f"BARISTA-{n:04d}"),
    }
    record = Fulfilment.objects.filter(redemption=redemption).first()
    for before, move in zip(["requested", *moves], moves, strict=False):
        if record is not None and record.status == before:
            record = steps[move](record.pk)


def _redeem(customer, item, key):
    try:
        return redeem_reward(customer=customer, item=item, idempotency_key=key, channel="demo")
    except RewardsError:
        return None  # e.g. not enough points on a rerun with other data: the demo goes on

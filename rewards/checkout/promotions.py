"""Promotion codes: checking codes against a cart (no side effects), computing their
discounts, and counting uses exactly once (claim and release, called by reservations).

Counting: a use is a conditional `UPDATE ... SET uses = uses + 1 WHERE uses < max_uses` on
the code and on its promotion (CHECK constraints back both), so of 100 concurrent uses of a
single-use code exactly one updates a row. Per-customer caps are counted under the
customer's points-account lock, which every reservation takes first.
"""

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from django.db.models import F, Q
from django.utils.translation import gettext as _

from engagement.models import CustomerScore
from rewards.checkout.errors import CodesRefused
from rewards.checkout.models import CodeUse, DiscountKind, DiscountLevel, Promotion, PromotionCode
from rewards.checkout.rules import Line

MAX_CODES = 10


def normalise(code: str) -> str:
    return code.strip().upper()


def _reasons():
    # Resolved when asked, in the active language (the customer's).
    return {
        "not_found": _("No such code."),
        "inactive": _("This promotion is not active."),
        "not_started": _("This code cannot be used yet."),
        "expired": _("This code has expired."),
        "exhausted": _("This code has been used up."),
        "promotion_exhausted": _("This promotion has been used up."),
        "customer_limit": _("You have already used this promotion as often as allowed."),
        "min_order_value": _("The order is below this promotion's minimum."),
        "tier_not_eligible": _("This promotion is not available for your tier."),
        "segment_not_eligible": _("This promotion is not available to you."),
        "no_eligible_lines": _("Nothing in the cart is eligible for this promotion."),
        "not_stackable": _("This code cannot be combined with another code in the cart."),
        "duplicate": _("This code or promotion is already in the cart."),
    }


def reason_text(code: str) -> str:
    return str(_reasons()[code])


@dataclass
class Applied:
    code: PromotionCode
    promotion: Promotion
    amount: Decimal = Decimal(0)
    line_amounts: dict[int, Decimal] = field(default_factory=dict)
    index: int = 0  # of the code in the request


def find_codes(program, codes: list[str]) -> dict[str, PromotionCode]:
    wanted = {normalise(c) for c in codes}
    rows = PromotionCode.objects.filter(program=program, code__in=wanted).select_related("promotion")
    return {row.code: row for row in rows}


def code_state(row: PromotionCode | None, now) -> str | None:
    """The reason a code cannot be used by anyone now (None: it can)."""
    if row is None:
        return "not_found"
    promotion = row.promotion
    if not promotion.active:
        return "inactive"
    if promotion.starts_at and now < promotion.starts_at:
        return "not_started"
    if promotion.ends_at and now >= promotion.ends_at:
        return "expired"
    if row.max_uses and row.uses >= row.max_uses:
        return "exhausted"
    if promotion.max_uses and promotion.uses >= promotion.max_uses:
        return "promotion_exhausted"
    return None


def eligible_line(promotion: Promotion, line: Line) -> bool:
    if promotion.eligible_skus and line.sku not in promotion.eligible_skus:
        return False
    return not promotion.eligible_categories or line.category in promotion.eligible_categories


def customer_state(promotion: Promotion, customer, subtotal: Decimal) -> str | None:
    """The reason this customer (and this order's value) may not use the promotion."""
    if subtotal < promotion.min_order_value:
        return "min_order_value"
    if promotion.eligible_tiers and customer.tier not in promotion.eligible_tiers:
        return "tier_not_eligible"
    if promotion.eligible_segments:
        segment = CustomerScore.objects.filter(customer=customer).values_list("segment", flat=True).first()
        if segment not in promotion.eligible_segments:
            return "segment_not_eligible"
    if promotion.max_uses_per_customer:
        used = CodeUse.objects.filter(promotion=promotion, customer=customer, released=False).count()
        if used >= promotion.max_uses_per_customer:
            return "customer_limit"
    return None


def _share_out(total: Decimal, nets: dict[int, Decimal], quantum: Decimal) -> dict[int, Decimal]:
    """Split `total` over lines in proportion to their nets, rounded down to the currency's
    unit; the cents left over go to the lines in order (never beyond a line's net)."""
    base = sum(nets.values())
    shares = {i: (total * net / base).quantize(quantum, ROUND_DOWN) for i, net in nets.items()} if base else {}
    left = total - sum(shares.values())
    for i, net in nets.items():
        if left <= 0:
            break
        extra = min(left, net - shares[i])
        shares[i] += extra
        left -= extra
    return shares


def discount_lines(promotion: Promotion, nets: dict[int, Decimal], quantum: Decimal) -> dict[int, Decimal]:
    """The discount of each eligible line (index -> amount) for current nets."""
    value = promotion.value
    if promotion.level == DiscountLevel.LINE:
        if promotion.kind == DiscountKind.PERCENT:
            return {i: (net * value / 100).quantize(quantum, ROUND_DOWN) for i, net in nets.items()}
        return {i: min(value, net) for i, net in nets.items()}
    eligible = sum(nets.values())
    if promotion.kind == DiscountKind.PERCENT:
        total = (eligible * value / 100).quantize(quantum, ROUND_DOWN)
    else:
        total = min(value, eligible)
    return _share_out(total, nets, quantum)


def _eligible_nets(promotion, lines, discounts) -> dict[int, Decimal]:
    """Current nets (index -> amount > 0) of the lines the promotion applies to."""
    nets = {i: line.total - discounts[i] for i, line in enumerate(lines) if eligible_line(promotion, line)}
    return {i: net for i, net in nets.items() if net > 0}


def _refusal(row, customer, subtotal, nets, applied, now) -> str | None:
    """Why this code cannot join the codes applied so far (None: it can)."""
    reason = code_state(row, now)
    if reason is None and any(a.code.pk == row.pk or a.promotion.pk == row.promotion_id for a in applied):
        reason = "duplicate"
    if reason is None:
        reason = customer_state(row.promotion, customer, subtotal)
    if reason is None and not nets:
        reason = "no_eligible_lines"
    if reason is None and applied and not (row.promotion.stackable and all(a.promotion.stackable for a in applied)):
        reason = "not_stackable"
    return reason


def check_codes(program, customer, codes, lines, discounts, quantum, now):
    """Apply the codes in the order given to the lines, updating `discounts` (index -> amount).
    Returns (applied, refused) with refused = [(index, code, reason)]; writes nothing."""
    found = find_codes(program, codes)
    subtotal = sum((line.total for line in lines), Decimal(0))
    applied: list[Applied] = []
    refused: list[tuple[int, str, str]] = []
    for index, raw in enumerate(codes):
        row = found.get(normalise(raw))
        nets = _eligible_nets(row.promotion, lines, discounts) if row is not None else {}
        if reason := _refusal(row, customer, subtotal, nets, applied, now):
            refused.append((index, raw, reason))
            continue
        amounts = {i: a for i, a in discount_lines(row.promotion, nets, quantum).items() if a > 0}
        for i, amount in amounts.items():
            discounts[i] += amount
        applied.append(Applied(row, row.promotion, sum(amounts.values(), Decimal(0)), amounts, index))
    return applied, refused


def claim_codes(reservation, customer, applied: list[Applied]) -> None:
    """Count one use of each applied code and its promotion for the reservation, or raise
    CodesRefused (the caller's transaction rolls every claim back). The caller holds the
    customer's account lock (per-customer caps are counted under it). Lock order: codes by
    pk, then promotions by pk (two carts with the same two codes never deadlock)."""
    reasons: dict[int, str] = {}
    for item in applied:
        if reason := customer_state(item.promotion, customer, Decimal("Infinity")):
            reasons[item.index] = reason
    for item in sorted(applied, key=lambda a: a.code.pk):
        if item.index not in reasons and not _count_use(PromotionCode, item.code.pk):
            reasons[item.index] = "exhausted"
    for item in sorted(applied, key=lambda a: a.promotion.pk):
        if item.index not in reasons and not _count_use(Promotion, item.promotion.pk):
            reasons[item.index] = "promotion_exhausted"
    if reasons:
        raise CodesRefused([(i, reason, reason_text(reason)) for i, reason in sorted(reasons.items())])
    CodeUse.objects.bulk_create(
        CodeUse(
            program_id=reservation.program_id, code=item.code, promotion=item.promotion, customer=customer,
            reservation=reservation, discount=item.amount,
        )
        for item in applied
    )  # fmt: skip


def _count_use(model, pk) -> bool:
    # Conditional UPDATE: under concurrency the row lock serialises the increments and the
    # condition is re-checked on the newest row, so a cap is never passed.
    return bool(model.objects.filter(Q(max_uses=0) | Q(uses__lt=F("max_uses")), pk=pk).update(uses=F("uses") + 1))


def release_codes(reservation) -> None:
    """Give back the uses a reservation counted (its hold ended unpaid). Idempotent."""
    uses = list(CodeUse.objects.filter(reservation=reservation, released=False).order_by("code_id"))
    for use in uses:
        PromotionCode.objects.filter(pk=use.code_id).update(uses=F("uses") - 1)
        Promotion.objects.filter(pk=use.promotion_id).update(uses=F("uses") - 1)
    CodeUse.objects.filter(pk__in=[u.pk for u in uses]).update(released=True)

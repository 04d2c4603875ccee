"""Earning rules: the one computation of the points a cart earns, used by cart evaluation
(a preview) and by rewards.earning for purchase events (the real earn), so they agree.

Points of a line = floor(net x points_per_currency_unit x tier multiplier x rule multiplier),
net = quantity x unit price - the line's discount; the order earns the sum over its lines.
The most specific active rule matching a line wins: its SKU, then any of its tags, then its
category. An `excluded` rule makes the line earn nothing. A line no rule matches (an
unknown SKU) earns at the base rate.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from rewards.checkout.models import EarningRule, RuleTarget

ONE = Decimal(1)


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal
    tags: tuple[str, ...] = ()
    discount: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def net(self) -> Decimal:
        return self.total - self.discount


@dataclass
class LineEarn:
    points: int
    multiplier: Decimal
    excluded: bool
    rule: str | None


@dataclass
class RuleSet:
    """The active rules of a program, keyed by (target, value)."""

    rules: dict[tuple[str, str], EarningRule] = field(default_factory=dict)

    def match(self, line: Line) -> EarningRule | None:
        if rule := self.rules.get((RuleTarget.SKU, line.sku)):
            return rule
        for tag in line.tags:
            if rule := self.rules.get((RuleTarget.TAG, tag)):
                return rule
        return self.rules.get((RuleTarget.CATEGORY, line.category)) if line.category else None


def load_rules(program: Any) -> RuleSet:
    """The program's active earning rules: one query, then kept on the program instance as its
    settings are (the partner API's cached program is replaced whenever a rule changes:
    engagement.partner_api.keycache)."""
    found = getattr(program, "_earning_rules_cache", None)
    if found is None:
        rules = EarningRule.objects.filter(program=program, active=True)
        found = program._earning_rules_cache = RuleSet({(rule.target, rule.value): rule for rule in rules})
    return found


def earn_line(line: Line, *, rate: Decimal, tier_multiplier: Decimal, rules: RuleSet) -> LineEarn:
    rule = rules.match(line)
    if rule is not None and rule.excluded:
        return LineEarn(0, Decimal(0), True, rule.name)
    multiplier = rule.multiplier if rule is not None else ONE
    points = math.floor(max(line.net, Decimal(0)) * rate * Decimal(tier_multiplier) * multiplier)
    return LineEarn(points, multiplier, False, rule.name if rule is not None else None)


def earn_lines(
    lines: Iterable[Line], *, rate: Decimal, tier_multiplier: Decimal, rules: RuleSet
) -> tuple[int, list[LineEarn]]:
    """(total points, per line) for the lines: the sum of each line's floored points."""
    earned = [earn_line(line, rate=rate, tier_multiplier=tier_multiplier, rules=rules) for line in lines]
    return sum(e.points for e in earned), earned


def lines_from_properties(properties: Mapping[str, Any]) -> list[Line] | None:
    """The `lines` of a purchase event's properties as evaluation returned them (sku,
    category, quantity, unit_price, tags, discount); None when absent or malformed, and the
    purchase then earns on its value at the base rate."""
    raw = properties.get("lines") if isinstance(properties, Mapping) else None
    if not isinstance(raw, list) or not raw:
        return None
    lines = []
    try:
        for item in raw:
            quantity = item["quantity"]
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                return None
            tags = item.get("tags") or []
            if not isinstance(tags, list):
                return None
            lines.append(
                Line(
                    sku=str(item.get("sku") or ""),
                    category=str(item.get("category") or ""),
                    quantity=quantity,
                    unit_price=Decimal(str(item["unit_price"])),
                    tags=tuple(str(t) for t in tags),
                    discount=Decimal(str(item.get("discount") or "0")),
                )
            )
    except (KeyError, TypeError, InvalidOperation):
        return None
    if any(not line.unit_price.is_finite() or line.unit_price < 0 or line.discount < 0 for line in lines):
        return None
    return lines

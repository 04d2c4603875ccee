"""The value every metric returns (METRICS.md): value with numerator and denominator.

Rates are percentages 0..100; a rate whose denominator is zero is None ("no data").
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class MetricValue:
    value: Decimal | None
    numerator: Decimal | int | None = None
    denominator: Decimal | int | None = None
    unit: str = ""  # percent, count, money, seconds, years, score, points

    def as_dict(self):
        def out(x):
            return str(x) if isinstance(x, Decimal) else x

        return {
            "value": out(self.value),
            "numerator": out(self.numerator),
            "denominator": out(self.denominator),
            "unit": self.unit,
        }


def rate(numerator, denominator):
    """numerator / denominator x 100, or None when the denominator is zero."""
    if not denominator:
        return MetricValue(None, numerator or 0, denominator or 0, "percent")
    return MetricValue(Decimal(numerator) * 100 / Decimal(denominator), numerator, denominator, "percent")

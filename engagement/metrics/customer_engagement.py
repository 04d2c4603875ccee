"""The partner API's customer engagement read (`GET /api/v1/customers/{id}/engagement`) in
ONE statement: the customer's counters, score row, the program's latest usable BG/NBD fit
(or the one made with `as_of`), the customer's values under it and the per-type event
counts. Plain rows, no model instances: the hot partner read stays one round trip.

It answers what engagement.customers.get_customer, purchase_models.get_customer_value and
the CustomerScore / CustomerEventCount reads answered together (the API's test pins it).
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

from engagement.models import PurchaseModelFit

# The fit: as get_customer_value (a usable BG/NBD fit; the latest, or the one of `as_of`,
# unique per program, kind and as_of). The event counts in `type` order (the database's
# collation, as the ORM's order_by("type")), as three parallel arrays: psycopg then loads
# each value with the same types as the ORM (timestamptz as aware datetimes).
SQL = """
SELECT c.external_id, c.last_seen_at, c.event_count, c.purchase_count, c.revenue,
       s.customer_id IS NOT NULL, s.engagement_score, s.r_score, s.f_score, s.m_score,
       s.segment, s.churn_risk, s.scored_at,
       f.as_of, v.id IS NOT NULL, v.churn_risk, v.p_alive, v.expected_purchases_90d,
       v.expected_purchases_365d, v.expected_spend, v.predicted_clv,
       e.types, e.counts, e.last_ats
FROM engagement_customer c
LEFT JOIN engagement_customerscore s ON s.customer_id = c.id
LEFT JOIN LATERAL (
    SELECT fit.id, fit.as_of FROM engagement_purchasemodelfit fit
    WHERE fit.program_id = c.program_id AND fit.kind = %(kind)s AND fit.usable
      AND (%(as_of)s::date IS NULL OR fit.as_of = %(as_of)s::date)
    ORDER BY fit.as_of DESC LIMIT 1
) f ON TRUE
LEFT JOIN engagement_customermodelvalue v ON v.fit_id = f.id AND v.customer_id = c.id
LEFT JOIN LATERAL (
    SELECT array_agg(ec.type ORDER BY ec.type) AS types, array_agg(ec.count ORDER BY ec.type) AS counts,
           array_agg(ec.last_at ORDER BY ec.type) AS last_ats
    FROM engagement_customereventcount ec WHERE ec.customer_id = c.id
) e ON TRUE
WHERE c.program_id = %(program)s AND c.external_id = %(external_id)s
"""


@dataclass(frozen=True)
class Score:
    engagement_score: Decimal
    r_score: int | None
    f_score: int | None
    m_score: int | None
    segment: str
    churn_risk: Decimal
    scored_at: datetime


@dataclass(frozen=True)
class ModelValue:
    churn_risk: Decimal
    p_alive: float
    expected_purchases_90d: float
    expected_purchases_365d: float
    expected_spend: Decimal | None
    predicted_clv: Decimal | None


@dataclass(frozen=True)
class CustomerEngagement:
    external_id: str
    last_seen_at: datetime | None
    event_count: int
    purchase_count: int
    revenue: Decimal
    score: Score | None
    fit_as_of: date | None  # None: no usable fit (of that as_of)
    value: ModelValue | None  # None: no value under the fit (the rule applies)
    channels: list[tuple[str, int, datetime]]


def get_customer_engagement(program_id: int, external_id: str, as_of: date | None) -> CustomerEngagement | None:
    """The customer's engagement under the latest usable fit (or the one of `as_of`); None
    when the program has no customer with that external id. Reads only."""
    params: dict[str, int | str | date | None] = {
        "program": program_id,
        "external_id": external_id,
        "as_of": as_of,
        "kind": str(PurchaseModelFit.Kind.BGNBD),
    }
    with connection.cursor() as cursor:
        cursor.execute(SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    ext, last_seen_at, event_count, purchase_count, revenue, has_score, *score, fit_as_of, has_value = row[:15]
    value, (types, counts, last_ats) = row[15:21], row[21:]
    return CustomerEngagement(
        external_id=ext,
        last_seen_at=last_seen_at,
        event_count=event_count,
        purchase_count=purchase_count,
        revenue=revenue,
        score=Score(*score) if has_score else None,
        fit_as_of=fit_as_of,
        value=ModelValue(*value) if has_value else None,
        channels=list(zip(types, counts, last_ats, strict=True)) if types else [],
    )

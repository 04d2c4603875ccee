"""Conditions and audiences, turned into database filters (so evaluation stays set-based).

A condition is `{"field": ..., "op": ..., "value": ...}`. Customer fields:
`attributes.<key>`, `consent.<email|sms|whatsapp|push>`, `locale`, `tier`, `segment` (RFM
segment), `engagement_score`, `churn_risk`, `purchase_count`, `event_count`, `revenue`.
Event fields (trigger configs): `value` and `properties.<key>`.
Ops: eq, ne, in, not_in, gt, gte, lt, lte, exists. All conditions of a list must hold.
"""

import math
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from engagement.channels.models import Channel
from engagement.models import Customer

CHANNELS = tuple(Channel.values)
OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists")
COMPARISONS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
PLAIN_FIELDS = {
    "locale": "locale",
    "tier": "tier",
    "segment": "score__segment",
    "engagement_score": "score__engagement_score",
    "churn_risk": "score__churn_risk",
    "purchase_count": "purchase_count",
    "event_count": "event_count",
    "revenue": "revenue",
}
NUMERIC_FIELDS = {"engagement_score", "churn_risk", "purchase_count", "event_count", "revenue"}
# Bounds of the numbers a rule may hold: what the columns they meet can store, so no rule can
# make a query or a grant overflow (DecimalField(14, 2), the API's grant ceiling, int4 counts).
MAX_MONEY = Decimal("999999999999.99")
MAX_POINTS = 100_000_000
MAX_PERCENT = Decimal("1000")
MAX_COUNT = 1_000_000
MAX_JSON_INT = 2**53  # beyond it a JSON number loses precision (and int8 casts overflow)


class Field(str):
    """A message parameter that names another field of the rule by its path (e.g.
    `limits.per_customer`): shown as its key to the API, as its label in the builder."""


def key_of(attr):
    """The key a path ends with (`actions.0.config.points` -> `points`): how the API names it."""
    parts = [part for part in (attr or "").split(".") if part and not part.isdigit()]
    return parts[-1] if parts else ""


class ConditionError(ValueError):
    """A rule's problem at `attr` (its path inside the rule). The message is a translatable
    template: `%(name)s` is the field at `attr`, other `%(...)s` come from `params` (a `Field`
    names another field). `str()` names fields by their keys (the API's terms, in the active
    language); `render(label_of)` by what `label_of(path)` returns (the builder's labels)."""

    def __init__(self, message, attr=None, **params):
        self.template, self.attr, self.params = message, attr, params
        super().__init__(message)

    def render(self, label_of=key_of):
        values = {key: label_of(value) if isinstance(value, Field) else value for key, value in self.params.items()}
        return str(self.template) % {"name": label_of(self.attr or ""), **values}

    def __str__(self):
        return self.render()


def number(value, attr, *, low, high, integer=False, above=None):
    """`value` (an int, a float or a numeric string; never a bool) as a Decimal, if it is a
    finite number in [low, high] (and > `above` when given); else ConditionError naming `attr`.
    With `integer`, only whole JSON integers are accepted."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConditionError(_("%(name)s must be a number."), attr)
    if integer and not isinstance(value, int):
        raise ConditionError(_("%(name)s must be a whole number."), attr)
    try:
        parsed = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConditionError(_("%(name)s must be a number."), attr) from None
    if not parsed.is_finite():
        raise ConditionError(_("%(name)s must be a finite number."), attr)
    if parsed < low or parsed > high or (above is not None and parsed <= above):
        if above is not None:
            raise ConditionError(
                _("%(name)s must be more than %(low)s and at most %(high)s."), attr, low=above, high=high
            )
        raise ConditionError(_("%(name)s must be at least %(low)s and at most %(high)s."), attr, low=low, high=high)
    return parsed


def finite_json(value, attr):
    """Refuse non-finite floats (JSON 1e999 parses as infinity) and integers too large for
    JSON anywhere inside `value`, naming the path."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConditionError(_("%(name)s must be a finite number."), attr)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        raise ConditionError(_("%(name)s must be at most %(high)s in size."), attr, high=MAX_JSON_INT)
    if isinstance(value, dict):
        for key, item in value.items():
            finite_json(item, f"{attr}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_json(item, f"{attr}.{index}")


def _lookup_q(path, op, value):
    if op == "exists":
        return Q(**{f"{path}__isnull": not value})
    if op == "eq":
        return Q(**{path: value})
    if op == "ne":
        return ~Q(**{path: value})
    if op == "in":
        return Q(**{f"{path}__in": list(value)})
    if op == "not_in":
        return ~Q(**{f"{path}__in": list(value)})
    return Q(**{f"{path}__{COMPARISONS[op]}": value})


def validate_condition(condition, attr, *, event=False):
    """Raise ConditionError unless `condition` is a well-formed customer (or event) condition."""
    if not isinstance(condition, dict):
        raise ConditionError(_('%(name)s must be an object {"field", "op", "value"}.'), attr)
    field, op = condition.get("field"), condition.get("op", "eq")
    if not isinstance(field, str) or not field:
        raise ConditionError(_("%(name)s is required."), f"{attr}.field")
    if op not in OPS:
        raise ConditionError(_("%(name)s must be one of %(ops)s."), f"{attr}.op", ops=", ".join(OPS))
    if "value" not in condition:
        raise ConditionError(_("%(name)s is required."), f"{attr}.value")
    value = condition["value"]
    finite_json(value, f"{attr}.value")
    if op in ("in", "not_in") and not isinstance(value, list):
        raise ConditionError(_("%(name)s must be a list (separated by commas) for this operator."), f"{attr}.value")
    if op in COMPARISONS and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        raise ConditionError(_("%(name)s must be a number for this operator."), f"{attr}.value")
    if event:
        if field != "value" and not field.startswith("properties."):
            raise ConditionError(
                _("%(name)s: an event condition compares the event's value or a property."), f"{attr}.field"
            )
        if field == "value" and op in (*COMPARISONS, "eq", "ne"):
            number(value, f"{attr}.value", low=-MAX_MONEY, high=MAX_MONEY)
        return
    if field.startswith("consent."):
        if field.split(".", 1)[1] not in CHANNELS or op not in ("eq", "ne") or not isinstance(value, bool):
            raise ConditionError(
                _("%(name)s: a consent takes “is” or “is not” and yes or no; channels: %(channels)s."),
                attr,
                channels=", ".join(CHANNELS),
            )
    elif not field.startswith("attributes.") and field not in PLAIN_FIELDS:
        known = ", ".join(["attributes.<key>", "consent.<channel>", *PLAIN_FIELDS])
        raise ConditionError(
            _("%(name)s: unknown field %(field)s; use one of %(known)s."),
            f"{attr}.field",
            field=repr(field),
            known=known,
        )
    if field in NUMERIC_FIELDS and op in (*COMPARISONS, "eq", "ne"):
        number(value, f"{attr}.value", low=-MAX_MONEY, high=MAX_MONEY)


def validate_conditions(conditions, attr="conditions", *, event=False):
    if not isinstance(conditions, list):
        raise ConditionError(_("%(name)s must be a list of conditions."), attr)
    for index, condition in enumerate(conditions):
        validate_condition(condition, f"{attr}.{index}", event=event)


def customer_condition_q(condition, program, prefix=""):
    """One customer condition as a Q on Customer (or through `prefix`, e.g. "customer__")."""
    field, op, value = condition["field"], condition.get("op", "eq"), condition["value"]
    if field.startswith("consent."):
        channel = field.split(".", 1)[1]
        consented = Q(**{f"{prefix}consent_{channel}": True, f"{prefix}erased_at__isnull": True})
        return consented if (op == "eq") == bool(value) else ~consented
    if field.startswith("attributes."):
        path = prefix + "attributes__" + "__".join(field.split(".")[1:])
        return _lookup_q(path, op, value)
    if field == "locale":
        # An empty locale means the program's default: compare the effective locale.
        values = value if isinstance(value, list) else [value]
        matches_default = program.default_locale in values
        effective = Q(**{f"{prefix}locale__in": values})
        if matches_default:
            effective |= Q(**{f"{prefix}locale": ""})
        positive = op in ("eq", "in")
        return effective if positive else ~effective
    if field in NUMERIC_FIELDS and op in COMPARISONS:
        value = Decimal(str(value))
    return _lookup_q(prefix + PLAIN_FIELDS[field], op, value)


def audience_q(campaign, prefix=""):
    """The campaign's audience as a Q (attribute filters apply to every audience kind)."""
    q = Q()
    values = list(campaign.audience_values or [])
    kind = campaign.audience
    if kind == "segment":
        q &= Q(**{f"{prefix}attributes__segment__in": values})
    elif kind == "tier":
        q &= Q(**{f"{prefix}tier__in": values})
    elif kind == "rfm_segment":
        q &= Q(**{f"{prefix}score__segment__in": values})
    for key, value in (campaign.audience_attributes or {}).items():
        q &= Q(**{f"{prefix}attributes__{key}": value})
    return q


def campaign_customer_q(campaign, prefix=""):
    """Audience and conditions together: who this campaign may act on. Erased customers never."""
    q = audience_q(campaign, prefix) & Q(**{f"{prefix}erased_at__isnull": True})
    for condition in campaign.conditions or []:
        q &= customer_condition_q(condition, campaign.program, prefix)
    return q


def event_condition_q(condition):
    """An event condition (`value` or `properties.<key>`) as a Q on Event."""
    field, op, value = condition["field"], condition.get("op", "eq"), condition["value"]
    if field == "value":
        if op in COMPARISONS or op in ("eq", "ne"):
            value = Decimal(str(value))
        return _lookup_q("value", op, value)
    path = "properties__" + "__".join(field.split(".")[1:])
    return _lookup_q(path, op, value)


def matching_customer_ids(campaign, customer_ids):
    """The subset of `customer_ids` the campaign may act on now (one query)."""
    return set(
        Customer.objects.filter(program_id=campaign.program_id, id__in=list(customer_ids))
        .filter(campaign_customer_q(campaign))
        .values_list("id", flat=True)
    )

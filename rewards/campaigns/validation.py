"""Validation of a campaign's rule: the ONE place the API (through lifecycle) and the admin
form check a definition, so both refuse the same things with the same messages.

Input is the API's shape (docs/campaigns.md). `rule_errors` returns every problem as
[(attr, ConditionError)], attr naming the field (`trigger.config.min_value`,
`actions.0.config.points`, `limits.budget_points`); `validate` raises `CampaignInvalid` with
them. Each message is translatable; `str()` names fields by their keys (the API's terms), the
builder renders it with its fields' labels (ConditionError.render). Every number a rule
holds (values, points, percents, counts, budgets, delays, priority) must be finite and within
the bounds below, so no stored rule can make an evaluation overflow or fail to compare
(issue 13: a campaign with min_value "NaN" stalled a program's whole event processing).
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from engagement.errors import ValidationFailed
from rewards.campaigns.actions import validate_action
from rewards.campaigns.conditions import (
    MAX_COUNT,
    MAX_MONEY,
    ConditionError,
    Field,
    finite_json,
    number,
    validate_conditions,
)
from rewards.campaigns.models import Campaign
from rewards.campaigns.triggers import validate_trigger

LIMIT_FIELDS = {
    "per_customer": "per_customer_limit",
    "per_customer_period_days": "per_customer_period_days",
    "budget_points": "budget_points",
    "budget_money": "budget_money",
    "max_grants": "max_grants",
}
# Whole-number limits: (largest allowed). Points budgets stay far inside int8 even when spent
# by percent grants; counts inside the int4 columns that hold them.
MAX_LIMITS = {
    "per_customer": MAX_COUNT,
    "per_customer_period_days": 36_500,
    "budget_points": 10**12,
    "max_grants": 1_000_000_000,
}
CENT = Decimal("0.01")
MAX_PRIORITY = 1_000_000
MAX_DELAY_MINUTES = 60 * 24 * 365 * 10  # ten years


class CampaignInvalid(ValidationFailed):
    """Every problem found, as [(attr, message)] (`errors`); the API answers 400 listing each
    (engagement.errors, mapped once by the API's exception handler)."""

    def __init__(self, errors):
        super().__init__(problems=errors)
        self.errors = errors


def _check(errors, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ConditionError as exc:
        errors.append((exc.attr or "", exc))


def validate_audience(audience):
    if not isinstance(audience, dict):
        raise ConditionError(_("%(name)s must be an object {kind, values, attributes}."), "audience")
    kind = audience.get("kind", "all")
    if kind not in Campaign.Audience.values:
        raise ConditionError(
            _("%(name)s must be one of %(kinds)s."), "audience.kind", kinds=", ".join(Campaign.Audience.values)
        )
    values = audience.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConditionError(_("%(name)s must be a list of names."), "audience.values")
    if kind in ("segment", "tier", "rfm_segment") and not values:
        raise ConditionError(_("%(name)s: give at least one for this audience."), "audience.values")
    if not isinstance(audience.get("attributes", {}), dict):
        raise ConditionError(_("%(name)s must be an object of attribute: value."), "audience.attributes")
    finite_json(audience.get("attributes", {}), "audience.attributes")


def validate_limits(limits):
    if not isinstance(limits, dict):
        raise ConditionError(_("%(name)s must be an object."), "limits")
    for key in limits:
        if key not in LIMIT_FIELDS:
            raise ConditionError(
                _("%(name)s: unknown limit; use %(limits)s."), f"limits.{key}", limits=", ".join(LIMIT_FIELDS)
            )
    for key, highest in MAX_LIMITS.items():
        value = limits.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest):
            raise ConditionError(
                _("%(name)s must be a whole number from 1 to %(high)s, or empty."), f"limits.{key}", high=highest
            )
    if limits.get("per_customer_period_days") and not limits.get("per_customer"):
        raise ConditionError(
            _("%(name)s needs %(other)s."),
            "limits.per_customer_period_days",
            other=Field("limits.per_customer"),
        )
    if limits.get("budget_money") is not None:
        money = number(limits["budget_money"], "limits.budget_money", low=0, above=0, high=MAX_MONEY)
        if money != money.quantize(CENT):
            raise ConditionError(
                _("%(name)s must be a positive amount with at most 2 decimals."), "limits.budget_money"
            )


def validate_action_item(program, action, attr):
    """One entry of `actions` ({kind, config, delay_minutes, cancel_if_event_type})."""
    if not isinstance(action, dict):
        raise ConditionError(_("%(name)s must be an object {kind, config, delay_minutes}."), attr)
    config = action.get("config", {})
    finite_json(config, f"{attr}.config")
    validate_action(action.get("kind"), config, attr, program=program)
    delay = action.get("delay_minutes", 0)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_MINUTES:
        raise ConditionError(
            _("%(name)s must be a whole number of minutes from 0 (at once) to %(high)s."),
            f"{attr}.delay_minutes",
            high=MAX_DELAY_MINUTES,
        )


def _validate_trigger(trigger):
    finite_json(trigger.get("config", {}), "trigger.config")
    validate_trigger(trigger.get("kind"), trigger.get("config", {}))


def _validate_priority(priority):
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
        raise ConditionError(
            _("%(name)s must be a whole number from -%(high)s to %(high)s."), "priority", high=MAX_PRIORITY
        )


def rule_errors(program, data, *, actions=True):
    """Every problem of a full definition as [(attr, message)]; `actions=False` leaves the
    action list out (the admin checks each inline form on its own)."""
    errors = []
    if not str(data.get("name", "")).strip():
        errors.append(("name", ConditionError(_("%(name)s is required."), "name")))
    trigger = data.get("trigger") or {}
    if not isinstance(trigger, dict):
        errors.append(("trigger", ConditionError(_("%(name)s must be an object {kind, config}."), "trigger")))
        trigger = {}
    _check(errors, _validate_trigger, trigger)
    _check(errors, validate_conditions, data.get("conditions", []))
    _check(errors, finite_json, data.get("conditions", []), "conditions")
    _check(errors, validate_audience, data.get("audience", {}))
    _check(errors, validate_limits, data.get("limits", {}))
    _check(errors, _validate_priority, data.get("priority", 0))
    if actions:
        action_list = data.get("actions")
        if not isinstance(action_list, list) or not action_list:
            errors.append(("actions", ConditionError(_("At least one action is required."), "actions")))
            action_list = []
        for index, action in enumerate(action_list):
            _check(errors, validate_action_item, program, action, f"actions.{index}")
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if starts and ends and ends <= starts:
        errors.append(
            ("ends_at", ConditionError(_("%(name)s must be after %(start)s."), "ends_at", start=Field("starts_at")))
        )
    return errors


def validate(program, data):
    """Raise CampaignInvalid listing every problem of a full campaign definition."""
    if errors := rule_errors(program, data):
        raise CampaignInvalid(errors)

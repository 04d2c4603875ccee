"""Creating, changing and moving campaigns through their statuses: the only writers of
Campaign and CampaignAction rows (API, admin, templates and the demo all come here).

Input is the API's shape (see docs/campaigns.md):
    {"name", "description", "status", "starts_at", "ends_at", "priority",
     "audience": {"kind", "values", "attributes"}, "trigger": {"kind", "config"},
     "conditions": [...], "actions": [{"kind", "config", "delay_minutes", "cancel_if_event_type"}],
     "limits": {"per_customer", "per_customer_period_days", "budget_points", "budget_money", "max_grants"}}
"""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from engagement.errors import ValidationFailed
from rewards.campaigns.actions import validate_action
from rewards.campaigns.conditions import ConditionError, validate_conditions
from rewards.campaigns.limits import sync_counters
from rewards.campaigns.models import Campaign, CampaignAction
from rewards.campaigns.triggers import validate_trigger

S = Campaign.Status
LIMIT_FIELDS = {
    "per_customer": "per_customer_limit",
    "per_customer_period_days": "per_customer_period_days",
    "budget_points": "budget_points",
    "budget_money": "budget_money",
    "max_grants": "max_grants",
}
# Status changes a caller may ask for (others happen by themselves: ended at ends_at,
# paused when the budget runs out).
TRANSITIONS = {
    S.DRAFT: {S.SCHEDULED, S.ACTIVE},
    S.SCHEDULED: {S.DRAFT, S.ACTIVE, S.PAUSED, S.ENDED},
    S.ACTIVE: {S.PAUSED, S.ENDED},
    S.PAUSED: {S.ACTIVE, S.ENDED},
    S.ENDED: set(),
}


class CampaignInvalid(ValidationFailed):
    """Every problem found, as [(attr, message)] (`errors`); the API answers 400 listing each."""

    def __init__(self, errors):
        super().__init__(problems=errors)
        self.errors = errors


def _check(errors, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ConditionError as exc:
        errors.append((exc.attr or "", str(exc)))


def _validate_audience(audience):
    if not isinstance(audience, dict):
        raise ConditionError("must be an object {kind, values, attributes}.", "audience")
    kind = audience.get("kind", "all")
    if kind not in Campaign.Audience.values:
        raise ConditionError(f"kind must be one of {', '.join(Campaign.Audience.values)}.", "audience.kind")
    values = audience.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConditionError("values must be a list of names.", "audience.values")
    if kind in ("segment", "tier", "rfm_segment") and not values:
        raise ConditionError(f"values is required for audience {kind}.", "audience.values")
    if not isinstance(audience.get("attributes", {}), dict):
        raise ConditionError("attributes must be an object of attribute: value.", "audience.attributes")


def _validate_limits(limits):
    if not isinstance(limits, dict):
        raise ConditionError("must be an object.", "limits")
    for key in limits:
        if key not in LIMIT_FIELDS:
            raise ConditionError(f"unknown limit; use {', '.join(LIMIT_FIELDS)}.", f"limits.{key}")
    for key in ("per_customer", "per_customer_period_days", "budget_points", "max_grants"):
        value = limits.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConditionError("must be a whole number of at least 1 (or null).", f"limits.{key}")
    if limits.get("per_customer_period_days") and not limits.get("per_customer"):
        raise ConditionError("a period needs per_customer.", "limits.per_customer_period_days")
    if limits.get("budget_money") is not None:
        try:
            money = Decimal(str(limits["budget_money"]))
        except InvalidOperation:
            money = None
        if money is None or not money.is_finite() or money <= 0 or money != money.quantize(Decimal("0.01")):
            raise ConditionError("must be a positive amount with at most 2 decimals.", "limits.budget_money")


def validate(program, data):
    """Raise CampaignInvalid listing every problem of a full campaign definition."""
    errors = []
    if not str(data.get("name", "")).strip():
        errors.append(("name", "name is required."))
    trigger = data.get("trigger") or {}
    if not isinstance(trigger, dict):
        errors.append(("trigger", "must be an object {kind, config}."))
        trigger = {}
    _check(errors, validate_trigger, trigger.get("kind"), trigger.get("config", {}))
    _check(errors, validate_conditions, data.get("conditions", []))
    _check(errors, _validate_audience, data.get("audience", {}))
    _check(errors, _validate_limits, data.get("limits", {}))
    action_list = data.get("actions")
    if not isinstance(action_list, list) or not action_list:
        errors.append(("actions", "at least one action is required."))
        action_list = []
    for index, action in enumerate(action_list):
        attr = f"actions.{index}"
        if not isinstance(action, dict):
            errors.append((attr, "must be an object {kind, config, delay_minutes}."))
            continue
        _check(errors, validate_action, action.get("kind"), action.get("config", {}), attr, program=program)
        delay = action.get("delay_minutes", 0)
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            errors.append((f"{attr}.delay_minutes", "must be a whole number of minutes (0 = at once)."))
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if starts and ends and ends <= starts:
        errors.append(("ends_at", "must be after starts_at."))
    if errors:
        raise CampaignInvalid(errors)


def to_data(campaign):
    """The campaign in the API's shape (also what `clone` and templates use)."""
    return {
        "name": campaign.name,
        "description": campaign.description,
        "status": campaign.status,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "priority": campaign.priority,
        "audience": {
            "kind": campaign.audience,
            "values": campaign.audience_values,
            "attributes": campaign.audience_attributes,
        },
        "trigger": {"kind": campaign.trigger_kind, "config": campaign.trigger_config},
        "conditions": campaign.conditions,
        "actions": [
            {
                "kind": a.kind,
                "config": a.config,
                "delay_minutes": a.delay_minutes,
                "cancel_if_event_type": a.cancel_if_event_type,
            }
            for a in campaign.actions.all()
        ],
        "limits": {key: getattr(campaign, name) for key, name in LIMIT_FIELDS.items()},
    }


def _apply(campaign, data):
    for name in ("name", "description", "starts_at", "ends_at", "priority"):
        if name in data:
            setattr(campaign, name, data[name] if name != "description" else data[name] or "")
    audience = data.get("audience", {})
    campaign.audience = audience.get("kind", "all")
    campaign.audience_values = audience.get("values", [])
    campaign.audience_attributes = audience.get("attributes", {})
    campaign.trigger_kind = data["trigger"]["kind"]
    campaign.trigger_config = data["trigger"].get("config", {})
    campaign.conditions = data.get("conditions", [])
    limits = data.get("limits", {})
    for key, name in LIMIT_FIELDS.items():
        value = limits.get(key)
        setattr(campaign, name, Decimal(str(value)) if key == "budget_money" and value is not None else value)


def _replace_actions(campaign, action_list):
    campaign.actions.all().delete()
    CampaignAction.objects.bulk_create(
        [
            CampaignAction(
                campaign=campaign,
                position=index,
                kind=a["kind"],
                config=a.get("config", {}),
                delay_minutes=a.get("delay_minutes", 0),
                cancel_if_event_type=a.get("cancel_if_event_type", "") or "",
            )
            for index, a in enumerate(action_list)
        ]
    )


def create_campaign(program, data, *, template_key=""):
    """Validate and create a campaign (draft unless data["status"] says scheduled/active)."""
    validate(program, data)
    status = data.get("status", S.DRAFT)
    if status not in (S.DRAFT, S.SCHEDULED, S.ACTIVE):
        raise CampaignInvalid([("status", "a new campaign is draft, scheduled or active.")])
    with transaction.atomic():
        campaign = Campaign(program=program, status=status, template_key=template_key)
        _apply(campaign, data)
        campaign.save()
        _replace_actions(campaign, data["actions"])
    return campaign


def update_campaign(campaign, changes):
    """Apply a partial change (PATCH): merged with the current definition, validated whole.

    Under the campaign's row lock, so a concurrent budget charge sees either all of it or
    none. Setting a budget on a running campaign first counts what it already spent.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("program").get(pk=campaign.pk)
        data = {**to_data(campaign), **{k: v for k, v in changes.items() if k != "status"}}
        validate(campaign.program, data)
        had_budget = campaign.has_budget
        _apply(campaign, data)
        if campaign.has_budget and not had_budget:
            sync_counters(campaign)
        errors = _budget_errors(campaign)
        if errors:
            raise CampaignInvalid(errors)
        campaign.save()
        if "actions" in changes:
            _replace_actions(campaign, data["actions"])
        if "status" in changes and changes["status"] != campaign.status:
            set_status(campaign, changes["status"])
    return campaign


def _budget_errors(campaign):
    errors = []
    if campaign.budget_points is not None and campaign.budget_points < campaign.spent_points:
        errors.append(("limits.budget_points", f"already {campaign.spent_points} points spent."))
    if campaign.budget_money is not None and campaign.budget_money < campaign.spent_money:
        errors.append(("limits.budget_money", f"already {campaign.spent_money} spent."))
    if campaign.max_grants is not None and campaign.max_grants < campaign.grants_count:
        errors.append(("limits.max_grants", f"already {campaign.grants_count} grants."))
    return errors


def set_status(campaign, status):
    """Move to `status` if allowed (TRANSITIONS); pausing by hand clears nothing, resuming
    clears the pause reason. Raises CampaignInvalid otherwise."""
    if status not in TRANSITIONS.get(campaign.status, set()):
        raise CampaignInvalid([("status", f"cannot go from {campaign.status} to {status}.")])
    reason = campaign.paused_reason if status == S.PAUSED else ""
    Campaign.objects.filter(pk=campaign.pk).update(status=status, paused_reason=reason, updated_at=timezone.now())
    campaign.status, campaign.paused_reason = status, reason
    return campaign


def pause(campaign):
    return set_status(campaign, S.PAUSED)


def resume(campaign):
    """Paused -> active. A campaign paused by its budget needs a larger budget first."""
    if campaign.paused_reason == "budget_exhausted" and campaign.has_budget:
        errors = []
        if campaign.budget_points is not None and campaign.spent_points >= campaign.budget_points:
            errors.append(("limits.budget_points", "the points budget is spent; raise it first."))
        if campaign.budget_money is not None and campaign.spent_money >= campaign.budget_money:
            errors.append(("limits.budget_money", "the money budget is spent; raise it first."))
        if campaign.max_grants is not None and campaign.grants_count >= campaign.max_grants:
            errors.append(("limits.max_grants", "all grants are used; raise max_grants first."))
        if errors:
            raise CampaignInvalid(errors)
    return set_status(campaign, S.ACTIVE)


def clone(campaign, name=None):
    """A draft copy with the same rule and actions, and fresh counters."""
    data = to_data(campaign)
    data.update(name=name or f"{campaign.name} (copy)", status=S.DRAFT)
    return create_campaign(campaign.program, data, template_key=campaign.template_key)

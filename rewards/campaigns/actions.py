"""Campaign actions: validation of each kind's config, its cost, and its execution.

Every execution calls the owning app's service with an idempotency key derived from the
effect and the action (`campaign-effect:<effect id>:<action id>`), so even a re-run of an
ActionRun could not grant twice. Actions run inside the caller's transaction; what leaves
the database (messages, webhooks, payouts) is scheduled on commit by those services.

Points: `points` fixed, or `percent` of the trigger's value; then times the tier multiplier
(unless "tier_multiplier": false); rounded ONCE at the end with `rounding`: "down" (default,
never over-grant), "half_up" or "up"; then capped by `max_points`.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

from django.db import transaction
from django.template import Context, Template
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.channels.sending import send_message
from engagement.webhooks.events import record_webhook_event
from engagement.webhooks.models import EventType
from payouts.models import Method
from payouts.services import request_payout
from rewards import activity
from rewards.campaigns.conditions import (
    CHANNELS,
    MAX_MONEY,
    MAX_PERCENT,
    MAX_POINTS,
    ConditionError,
    Field,
    number,
)
from rewards.campaigns.models import CampaignAction, TeamNotification
from rewards.ledger import grant_points
from rewards.models import RewardItem
from rewards.redemptions import grant_reward
from surveys.models import Survey
from surveys.sending import send_survey

A = CampaignAction.Kind
ROUNDING = {"down": ROUND_DOWN, "half_up": ROUND_HALF_UP, "up": ROUND_UP}
PAYOUT_METHODS = tuple(Method.values)
WEBHOOK_TYPES = tuple(EventType.values)
CENT = Decimal("0.01")


@dataclass
class Outcome:
    """What an execution did: status (ActionRun.Status value), detail and a JSON result."""

    status: str
    detail: str = ""
    result: dict | None = None


# The largest fixed amount of each kind: points as the API's grant ceiling, money as the
# columns that store it.
MAX_FIXED = {"points": MAX_POINTS, "amount": MAX_MONEY}


def _amount_config(config, attr, fixed_key):
    has_fixed, has_percent = config.get(fixed_key) is not None, config.get("percent") is not None
    if has_fixed == has_percent:
        raise ConditionError(
            _("Give either %(fixed)s or %(percent)s."),
            attr,
            fixed=Field(f"{attr}.{fixed_key}"),
            percent=Field(f"{attr}.percent"),
        )
    if has_fixed:
        number(config[fixed_key], f"{attr}.{fixed_key}", low=0, above=0, high=MAX_FIXED[fixed_key])
    else:
        number(config["percent"], f"{attr}.percent", low=0, above=0, high=MAX_PERCENT)


def validate_action(kind, config, attr="action", *, program=None):
    """Raise ConditionError naming the bad field unless `config` suits action `kind`."""
    if kind not in A.values:
        raise ConditionError(_("%(name)s must be one of %(kinds)s."), f"{attr}.kind", kinds=", ".join(A.values))
    if not isinstance(config, dict):
        raise ConditionError(_("%(name)s must be an object."), f"{attr}.config")
    attr = f"{attr}.config"
    if kind == A.GRANT_POINTS:
        _amount_config(config, attr, "points")
        if config.get("points") is not None and (
            isinstance(config["points"], bool) or not isinstance(config["points"], int)
        ):
            raise ConditionError(_("%(name)s must be a whole number."), f"{attr}.points")
        if config.get("rounding", "down") not in ROUNDING:
            raise ConditionError(_("%(name)s must be down, half_up or up."), f"{attr}.rounding")
        if config.get("max_points") is not None:
            number(config["max_points"], f"{attr}.max_points", low=1, high=MAX_POINTS, integer=True)
    elif kind == A.GRANT_REWARD:
        _must_exist(RewardItem, config.get("item"), program, f"{attr}.item", _("catalogue reward"))
    elif kind == A.SEND_SURVEY:
        _must_exist(Survey, config.get("survey"), program, f"{attr}.survey", _("survey"))
    elif kind == A.SEND_MESSAGE:
        if not isinstance(config.get("template_key"), str) or not config["template_key"]:
            raise ConditionError(_("%(name)s is required."), f"{attr}.template_key")
        channels = config.get("channels", list(CHANNELS))
        if not isinstance(channels, list) or not channels or any(ch not in CHANNELS for ch in channels):
            raise ConditionError(
                _("%(name)s: choose at least one of %(channels)s."), f"{attr}.channels", channels=", ".join(CHANNELS)
            )
    elif kind == A.CREATE_PAYOUT:
        _amount_config(config, attr, "amount")
        if config.get("method", "voucher") not in PAYOUT_METHODS:
            raise ConditionError(
                _("%(name)s must be one of %(methods)s."), f"{attr}.method", methods=", ".join(PAYOUT_METHODS)
            )
    elif kind == A.NOTIFY_TEAM:
        if not isinstance(config.get("subject"), str) or not config["subject"].strip():
            raise ConditionError(_("%(name)s is required."), f"{attr}.subject")
    elif kind == A.EMIT_WEBHOOK:
        if config.get("type") not in WEBHOOK_TYPES:
            raise ConditionError(
                _("%(name)s must be one of %(types)s."), f"{attr}.type", types=", ".join(WEBHOOK_TYPES)
            )


def _must_exist(model, pk, program, attr, label):
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise ConditionError(_("%(name)s is required: choose a %(thing)s."), attr, thing=label)
    objects = model.objects.filter(pk=pk)
    if program is not None:
        objects = objects.filter(program=program)
    if not objects.exists():
        raise ConditionError(_("%(name)s: there is no such %(thing)s in this program."), attr, thing=label)


# --- cost ----------------------------------------------------------------------------------


def points_for(config, value, multiplier):
    """Points a grant_points action gives for a trigger `value` and a tier `multiplier`."""
    if config.get("points") is not None:
        base = Decimal(config["points"])
    else:
        base = (value or Decimal("0")) * Decimal(str(config["percent"])) / 100
    if config.get("tier_multiplier", True):
        base *= multiplier
    points = int(base.quantize(Decimal("1"), rounding=ROUNDING[config.get("rounding", "down")]))
    if config.get("max_points") is not None:
        points = min(points, int(config["max_points"]))
    return max(points, 0)


def payout_amount(config, value):
    if config.get("amount") is not None:
        return Decimal(str(config["amount"])).quantize(CENT)
    return ((value or Decimal("0")) * Decimal(str(config["percent"])) / 100).quantize(CENT, rounding=ROUND_DOWN)


def estimate_cost(action, effect, multiplier, items=None):
    """(points, money) charged to the budget when `action` runs for `effect`."""
    if action.kind == A.GRANT_POINTS:
        return points_for(action.config, effect.value, multiplier), Decimal("0")
    if action.kind == A.CREATE_PAYOUT:
        return 0, payout_amount(action.config, effect.value)
    if action.kind == A.GRANT_REWARD:
        item = (items or {}).get(action.config.get("item")) or _reward_item(action)
        return 0, item.cash_value if item is not None else Decimal("0")
    return 0, Decimal("0")


def _reward_item(action):
    return RewardItem.objects.filter(pk=action.config.get("item"), program_id=action.campaign.program_id).first()


# --- execution -----------------------------------------------------------------------------


def campaign_reason(campaign, action):
    """The ledger reason of a campaign grant: the admin's text for staff, the campaign's
    customer-facing title for the customer's activity (rewards.activity)."""
    return activity.campaign(campaign, action.config.get("reason") or f"Campaign: {campaign.name}")


def idempotency_key(effect, action, suffix=""):
    return f"campaign-effect:{effect.pk}:{action.pk}{suffix}"


def message_context(campaign, effect, customer, extra=None):
    return {
        "campaign": campaign.name,
        "customer_name": customer.name or customer.external_id,
        "value": effect.value,
        "occurred_at": effect.occurred_at,
        **{k: v for k, v in (effect.context or {}).items() if isinstance(v, str | int | float)},
        **(extra or {}),
    }


def execute(action, campaign, effect, customer, points, money):
    """Run one action for one effect; returns an Outcome. Raises only on programming errors
    of other services (the caller runs this in a savepoint and records the failure)."""
    return EXECUTORS[action.kind](action, campaign, effect, customer, points, money)


def _grant_points(action, campaign, effect, customer, points, money):
    if points <= 0:
        return Outcome("skipped", "zero points")
    entry = grant_points(
        customer=customer,
        points=points,
        reason=campaign_reason(campaign, action),
        idempotency_key=idempotency_key(effect, action),
        source=("campaign", campaign.pk),
    )
    return Outcome("done", f"{points} points", {"ledger_entry": entry.pk})


def _grant_reward(action, campaign, effect, customer, points, money):
    item = RewardItem.objects.get(pk=action.config["item"], program_id=campaign.program_id)
    redemption = grant_reward(
        customer=customer, item=item, idempotency_key=idempotency_key(effect, action), source="campaign"
    )
    return Outcome("done", f"reward {item.pk}", {"redemption": redemption.pk})


def _send_survey(action, campaign, effect, customer, points, money):
    survey = Survey.objects.get(pk=action.config["survey"], program_id=campaign.program_id)
    sent = send_survey(
        survey=survey, customer=customer, source="campaign", idempotency_key=idempotency_key(effect, action)
    )
    if sent.invitation is None:
        return Outcome("skipped", sent.skipped_reason or "not sent", {"survey": survey.pk})
    return Outcome("done", f"survey {survey.pk}", {"survey": survey.pk, "invitation": sent.invitation.pk})


def _send_message(action, campaign, effect, customer, points, money):
    config = action.config
    context = message_context(campaign, effect, customer, config.get("context"))
    sent = {}
    for channel in config.get("channels", list(CHANNELS)):
        # "every consented channel": channels without consent are not even attempted.
        if not customer.has_consent(channel):
            continue
        message = send_message(
            customer=customer,
            channel=channel,
            template_key=config["template_key"],
            context=context,
            source=f"campaign:{campaign.pk}",
            idempotency_key=idempotency_key(effect, action, f":{channel}"),
        )
        sent[channel] = {"message": message.pk, "status": getattr(message, "status", "")}
    if not sent:
        return Outcome("skipped", "no consented channel")
    return Outcome("done", ", ".join(sent), {"messages": sent})


def _create_payout(action, campaign, effect, customer, points, money):
    if money <= 0:
        return Outcome("skipped", "zero amount")
    config = action.config
    destination = config.get("destination") or {"email": customer.email, "name": customer.name}
    payout = request_payout(
        program=campaign.program,
        customer=customer,
        amount=money,
        currency=campaign.program.currency,
        method=config.get("method", "voucher"),
        destination=destination,
        source="campaign",
        source_ref=f"campaign:{campaign.pk}:{effect.occurrence}"[:100],
        idempotency_key=idempotency_key(effect, action),
    )
    return Outcome("done", f"payout {payout.pk}", {"payout": payout.pk})


def _notify_team(action, campaign, effect, customer, points, money):
    # Imported here: tasks imports the engine, which imports this module.
    from rewards.campaigns.tasks import email_team_notification_task

    # Plain text (e-mailed and shown escaped by the admin): no HTML escaping of names.
    context = Context(message_context(campaign, effect, customer, {"customer": customer.external_id}), autoescape=False)
    note = TeamNotification.objects.create(
        program_id=campaign.program_id,
        campaign=campaign,
        customer=customer,
        subject=Template(action.config["subject"]).render(context)[:200],
        body=Template(action.config.get("body", "")).render(context),
    )
    transaction.on_commit(lambda: email_team_notification_task.delay(note.pk))
    return Outcome("done", f"notification {note.pk}", {"notification": note.pk})


def webhook_payload(campaign, effect, customer):
    """The payload of an emit_webhook action."""
    return {
        "campaign": campaign.pk,
        "campaign_name": campaign.name,
        "customer": customer.external_id,
        "occurrence": effect.occurrence,
        "occurred_at": effect.occurred_at.isoformat(),
        "context": effect.context,
        "emitted_at": timezone.now().isoformat(),
    }


def _emit_webhook(action, campaign, effect, customer, points, money):
    event = record_webhook_event(
        campaign.program,
        action.config["type"],
        webhook_payload(campaign, effect, customer),
        idempotency_key=idempotency_key(effect, action),
    )
    return Outcome("done", action.config["type"], {"webhook_event": event.pk})


EXECUTORS = {
    A.GRANT_POINTS: _grant_points,
    A.GRANT_REWARD: _grant_reward,
    A.SEND_SURVEY: _send_survey,
    A.SEND_MESSAGE: _send_message,
    A.CREATE_PAYOUT: _create_payout,
    A.NOTIFY_TEAM: _notify_team,
    A.EMIT_WEBHOOK: _emit_webhook,
}

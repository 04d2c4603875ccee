"""What a campaign does, in one sentence for staff: "When a purchase of RM100.00 or more
happens, grant 5 % back in points; at most once per customer per week."

Built from the stored rule (the same JSON the engine reads), in the active language, money
with the program's currency (engagement.formatting). Each phrase is a whole translatable
string with named placeholders, so translators can reorder them.
"""

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from engagement.event_labels import event_label
from engagement.formatting import format_money, format_number
from rewards.campaigns.models import Campaign, CampaignAction
from rewards.campaigns.triggers import DEFAULT_CART_MINUTES, DEFAULT_TICKET_HOURS

K = Campaign.Trigger
A = CampaignAction.Kind


def duration(minutes):
    """15 -> "15 minutes", 120 -> "2 hours", 10080 -> "7 days" (the largest whole unit)."""
    minutes = int(minutes or 0)
    if minutes and minutes % 1440 == 0:
        days = minutes // 1440
        return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(n)s hour", "%(n)s hours", hours) % {"n": hours}
    return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}


def event_name(event_type):
    return event_label(event_type)


def key_name(key):
    """A template key or payout method as words (not translated: they are identifiers)."""
    return (key or "?").replace("_", " ")


class Describer:
    """Phrases for one campaign; `names` resolves survey and reward ids to titles."""

    def __init__(self, campaign):
        self.campaign = campaign
        self.program = campaign.program

    def money(self, amount):
        return format_money(Decimal(str(amount)), self.program.currency, tz_name=self.program.timezone)

    def number(self, value):
        return format_number(Decimal(str(value)), tz_name=self.program.timezone)

    def survey_title(self, pk):
        from surveys.models import Survey

        survey = Survey.objects.filter(pk=pk, program=self.program).first()
        return str(survey) if survey else f"#{pk}"

    def item_title(self, pk):
        from rewards.models import RewardItem

        item = RewardItem.objects.filter(pk=pk, program=self.program).first()
        return str(item) if item else f"#{pk}"

    # -- when ---------------------------------------------------------------------------------

    def when(self):
        kind, config = self.campaign.trigger_kind, self.campaign.trigger_config or {}
        method = getattr(self, f"when_{kind}", None)
        return method(config) if method else str(self.campaign.get_trigger_kind_display())

    def when_event(self, config):
        names = {"event": event_name(config.get("event_type"))}
        low, high = config.get("min_value"), config.get("max_value")
        if low is not None and high is not None:
            text = _("When a %(event)s of %(min)s to %(max)s happens") % {
                **names,
                "min": self.money(low),
                "max": self.money(high),
            }
        elif low is not None:
            text = _("When a %(event)s of %(min)s or more happens") % {**names, "min": self.money(low)}
        elif high is not None:
            text = _("When a %(event)s of at most %(max)s happens") % {**names, "max": self.money(high)}
        else:
            text = _("When a %(event)s happens") % names
        count = len(config.get("conditions") or [])
        if count:
            text += ngettext(
                " (and %(n)s condition on the event holds)", " (and %(n)s conditions on the event hold)", count
            ) % {"n": count}
        return text

    def when_nth_event(self, config):
        names = {"event": event_name(config.get("event_type")), "n": self.number(config.get("n", 0))}
        if config.get("repeat"):
            return _("On every %(n)sth %(event)s of a customer") % names
        return _("When a customer's %(event)s count reaches %(n)s") % names

    def when_score_threshold(self, config):
        names = {"n": config.get("threshold")}
        if config.get("direction", "up") == "down":
            return _("When a customer's engagement score falls below %(n)s") % names
        return _("When a customer's engagement score rises to %(n)s or above") % names

    def when_segment_entered(self, config):
        return _("When a customer enters the RFM segment %(segments)s") % {
            "segments": _(" or ").join(config.get("segments") or [])
        }

    def when_churn_risk(self, config):
        percent = Decimal(str(config.get("above", 0))) * 100
        return _("When a customer's churn risk rises above %(percent)s %%") % {"percent": self.number(percent)}

    def when_inactivity(self, config):
        return _("When a customer has been inactive for %(duration)s") % {
            "duration": duration(int(config.get("days", 0)) * 1440)
        }

    def when_cart_abandoned(self, config):
        return _("When a cart is abandoned and no purchase follows within %(duration)s") % {
            "duration": duration(config.get("minutes", DEFAULT_CART_MINUTES))
        }

    def when_ticket_unresolved(self, config):
        return _("When a support ticket is still unresolved after %(duration)s") % {
            "duration": duration(int(config.get("hours", DEFAULT_TICKET_HOURS)) * 60)
        }

    def when_survey_answered(self, config):
        kind, band = config.get("kind", "any"), config.get("band", "any")
        survey = (
            _("the survey “%(title)s”") % {"title": self.survey_title(config["survey"])}
            if config.get("survey") not in (None, "")
            else (_("any survey") if kind == "any" else _("a %(kind)s survey") % {"kind": kind.upper()})
        )
        if band != "any":
            return _("When a %(band)s answers %(survey)s") % {"band": _(band), "survey": survey}
        return _("When a customer answers %(survey)s") % {"survey": survey}

    def when_referral_converted(self, config):
        return _("When a referred friend converts")

    def when_tier_changed(self, config):
        low, high = config.get("from"), config.get("to")
        if low and high:
            return _("When a customer moves from tier %(from)s to %(to)s") % {"from": low, "to": high}
        if high:
            return _("When a customer reaches tier %(to)s") % {"to": high}
        if low:
            return _("When a customer leaves tier %(from)s") % {"from": low}
        return _("When a customer's tier changes")

    def when_date(self, config):
        if config.get("which") == "signup_anniversary":
            return _("On each customer's signup anniversary")
        return _("On each customer's birthday")

    def when_schedule(self, config):
        day = config.get("day", 1)
        text = {
            "daily": _("Every day"),
            "weekly": _("Every week (day %(day)s)") % {"day": day},
            "monthly": _("Every month (day %(day)s)") % {"day": day},
        }.get(config.get("frequency"), _("On a schedule"))
        if config.get("sample_percent", 100) != 100:
            text += _(", for %(percent)s %% of the customers") % {"percent": config["sample_percent"]}
        return text

    # -- who ----------------------------------------------------------------------------------

    def who(self):
        campaign = self.campaign
        values = _(", ").join(campaign.audience_values or [])
        parts = []
        if campaign.audience == "tier":
            parts.append(_("for customers in tier %(values)s") % {"values": values})
        elif campaign.audience == "rfm_segment":
            parts.append(_("for customers in the RFM segment %(values)s") % {"values": values})
        elif campaign.audience == "segment":
            parts.append(_("for customers in the segment %(values)s") % {"values": values})
        if campaign.audience_attributes:
            pairs = _(", ").join(f"{k} = {v}" for k, v in campaign.audience_attributes.items())
            parts.append(_("whose %(pairs)s") % {"pairs": pairs})
        count = len(campaign.conditions or [])
        if count:
            parts.append(ngettext("if %(n)s condition holds", "if all %(n)s conditions hold", count) % {"n": count})
        return " ".join(str(p) for p in parts)

    # -- what ---------------------------------------------------------------------------------

    def what(self, action):
        config = action.config or {}
        method = getattr(self, f"what_{action.kind}", None)
        text = method(config) if method else str(action.get_kind_display())
        if action.delay_minutes:
            text = _("%(action)s %(delay)s later") % {"action": text, "delay": duration(action.delay_minutes)}
        return text

    def what_grant_points(self, config):
        if config.get("points") is not None:
            text = ngettext("grant %(points)s point", "grant %(points)s points", int(config["points"])) % {
                "points": self.number(config["points"])
            }
        else:
            text = _("grant %(percent)s %% back in points") % {"percent": self.number(config.get("percent", 0))}
        if config.get("max_points") is not None:
            text += _(" (at most %(n)s)") % {"n": self.number(config["max_points"])}
        return text

    def what_grant_reward(self, config):
        return _("grant the reward “%(title)s”") % {"title": self.item_title(config.get("item"))}

    def what_send_survey(self, config):
        return _("send the survey “%(title)s”") % {"title": self.survey_title(config.get("survey"))}

    def what_send_message(self, config):
        channels = config.get("channels")
        if channels:
            return _("send the message “%(key)s” by %(channels)s") % {
                "key": key_name(config.get("template_key")),
                "channels": _(" or ").join(channels),
            }
        return _("send the message “%(key)s” on every consented channel") % {
            "key": key_name(config.get("template_key"))
        }

    def what_create_payout(self, config):
        method = key_name(config.get("method", "voucher"))
        if config.get("amount") is not None:
            return _("pay out %(amount)s as a %(method)s") % {"amount": self.money(config["amount"]), "method": method}
        return _("pay out %(percent)s %% of the value as a %(method)s") % {
            "percent": self.number(config.get("percent", 0)),
            "method": method,
        }

    def what_notify_team(self, config):
        return _("notify the team (“%(subject)s”)") % {"subject": config.get("subject", "")}

    def what_emit_webhook(self, config):
        return _("send the webhook %(type)s") % {"type": config.get("type", "")}

    # -- limits -------------------------------------------------------------------------------

    def limits(self):
        campaign, parts = self.campaign, []
        if campaign.per_customer_limit:
            n, days = campaign.per_customer_limit, campaign.per_customer_period_days
            if n == 1:
                text = _("at most once per customer")
            else:
                text = _("at most %(n)s times per customer") % {"n": n}
            if days == 1:
                text += _(" per day")
            elif days == 7:
                text += _(" per week")
            elif days:
                text += _(" per %(duration)s") % {"duration": duration(days * 1440)}
            parts.append(text)
        if campaign.budget_points is not None:
            parts.append(_("a budget of %(n)s points") % {"n": self.number(campaign.budget_points)})
        if campaign.budget_money is not None:
            parts.append(_("a budget of %(amount)s") % {"amount": self.money(campaign.budget_money)})
        if campaign.max_grants is not None:
            parts.append(_("%(n)s grants in all") % {"n": self.number(campaign.max_grants)})
        return _(", ").join(str(p) for p in parts)


def describe(campaign, actions=None):
    """The sentence for `campaign` (its stored rule) in the active language. `actions`
    defaults to the campaign's stored actions."""
    describer = Describer(campaign)
    actions = list(campaign.actions.all()) if actions is None else actions
    when = describer.when()
    who = describer.who()
    if who:
        when = _("%(when)s, %(who)s") % {"when": when, "who": who}
    what = _(", then ").join(describer.what(a) for a in actions) or _("do nothing (no action yet)")
    limits = describer.limits()
    if limits:
        return _("%(when)s, %(what)s; %(limits)s.") % {"when": when, "what": what, "limits": limits}
    return _("%(when)s, %(what)s.") % {"when": when, "what": what}

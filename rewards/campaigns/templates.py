"""Ready-made campaigns: the moments DESIGN.md names, as definitions an admin starts from.

`create_from_template(program, key)` creates a DRAFT campaign (the admin reviews and
activates it). Survey actions pick the program's first active survey of the right kind
unless one is given; without one, validation says which survey to create first.
"""

from django.utils.translation import gettext_lazy as _

from rewards.campaigns import lifecycle

ALL_CHANNELS = ["email", "whatsapp", "sms", "push"]
WEEK = 7 * 24 * 60

TEMPLATES = {
    "cart_abandoned": {
        "title": _("Cart abandoned, no purchase in 15 minutes → message on every consented channel"),
        "trigger": {"kind": "cart_abandoned", "config": {"minutes": 15}},
        "actions": [{"kind": "send_message", "config": {"template_key": "cart_abandoned", "channels": ALL_CHANNELS}}],
        "limits": {"per_customer": 1, "per_customer_period_days": 7},
    },
    "purchase_csat": {
        "title": _("Purchase completed → CSAT survey 7 days later"),
        "trigger": {"kind": "event", "config": {"event_type": "purchase"}},
        "actions": [{"kind": "send_survey", "config": {"survey": "csat"}, "delay_minutes": WEEK}],
        "limits": {"per_customer": 1, "per_customer_period_days": 30},
    },
    "ticket_unresolved": {
        "title": _("Support ticket unresolved for 48 hours → reminder to the team"),
        "trigger": {"kind": "ticket_unresolved", "config": {"hours": 48}},
        "actions": [
            {
                "kind": "notify_team",
                "config": {
                    "subject": "Ticket {{ ticket_id }} of {{ customer_name }} is unresolved after 48 hours",
                    "body": "Please follow up with {{ customer_name }} about ticket {{ ticket_id }}.",
                },
            }
        ],
    },
    "app_uninstalled": {
        "title": _("App uninstalled → “why did you leave?” survey"),
        "trigger": {"kind": "event", "config": {"event_type": "app_uninstalled"}},
        "actions": [{"kind": "send_survey", "config": {"survey": "custom"}}],
        "limits": {"per_customer": 1},
    },
    "nps_detractor": {
        "title": _("NPS detractor → follow-up task, apology and webhook"),
        "trigger": {"kind": "survey_answered", "config": {"kind": "nps", "band": "detractor"}},
        "actions": [
            {
                "kind": "notify_team",
                "config": {
                    "subject": "Detractor: call {{ customer_name }} back (NPS {{ score }})",
                    "body": "{{ customer_name }} answered {{ score }} on the NPS survey.",
                },
            },
            {"kind": "emit_webhook", "config": {"type": "survey.detractor"}},
            {"kind": "send_message", "config": {"template_key": "detractor_follow_up", "channels": ["email"]}},
        ],
    },
    "nps_promoter": {
        "title": _("NPS promoter → referral invitation"),
        "trigger": {"kind": "survey_answered", "config": {"kind": "nps", "band": "promoter"}},
        "actions": [{"kind": "send_message", "config": {"template_key": "referral_invitation", "channels": ["email"]}}],
        "limits": {"per_customer": 1, "per_customer_period_days": 90},
    },
    "score_reward": {
        "title": _("Engagement score crosses 80 → bonus points"),
        "trigger": {"kind": "score_threshold", "config": {"threshold": 80, "direction": "up"}},
        "actions": [{"kind": "grant_points", "config": {"points": 200}}],
        "limits": {"per_customer": 1, "per_customer_period_days": 90},
    },
    "segment_win_back": {
        "title": _("Enters “At risk” or “Can't lose” → win-back offer"),
        "trigger": {"kind": "segment_entered", "config": {"segments": ["At risk", "Can't lose"]}},
        "actions": [
            {"kind": "grant_points", "config": {"points": 100}},
            {"kind": "send_message", "config": {"template_key": "win_back", "channels": ["email", "push"]}},
        ],
        "limits": {"per_customer": 1, "per_customer_period_days": 90},
    },
    "inactivity_win_back": {
        "title": _("No activity for 60 days → win-back message"),
        "trigger": {"kind": "inactivity", "config": {"days": 60}},
        "actions": [{"kind": "send_message", "config": {"template_key": "win_back", "channels": ["email"]}}],
    },
    "purchase_points": {
        "title": _("Purchase of 100 or more → 5% back in points (tier multiplier applies)"),
        "trigger": {"kind": "event", "config": {"event_type": "purchase", "min_value": "100"}},
        "actions": [{"kind": "grant_points", "config": {"percent": "5", "rounding": "down"}}],
    },
    "birthday_points": {
        "title": _("Birthday (customer's time zone) → birthday points"),
        "trigger": {"kind": "date", "config": {"which": "birthday"}},
        "actions": [{"kind": "grant_points", "config": {"points": 100, "reason": "Happy birthday!"}}],
    },
    "monthly_nps": {
        # xgettext:no-python-format
        "title": _("Monthly relationship NPS to a 10% sample"),
        "trigger": {"kind": "schedule", "config": {"frequency": "monthly", "day": 1, "sample_percent": 10}},
        "actions": [{"kind": "send_survey", "config": {"survey": "nps"}}],
    },
}


def template_choices():
    return [(key, template["title"]) for key, template in TEMPLATES.items()]


def _pick_survey(program, kind):
    from surveys.models import Survey

    surveys = Survey.objects.filter(program=program, is_active=True).order_by("id")
    return (surveys.filter(kind=kind).first() or (surveys.first() if kind == "custom" else None)) if surveys else None


def template_data(program, key, surveys=None):
    """The template as campaign data for `program` (survey kinds resolved to ids)."""
    template = TEMPLATES[key]
    actions = []
    for action in template["actions"]:
        action = {**action, "config": dict(action["config"])}
        if action["kind"] == "send_survey" and isinstance(action["config"].get("survey"), str):
            kind = action["config"]["survey"]
            survey = (surveys or {}).get(kind) or _pick_survey(program, kind)
            action["config"]["survey"] = survey.pk if survey else None
        actions.append(action)
    return {
        "name": str(template["title"])[:200],
        "trigger": template["trigger"],
        "actions": actions,
        "limits": dict(template.get("limits", {})),
        "conditions": list(template.get("conditions", [])),
    }


def create_from_template(program, key, *, status="draft", name=None, surveys=None):
    """Create a campaign from template `key`; raises CampaignInvalid (e.g. no survey yet)."""
    data = template_data(program, key, surveys)
    data["status"] = status
    if name:
        data["name"] = name
    return lifecycle.create_campaign(program, data, template_key=key)

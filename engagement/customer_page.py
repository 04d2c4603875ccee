"""The customer's admin page (Admin › Customers › a customer): an overview of what is kept
about the customer, and the actions staff take there (adjust points, send a sign-in link,
erase).

Engagement builds the page, its own sections (profile, consents, scores, messages, timeline)
and the erase action; higher apps add theirs at start-up through engagement.hooks
(`register_customer_section`, `register_customer_action`), because engagement may not import
them (DESIGN.md). Every section reads a bounded number of rows (the newest RECENT, or one
page) with a fixed number of queries, however long the customer's history.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from engagement import hooks
from engagement.admin_links import admin_link
from engagement.channels.models import Channel, ConsentChange, Message, TopicOptOut
from engagement.models import Customer, CustomerScore, Event, ScoreTransition
from engagement.scoring.history import score_history

RECENT = 20  # rows per list section (the full lists are one link away)
HISTORY_DAYS = 90  # score snapshots drawn in the sparklines


@dataclass
class Section:
    """One card of the page: `template` rendered with `context` (plus `customer`, `program`)."""

    key: str
    title: str
    template: str
    context: dict = field(default_factory=dict)
    wide: bool = False


class ActionRefused(Exception):
    """An action could not be done; nothing changed. `message` is shown to the staff user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CustomerAction:
    """A POST-only action on the page, at /admin/engagement/customer/<id>/<name>/.

    `perform(request, customer) -> str` does it through its app's service and returns the
    success message, or raises ActionRefused (then nothing changed). `permission` is the
    Django permission it needs; `template` renders its button or form on the page. With a
    `confirm_template`, the page links to a confirmation page (GET) that posts.
    """

    name: str
    label: str
    permission: str
    perform: Callable
    template: str
    order: int = 50
    confirm_template: str = ""


def action_url(action, customer):
    return reverse(f"admin:engagement_customer_{action.name.replace('-', '_')}", args=[customer.pk])


def build_overview(request, customer: Customer) -> dict:
    """The page's context: every registered section (in order) and the actions the user may take."""
    sections = [section for _order, _name, fn in hooks.customer_sections() if (section := fn(request, customer))]
    actions = [
        {"action": action, "url": action_url(action, customer)}
        for action in hooks.customer_actions()
        if request.user.has_perm(action.permission)
    ]
    # A fresh key per page view: a form posted twice (double click, reload) carries the same
    # key, and the ledger's idempotency key built from it makes the second post a no-op.
    return {
        "customer": customer,
        "program": customer.program,
        "sections": sections,
        "actions": actions,
        "form_key": uuid.uuid4().hex,
    }


# --- engagement's sections -----------------------------------------------------------------


def profile_section(request, customer):
    return Section("profile", _("Profile"), "admin/engagement/customer/section_profile.html")


def consents_section(request, customer):
    """Each channel's flag with its latest change, topics turned off, and the recent history."""
    history = list(ConsentChange.objects.filter(customer=customer).order_by("-at", "-id")[:RECENT])
    latest = {
        change.channel: change
        for change in ConsentChange.objects.filter(customer=customer)
        .exclude(channel="")
        .order_by("channel", "-at", "-id")
        .distinct("channel")
    }
    channels = [
        {"label": label, "granted": getattr(customer, f"consent_{value}"), "change": latest.get(value)}
        for value, label in Channel.choices
    ]
    topics_off = list(TopicOptOut.objects.filter(customer=customer).order_by("topic"))
    return Section(
        "consents",
        _("Consents"),
        "admin/engagement/customer/section_consents.html",
        {"channels": channels, "topics_off": topics_off, "history": history},
    )


def sparkline(values, low, high, width=240, height=40):
    """SVG polyline points for `values` on a fixed [low, high] scale (never auto-scaled: a
    move from 61 to 62 must not look like a cliff)."""
    values = [float(v) for v in values]
    if not values:
        return ""
    step = width / max(1, len(values) - 1)
    span = float(high - low) or 1.0

    def y(value):
        return height - (min(max(value, low), high) - low) / span * height

    return " ".join(f"{i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))


# What a timeline row says about each kind of score transition.
TRANSITION_LABELS = {
    ScoreTransition.Kind.SCORE: gettext_lazy("Engagement score band"),
    ScoreTransition.Kind.SEGMENT: gettext_lazy("RFM segment"),
    ScoreTransition.Kind.CHURN_RISK: gettext_lazy("Churn risk band"),
    ScoreTransition.Kind.CHURN_MODEL: gettext_lazy("Churn risk (purchase model)"),
}


def percent(risk):
    """Churn risk 0..1 as whole percent (0.257 -> 26)."""
    return int((risk * 100).quantize(1)) if risk is not None else None


def scores_section(request, customer):
    """The current scores, their daily history (sparklines and a table) and recent transitions."""
    score = CustomerScore.objects.filter(customer=customer).first()
    snapshots = score_history(customer, HISTORY_DAYS)
    for snapshot in snapshots:
        snapshot.churn_percent = percent(snapshot.churn_risk)
    transitions = list(ScoreTransition.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:RECENT])
    for transition in transitions:
        transition.label = TRANSITION_LABELS.get(transition.kind, transition.kind)
    return Section(
        "scores",
        _("Scores, RFM segment and churn risk"),
        "admin/engagement/customer/section_scores.html",
        {
            "score": score,
            "churn_percent": percent(score.churn_risk) if score else None,
            "snapshots": snapshots,
            "recent_snapshots": snapshots[::-1][:10],
            "score_line": sparkline([s.engagement_score for s in snapshots], 0, 100),
            "score_last": snapshots[-1].engagement_score if snapshots else None,
            "churn_line": sparkline([s.churn_risk for s in snapshots], 0, 1),
            "churn_first": snapshots[0].churn_percent if snapshots else None,
            "churn_last": snapshots[-1].churn_percent if snapshots else None,
            "transitions": transitions,
        },
        wide=True,
    )


def messages_section(request, customer):
    messages = list(Message.objects.filter(customer=customer).order_by("-created_at", "-id")[:RECENT])
    for message in messages:
        message.link = admin_link(message, message.subject or message.template_key)
    url = reverse("admin:channels_message_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "messages",
        _("Messages sent"),
        "admin/engagement/customer/section_messages.html",
        {"messages": messages, "all_url": url},
        wide=True,
    )


def timeline_section(request, customer):
    """The newest events, score transitions and consent changes, merged newest first."""
    rows = []
    for event in Event.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:RECENT]:
        value = (event.value, event.currency or customer.program.currency) if event.value is not None else None
        rows.append({"at": event.occurred_at, "kind": _("Event"), "text": event.type, "money": value})
    for item in ScoreTransition.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:RECENT]:
        text = f"{TRANSITION_LABELS.get(item.kind, item.kind)}: {item.from_value or '–'} → {item.to_value}"
        rows.append({"at": item.occurred_at, "kind": _("Score"), "text": text})
    for change in ConsentChange.objects.filter(customer=customer).order_by("-at", "-id")[:RECENT]:
        what = change.get_channel_display() or change.get_topic_display()
        verb = _("given") if change.granted else _("withdrawn")
        text = f"{what}: {verb} ({change.get_source_display()})"
        rows.append({"at": change.at, "kind": _("Consent"), "text": text})
    rows.sort(key=lambda row: row["at"], reverse=True)
    url = reverse("admin:engagement_event_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "timeline",
        _("Timeline of recent events"),
        "admin/engagement/customer/section_timeline.html",
        {"rows": rows[:RECENT], "all_url": url},
        wide=True,
    )


# --- erase ---------------------------------------------------------------------------------


def erase(request, customer):
    from engagement.customers import erase_customer

    if customer.erased_at is not None:
        raise ActionRefused(_("This customer's personal data was already erased."))
    if request.POST.get("confirm") != "yes":
        raise ActionRefused(_("Erasing needs the confirmation page's button."))
    erase_customer(customer)
    return _("Erased the personal data of customer %(id)s.") % {"id": customer.external_id}


ERASE = CustomerAction(
    name="erase",
    label=gettext_lazy("Erase personal data"),
    permission="engagement.delete_customer",
    perform=erase,
    template="admin/engagement/customer/action_erase.html",
    confirm_template="admin/engagement/customer/erase_confirm.html",
    order=90,
)


def register():
    """engagement's sections and the erase action (EngagementConfig.ready)."""
    hooks.register_customer_section(10, "profile", profile_section)
    hooks.register_customer_section(15, "consents", consents_section)
    hooks.register_customer_section(60, "scores", scores_section)
    hooks.register_customer_section(70, "messages", messages_section)
    hooks.register_customer_section(80, "timeline", timeline_section)
    hooks.register_customer_action(ERASE)

"""Right of access and portability (GDPR Art. 15/20): everything held about a customer, as
one JSON document (`GET /customers/{external_id}/export`).

Engagement's own parts (profile, scores, events and what retention rolled up of the dropped
ones, messages, push subscriptions) are read here;
higher apps add theirs through engagement.hooks.register_export_section.
"""

from decimal import Decimal

from engagement import hooks
from engagement.channels.models import Message, PushSubscription
from engagement.customers import PROFILE_FIELDS
from engagement.models import Customer, CustomerEventRollup, CustomerScore, Event
from engagement.retention import get_retained_from

EXPORTED_FIELDS = ("external_id", *PROFILE_FIELDS, "tier", "created_at", "updated_at", "erased_at")


def export_customer(customer: Customer) -> dict:
    """A JSON-able dict: profile, engagement, events, messages, push subscriptions, then one
    key per registered section (surveys, rewards, payouts). Reads only."""
    score = CustomerScore.objects.filter(customer=customer).first()
    document = {
        "program": customer.program.slug,
        "customer": {name: getattr(customer, name) for name in EXPORTED_FIELDS},
        "engagement": {
            "first_seen_at": customer.first_seen_at,
            "last_seen_at": customer.last_seen_at,
            "event_count": customer.event_count,
            "purchase_count": customer.purchase_count,
            "revenue": customer.revenue,
            "engagement_score": score.engagement_score if score else None,
            "segment": score.segment if score else None,
        },
        "events": list(
            Event.objects.filter(customer=customer)
            .order_by("occurred_at", "id")
            .values("event_id", "type", "occurred_at", "value", "currency", "properties")
        ),
        "events_rolled_up": _rolled_up(customer),
        "messages": list(
            Message.objects.filter(customer=customer)
            .order_by("id")
            .values("channel", "template_key", "to_address", "subject", "body", "status", "created_at", "sent_at")
        ),
        "push_subscriptions": list(
            PushSubscription.objects.filter(customer=customer).order_by("id").values("user_agent", "created_at")
        ),
    }
    for name, section in sorted(hooks.export_sections().items()):
        document[name] = section(customer)
    return _money_as_strings(document)


def _rolled_up(customer):
    """What retention kept of the customer's dropped events (engagement.retention), or None."""
    rollup = CustomerEventRollup.objects.filter(customer=customer).first()
    if rollup is None:
        return None
    return {
        # The program's cutoff: the rollup row's own instant is that of the run that last added to it.
        "before": get_retained_from(customer.program) or rollup.retained_from,
        "events": [
            {"type": type_, "occurred_at": at, "value": value}
            for type_, at, value in zip(rollup.types, rollup.times, rollup.amounts, strict=True)
        ],
        "referred_customers": rollup.referred_customers,
        "clicked_messages": rollup.clicked_messages,
    }


def _money_as_strings(value):
    # API.md: money is a string ("40.00"), never a float that could lose a cent.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _money_as_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_money_as_strings(v) for v in value]
    return value

"""Right to erasure for outbound webhooks: the payload copies kept for (re)delivery and the
partners' answers to them."""

from engagement.erasure import Scrubber
from engagement.models import Customer
from engagement.webhooks.models import WebhookAttempt, WebhookEvent


def erase_customer_webhooks(customer: Customer, scrubber: Scrubber) -> None:
    """Scrub personal data from the payloads of the program's webhook events about
    `customer` (payload "customer" = its external id, which stays) and from the response
    excerpts of their delivery attempts. Rows, types and times stay. Idempotent."""
    events = WebhookEvent.objects.filter(program=customer.program, payload__customer=customer.external_id)
    scrubber.scrub_rows(events, "payload")
    attempts = WebhookAttempt.objects.filter(delivery__event__in=events).exclude(response_excerpt="")
    scrubber.scrub_rows(attempts, "response_excerpt")
    # Events about others may still quote this customer (a referral, a free-text reason).
    scrubber.scrub_mentions(WebhookEvent.objects.filter(program=customer.program), "payload")

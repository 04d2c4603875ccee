"""A customer's personal data in payouts: erasure (destinations, account names, provider
copies) and the export section (payouts with their masked destinations)."""

from engagement.erasure import Scrubber
from engagement.models import Customer
from payouts.models import Hold, Payout, PayoutApproval, PayoutAttempt, PayoutStatusChange, ProviderWebhookReceipt
from payouts.states import FINAL


def erase_customer_payouts(customer: Customer, scrubber: Scrubber) -> None:
    """Replace the destinations (masked and full) of the customer's finished payouts,
    and scrub provider answers and receipts that quote them; amounts, currencies, methods,
    statuses and references stay; hold reasons (text and params) are scrubbed, also other
    customers' that quote this one. A payout still on its way keeps its full destination until
    the provider has the order (payouts.states wipes it at the final status); its masked copy
    is erased now. Idempotent."""
    payouts = Payout.objects.filter(customer=customer)
    payouts.exclude(destination={}).update(destination={"erased": True})
    payouts.filter(status__in=FINAL).exclude(destination_secret={}).update(destination_secret={})
    scrubber.scrub_rows(payouts, "status_reason", "hold_detail", "hold_params")
    # A velocity hold for a shared destination quotes the other customer's external id
    # (which may be this customer's email or phone) in another customer's payout.
    quoting = Payout.objects.filter(program=customer.program, hold=Hold.VELOCITY).exclude(customer=customer)
    scrubber.scrub_mentions(quoting, "hold_detail", "hold_params")
    scrubber.scrub_rows(PayoutStatusChange.objects.filter(payout__customer=customer), "reason")
    scrubber.scrub_rows(PayoutApproval.objects.filter(payout__customer=customer), "reason")
    scrubber.scrub_rows(PayoutAttempt.objects.filter(payout__customer=customer), "request", "response_body", "error")
    receipts = ProviderWebhookReceipt.objects.filter(program=customer.program)
    scrubber.scrub_mentions(receipts, "payload")


def export_payouts(customer: Customer) -> list:
    """The customer's payouts; destinations as shown everywhere (masked)."""
    return list(
        Payout.objects.filter(customer=customer)
        .order_by("id")
        .values("reference", "amount", "currency", "method", "destination", "status", "created_at", "completed_at")
    )

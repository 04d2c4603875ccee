"""A customer's personal data in rewards: erasure (text kept beside the totals) and the
export section (balance, tier, ledger, redemptions with their fulfilment, referrals)."""

from engagement.erasure import Scrubber
from engagement.models import Customer
from rewards.campaigns.models import ActionRun, CampaignEffect, PendingTrigger, TeamNotification
from rewards.models import Fulfilment, LedgerEntry, PointsAccount, Redemption, Referral, ReferralCode

# The shipping address of a merchandise fulfilment: blanked at erasure (the country, carrier
# and tracking number stay: they name no one).
ADDRESS_FIELDS = ("ship_name", "ship_line1", "ship_line2", "ship_city", "ship_region", "ship_postcode", "ship_phone")


def erase_customer_rewards(customer: Customer, scrubber: Scrubber) -> None:
    """Scrub personal data from ledger entry reasons (points, balances and keys are never
    touched: the ledger trigger allows only `reason` to change), campaign effect, run and
    pending-trigger contexts, and team notifications about the customer. Idempotent."""
    scrubber.scrub_rows(LedgerEntry.objects.filter(customer=customer), "reason")
    scrubber.scrub_rows(CampaignEffect.objects.filter(customer=customer), "context")
    scrubber.scrub_rows(ActionRun.objects.filter(customer=customer), "result")
    scrubber.scrub_rows(PendingTrigger.objects.filter(customer=customer), "context")
    scrubber.scrub_rows(TeamNotification.objects.filter(customer=customer), "subject", "body")
    scrubber.scrub_rows(Redemption.objects.filter(customer=customer).exclude(failure_reason=""), "failure_reason")
    # A parcel not yet shipped can no longer be sent: the brand sees the blank address in the
    # fulfilments list (erasure outranks delivery, GDPR Art. 17).
    Fulfilment.objects.filter(redemption__customer=customer).update(**dict.fromkeys(ADDRESS_FIELDS, ""))


def export_rewards(customer: Customer) -> dict:
    """Balance, tier, every ledger entry, redemption and referral of the customer."""
    account = PointsAccount.objects.filter(customer=customer).first()
    code = ReferralCode.objects.filter(customer=customer).values_list("code", flat=True).first()
    return {
        "balance": account.balance if account else 0,
        "pending": account.pending if account else 0,
        "tier": customer.tier,
        "ledger": list(
            LedgerEntry.objects.filter(customer=customer)
            .order_by("id")
            .values("kind", "points", "pending_points", "balance_after", "reason", "expires_at", "created_at")
        ),
        "redemptions": [
            {
                "id": r.pk,
                "item": r.item.title_en,
                "points": r.points,
                "status": r.status,
                "code": r.code,
                "created_at": r.created_at,
                "fulfilment": _fulfilment_export(r),
            }
            for r in Redemption.objects.filter(customer=customer)
            .select_related("item", "fulfilment__charity")
            .order_by("id")
        ],
        "referral_code": code,
        "referrals": list(
            Referral.objects.filter(referrer=customer)
            .order_by("id")
            .values("referee_external_id", "status", "sent_at", "converted_at")
        ),
    }


def _fulfilment_export(redemption: Redemption) -> dict | None:
    fulfilment = getattr(redemption, "fulfilment", None)
    if fulfilment is None:
        return None
    return {
        "status": fulfilment.status,
        **{name: getattr(fulfilment, name) for name in ADDRESS_FIELDS},
        "ship_country": fulfilment.ship_country,
        "carrier": fulfilment.carrier,
        "tracking_number": fulfilment.tracking_number,
        "charity": fulfilment.charity.name_en if fulfilment.charity_id else None,
        "receipt_number": fulfilment.receipt_number,
        "booking_code": fulfilment.booking_code,
    }

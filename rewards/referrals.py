"""Referrals: a code and link per customer; `referral_sent` / `referral_converted` events
(customer = the referrer, properties.referred_customer = the referee's external id) tie
referrer and referee. A conversion earns the referrer the program's referral points, once
per referee (key `referral:converted:<referee>`), never for referring oneself.
"""

import secrets

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from engagement.models import Customer
from rewards import activity, ledger
from rewards.models import Referral, ReferralCode, RewardsSettings

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud


def get_referral_code(customer):
    """The customer's referral code, created on first use (unique per program)."""
    found = ReferralCode.objects.filter(customer=customer).first()
    if found:
        return found
    for _attempt in range(10):
        code = "".join(secrets.choice(ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(program_id=customer.program_id, customer=customer, code=code)
        except IntegrityError:
            found = ReferralCode.objects.filter(customer=customer).first()
            if found:
                return found
    raise RuntimeError("Could not allocate a referral code")


def find_referrer(program, code):
    row = ReferralCode.objects.filter(program=program, code=str(code).upper()[:20]).select_related("customer").first()
    return row.customer if row else None


def record_referral_events(program, events):
    """Apply referral events of one processing batch (inside its transaction)."""
    referee_ids = {str(e.properties.get("referred_customer") or "") for e in events}
    referees = {c.external_id: c for c in Customer.objects.filter(program=program, external_id__in=referee_ids)}
    points = RewardsSettings.get_for(program).referral_points
    grants = {}
    for event in events:
        referee_id = str(event.properties.get("referred_customer") or "")[:128]
        if not referee_id or referee_id == event.customer.external_id:
            continue
        referral, _created = Referral.objects.get_or_create(
            program=program,
            referrer=event.customer,
            referee_external_id=referee_id,
            defaults={"sent_at": event.occurred_at, "referee": referees.get(referee_id)},
        )
        if event.type != "referral_converted" or referral.status == Referral.Status.CONVERTED:
            continue
        Referral.objects.filter(pk=referral.pk).update(
            status=Referral.Status.CONVERTED,
            converted_at=event.occurred_at or timezone.now(),
            referee=referees.get(referee_id),
        )
        key = f"referral:converted:{referee_id}"
        if points and key not in grants:  # one reward per referee, even if two referrers claim it
            grants[key] = ledger.Grant(
                customer=event.customer,
                points=points,
                reason=activity.referral(referee_id),
                idempotency_key=key,
                actor="referral",
                source=("referral", referral.pk),
            )
    if grants:
        # One set-based grant for the batch (a grant_points call per referral cost ~14 ms each).
        ledger.bulk_grant(program, list(grants.values()), notify=True)


def get_referral_stats(customer):
    made = Referral.objects.filter(referrer=customer)
    return {
        "sent": made.count(),
        "converted": made.filter(status=Referral.Status.CONVERTED).count(),
        "points": customer.ledger_entries.filter(source_type="referral").aggregate(s=Sum("points"))["s"] or 0,
    }


def survey_next_step(invitation, response, band):
    """surveys.next_steps provider: a promoter's thank-you page offers their referral link."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    if band != "promoter":
        return None
    code = get_referral_code(invitation.customer)
    return {
        "text": _("Glad you like us! Share your link: when a friend joins, you both earn points."),
        "link": reverse("rewards_portal:referral-landing", args=[code.code]),
        "link_label": _("Your referral link"),
        "copy": True,
    }

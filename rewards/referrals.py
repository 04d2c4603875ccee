"""Referrals: a code and link per customer, and two ways to tie a friend to a referrer.

1. A friend joins with a code (the portal's landing page, or a partner's customer upsert
   with `referral_code`): `attach_referral` checks the fraud rules and records a JOINED
   referral, or a REJECTED one with its reason. The friend's first purchase of at least the
   program's `referral_min_purchase` (`reward_qualifying_purchases`, run by processing)
   rewards both: the referrer `referral_points` (key `referral:converted:<referee>`), the
   friend `referee_points` (key `referral:welcome:<referee>`); exactly once per friend.
2. `referral_sent` / `referral_converted` events (customer = the referrer,
   properties.referred_customer = the referee's external id): a conversion earns the
   referrer the referral points under the same key, so the two paths never pay twice.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from engagement.customers import upsert_customer
from engagement.models import Customer
from rewards import activity, grant_batch, ledger
from rewards.models import Referral, ReferralCode, RewardsSettings

CODE_MAX = 20
VELOCITY_WINDOW = timedelta(hours=1)

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud


def get_referral_code(customer):
    """The customer's referral code, created on first use (unique per program)."""
    found = ReferralCode.objects.filter(customer=customer).first()
    if found:
        return found
    for _attempt in range(10):
        code = "".join(secrets.choice(ALPHABET) for _ in range(8))
        # The link /portal/r/<code>/ names no program, so a code is kept unique across
        # programs too (the database constraint is per program; a clash here is ~1e-12).
        if ReferralCode.objects.filter(code=code).exists():
            continue
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(program_id=customer.program_id, customer=customer, code=code)
        except IntegrityError:
            found = ReferralCode.objects.filter(customer=customer).first()
            if found:
                return found
    raise RuntimeError("Could not allocate a referral code")


def normalise_code(code):
    return str(code or "").strip().upper()[:CODE_MAX]


def find_referrer(program, code):
    """The active customer owning `code` in `program`, or None (unknown or erased)."""
    row = (
        ReferralCode.objects.filter(program=program, code=normalise_code(code), customer__erased_at__isnull=True)
        .select_related("customer__program")
        .first()
    )
    return row.customer if row else None


def find_referral_code(code):
    """The ReferralCode for a landing-page link (codes are unique across programs), or None."""
    code = normalise_code(code)
    if not code:
        return None
    return (
        ReferralCode.objects.filter(code=code, customer__erased_at__isnull=True)
        .select_related("customer__program")
        .first()
    )


@dataclass(frozen=True)
class ReferralOffer:
    referrer_points: int
    referee_points: int
    min_purchase: Decimal
    currency: str


def get_referral_offer(program):
    """What the programme gives: the amounts shown on the landing and share pages."""
    settings = RewardsSettings.get_for(program)
    return ReferralOffer(
        referrer_points=settings.referral_points,
        referee_points=settings.referee_points,
        min_purchase=settings.referral_min_purchase,
        currency=program.currency,
    )


def _email_key(email):
    # Plus-addressing is the cheapest way to mint "another" address: compare without it.
    local, _at, domain = (email or "").strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if domain else ""


def _phone_key(phone):
    # Compare the last 9 digits: "+60 12-345 6789" and "012 345 6789" are one phone.
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 9 else ""


def _fraud_reason(referrer, referee, settings, now):
    """The first fraud rule the pair breaks (Referral.Reason), or "" when none does."""
    if referrer.pk == referee.pk:
        return Referral.Reason.SELF
    if _email_key(referrer.email) and _email_key(referrer.email) == _email_key(referee.email):
        return Referral.Reason.SHARED_EMAIL
    if _phone_key(referrer.phone) and _phone_key(referrer.phone) == _phone_key(referee.phone):
        return Referral.Reason.SHARED_PHONE
    if Customer.objects.filter(pk=referee.pk, purchase_count__gt=0).exists():  # fresh: processing counts them
        return Referral.Reason.EXISTING
    counted = Referral.objects.filter(referrer=referrer, joined_at__isnull=False).exclude(
        status=Referral.Status.REJECTED
    )
    if settings.referral_cap and (
        counted.filter(joined_at__gte=now - timedelta(days=settings.referral_cap_days)).count() >= settings.referral_cap
    ):
        return Referral.Reason.CAP
    if settings.referral_velocity_per_hour and (
        counted.filter(joined_at__gte=now - VELOCITY_WINDOW).count() >= settings.referral_velocity_per_hour
    ):
        return Referral.Reason.VELOCITY
    return ""


class UnknownReferralCode(Exception):
    """The code names no active customer of the program."""


def attach_referral(referee, code, source):
    """Tie `referee` to the owner of `code` (source "portal" or "api"); returns the Referral.

    Idempotent: a friend already tied by a code keeps that referral (returned unchanged).
    A broken fraud rule records the referral as REJECTED with its reason (never rewarded).
    Locks the referrer's ReferralCode row so the cap and velocity counts of one referrer
    are taken one at a time. Raises UnknownReferralCode (nothing written).
    """
    program = referee.program
    referrer = find_referrer(program, code)
    if referrer is None:
        raise UnknownReferralCode(normalise_code(code))
    existing = Referral.objects.filter(program=program, referee_external_id=referee.external_id).exclude(code="")
    with transaction.atomic():
        ReferralCode.objects.select_for_update().get(customer=referrer)
        found = existing.first()
        if found:
            return found
        now = timezone.now()
        reason = _fraud_reason(referrer, referee, RewardsSettings.get_for(program), now)
        values = {
            "referee": referee,
            "code": normalise_code(code),
            "source": source,
            "joined_at": now,
            "status": Referral.Status.REJECTED if reason else Referral.Status.JOINED,
            "rejection_reason": reason,
        }
        try:
            with transaction.atomic():
                referral, _created = Referral.objects.update_or_create(
                    program=program, referrer=referrer, referee_external_id=referee.external_id,
                    defaults=values, create_defaults={**values, "sent_at": now},
                )  # fmt: skip
        except IntegrityError:  # another referrer's code attached first (one code per friend)
            return existing.get()
    return referral


def reward_qualifying_purchases(program, purchases):
    """Reward both sides of JOINED referrals whose friend made a qualifying purchase.

    Runs inside the processing transaction. The JOINED -> CONVERTED move is a conditional
    UPDATE, and the grants carry per-friend idempotency keys, so a replayed or concurrent
    batch rewards nothing twice. Returns how many referrals converted.
    """
    if not purchases:
        return 0
    settings = RewardsSettings.get_for(program)
    pending = {
        r.referee_id: r
        for r in Referral.objects.filter(
            program=program, status=Referral.Status.JOINED, referee_id__in={e.customer_id for e in purchases}
        ).select_related("referrer", "referee")
    }
    window = timedelta(days=settings.return_window_days)
    grants = []
    for event in purchases:
        referral = pending.pop(event.customer_id, None) if _qualifies(event, program, settings) else None
        if referral is None:
            continue
        moved = Referral.objects.filter(pk=referral.pk, status=Referral.Status.JOINED).update(
            status=Referral.Status.CONVERTED, converted_at=event.occurred_at
        )
        if not moved:
            continue
        hold = event.occurred_at + window if settings.return_window_days else None
        referee_id = referral.referee_external_id
        # Message codes (rewards.activity): each customer reads the line in their own language.
        for customer, points, reason, key in (
            (referral.referrer, settings.referral_points, activity.referral(referee_id),
             f"referral:converted:{referee_id}"),
            (referral.referee, settings.referee_points,
             activity.Reason(activity.WELCOME, "Welcome bonus for joining through a friend"),
             f"referral:welcome:{referee_id}"),
        ):  # fmt: skip
            if points:
                grants.append(
                    ledger.Grant(
                        customer=customer, points=points, reason=reason, idempotency_key=key,
                        actor="referral", source=("referral", referral.pk), pending_until=hold,
                    )
                )  # fmt: skip
    grant_batch.add(program, grants, notify=True)  # the batch's bulk ledger write
    return len(grants)


def _qualifies(event, program, settings):
    if event.value is None or (event.currency and event.currency != program.currency):
        return False
    return Decimal(event.value) >= settings.referral_min_purchase


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
        if event.type != "referral_converted" or referral.status in (
            Referral.Status.CONVERTED,
            Referral.Status.REJECTED,
        ):
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
    # Queued for the batch's one bulk ledger write (a grant_points call per referral cost ~14 ms).
    grant_batch.add(program, list(grants.values()), notify=True)


def get_referral_stats(customer):
    made = Referral.objects.filter(referrer=customer).exclude(status=Referral.Status.REJECTED)
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


def attach_referral_hook(customer, code, source):
    """engagement.hooks referral handler: the referral's status and reason, None if unknown."""
    try:
        referral = attach_referral(customer, code, source)
    except UnknownReferralCode:
        return None
    return {"status": referral.status, "reason": referral.rejection_reason}


def join_through_referral(program, code, *, email, name="", locale="", consent_email=False):
    """The landing page's sign-up: the program's customer with this email (created with a
    `portal-…` external id when there is none) tied to the code's owner. Returns the Referral.

    One transaction; an existing customer keeps their profile (only a missing name is set).
    Raises UnknownReferralCode (nothing written).
    """
    with transaction.atomic():
        if find_referrer(program, code) is None:
            raise UnknownReferralCode(normalise_code(code))
        customer = Customer.objects.filter(program=program, email__iexact=email, erased_at__isnull=True).first()
        if customer is None:
            fields = {"email": email, "name": name, "locale": locale, "consent_email": consent_email}
            customer, _created = upsert_customer(program, f"portal-{secrets.token_hex(8)}", fields, source="portal")
        return attach_referral(customer, code, "portal")

"""The one contact policy: consent, quiet hours, WhatsApp window, caps and minimum gap.

`evaluate(...)` is pure reading: it says whether a message may go now, must wait (held until
`retry_at`) or must not go at all (skipped). sending.send_message uses it when a message is
created, and delivery uses it again when a worker claims the message (then under a lock on
the customer row, so the caps hold exactly under concurrency). `check_send(...)` is the same
question for surveys and campaigns ("would a send be allowed now?").

Order of checks: erased, channel consent, topic (offers/surveys/account) not turned off, address, WhatsApp window, quiet hours, then (for
non-transactional messages only) the daily/weekly/monthly caps and the minimum gap. Caps and
the gap count claimed non-transactional messages (sending, sent, delivered) over rolling
windows of 24 hours, 7 days and 30 days, on every channel of the program.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models.functions import Coalesce
from django.utils import timezone

from engagement.channels import consent, rendering
from engagement.channels.models import (
    CONTACT_STATUSES,
    Channel,
    ContactPolicy,
    Message,
    MessageStatus,
    PushSubscription,
    Reason,
)

WINDOWS = (
    ("max_per_day", dt.timedelta(days=1), "day"),
    ("max_per_week", dt.timedelta(days=7), "week"),
    ("max_per_month", dt.timedelta(days=30), "month"),
)


@dataclass(frozen=True)
class Decision:
    """status: "queued" (may go now), "held" (wait until retry_at) or "skipped" (never)."""

    status: str
    reason: str = ""
    detail: str = ""
    retry_at: dt.datetime | None = None

    @property
    def allowed(self):
        return self.status == MessageStatus.QUEUED


ALLOW = Decision(MessageStatus.QUEUED)


def get_policy(program):
    """The program's policy; an unsaved default one when the admin never created it."""
    return ContactPolicy.objects.filter(program=program).first() or ContactPolicy(program=program)


def get_address(customer, channel):
    """Where a message on `channel` goes: an email, a phone, "whatsapp:+...", or "push" ("" = none)."""
    if channel == Channel.EMAIL:
        return customer.email
    if channel == Channel.SMS:
        return customer.phone
    if channel == Channel.WHATSAPP:
        return f"whatsapp:{customer.phone}" if customer.phone else ""
    if channel == Channel.PUSH:
        active = PushSubscription.objects.filter(customer=customer, expired_at__isnull=True).exists()
        return "push" if active else ""
    raise ValueError(f"Unknown channel {channel!r}")


def quiet_hours_end(program, customer, at):
    """When the quiet hours around `at` end (UTC), or None when `at` is outside them.

    Quiet hours are wall-clock times in the customer's time zone; a window whose start is
    after its end crosses midnight (22:00-08:00).
    """
    start, end = program.quiet_hours_start, program.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    tz = customer.get_timezone()
    local = at.astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_date = start <= now < end, local.date()
    else:
        inside = now >= start or now < end
        end_date = local.date() if now < end else local.date() + dt.timedelta(days=1)
    if not inside:
        return None
    return dt.datetime.combine(end_date, end, tzinfo=tz).astimezone(dt.UTC)


def _contact_times(customer, at, *, include_queued, exclude_id):
    statuses = list(CONTACT_STATUSES) + ([MessageStatus.QUEUED] if include_queued else [])
    longest = max(window for _, window, _ in WINDOWS)
    rows = (
        Message.objects.filter(customer=customer, transactional=False, status__in=statuses)
        .annotate(when=Coalesce("contact_at", "send_after"))
        .filter(when__gt=at - longest, when__lte=at)
    )
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return sorted(rows.values_list("when", flat=True))


def _cap_and_gap(policy, customer, at, *, include_queued, exclude_id):
    times = _contact_times(customer, at, include_queued=include_queued, exclude_id=exclude_id)
    blocks = []
    for field, window, label in WINDOWS:
        cap = getattr(policy, field)
        in_window = [t for t in times if t > at - window]
        if cap and len(in_window) >= cap:
            # Free again when enough of the oldest contacts leave the rolling window.
            retry_at = in_window[len(in_window) - cap] + window
            blocks.append((Reason.CONTACT_CAP, f"{cap} per {label} reached", retry_at))
    if policy.min_gap_minutes and times:
        gap = dt.timedelta(minutes=policy.min_gap_minutes)
        if at - times[-1] < gap:
            blocks.append((Reason.MIN_GAP, f"{policy.min_gap_minutes} minutes since the last message", times[-1] + gap))
    if not blocks:
        return ALLOW
    return Decision(MessageStatus.HELD, blocks[0][0], blocks[0][1], max(block[2] for block in blocks))


def evaluate(
    customer,
    channel,
    *,
    transactional=False,
    pre_approved=False,
    at=None,
    policy=None,
    include_queued=True,
    exclude_id=None,
    check_address=True,
    topic="",
):
    """Decide whether a message to `customer` on `channel` may go at `at` (default now).

    include_queued: count queued (not yet claimed) messages towards the caps, as a sender
    does; a worker claiming a message counts only claimed ones (and excludes `exclude_id`).
    """
    at = at or timezone.now()
    policy = policy or get_policy(customer.program)
    if customer.erased_at is not None:
        return Decision(MessageStatus.SKIPPED, Reason.ERASED)
    if not customer.has_consent(channel):
        return Decision(MessageStatus.SKIPPED, Reason.NO_CONSENT)
    if not consent.allows_topic(customer, topic):
        return Decision(MessageStatus.SKIPPED, Reason.TOPIC_OFF, topic)
    if check_address and not get_address(customer, channel):
        return Decision(MessageStatus.SKIPPED, Reason.NO_ADDRESS)
    if channel == Channel.WHATSAPP and not pre_approved:
        last = customer.last_inbound_message_at
        if last is None or at - last > dt.timedelta(hours=policy.whatsapp_window_hours):
            return Decision(
                MessageStatus.SKIPPED,
                Reason.WHATSAPP_WINDOW,
                f"no customer message in the last {policy.whatsapp_window_hours} hours",
            )
    if (quiet_end := quiet_hours_end(customer.program, customer, at)) is not None:
        return Decision(MessageStatus.HELD, Reason.QUIET_HOURS, "", quiet_end)
    if transactional:
        return ALLOW
    return _cap_and_gap(policy, customer, at, include_queued=include_queued, exclude_id=exclude_id)


def check_send(customer, channel, *, transactional=False, template_key=None, at=None, topic=""):
    """Would a message to `customer` on `channel` be sent at `at` (default now)? -> Decision.

    Reads only. For WhatsApp, pass `template_key` so that a pre-approved template is allowed
    outside the 24-hour window. Use `decision.allowed`, `.reason`, `.retry_at`.
    """
    pre_approved = False
    if channel == Channel.WHATSAPP and template_key:
        try:
            pre_approved = rendering.is_pre_approved(customer.program, template_key, channel, customer.get_locale())
        except rendering.TemplateNotFound:
            return Decision(MessageStatus.SKIPPED, Reason.NO_TEMPLATE)
    return evaluate(customer, channel, transactional=transactional, pre_approved=pre_approved, at=at, topic=topic)

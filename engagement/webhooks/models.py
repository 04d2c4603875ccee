"""Outbound webhooks: subscriptions, recorded events, deliveries (a row-as-queue) and attempts.

A `WebhookEvent` is written in the transaction of the change it describes; one
`WebhookDelivery` per (event, subscription) is the unit of work a Celery worker claims with a
conditional UPDATE (healthchecks style); every HTTP try is a `WebhookAttempt`.
"""

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.models import Program


def new_event_id():
    return f"evt_{uuid.uuid4().hex}"


def new_secret():
    return f"whsec_{secrets.token_urlsafe(32)}"


class EventType(models.TextChoices):
    """The webhook event types of API.md ("Outbound webhooks")."""

    REWARD_GRANTED = "reward.granted", "reward.granted"
    POINTS_EXPIRED = "points.expired", "points.expired"
    REDEMPTION_COMPLETED = "redemption.completed", "redemption.completed"
    REDEMPTION_FAILED = "redemption.failed", "redemption.failed"
    FULFILMENT_SHIPPED = "fulfilment.shipped", "fulfilment.shipped"
    FULFILMENT_DELIVERED = "fulfilment.delivered", "fulfilment.delivered"
    FULFILMENT_RETURNED = "fulfilment.returned", "fulfilment.returned"
    FULFILMENT_DONATED = "fulfilment.donated", "fulfilment.donated"
    FULFILMENT_BOOKED = "fulfilment.booked", "fulfilment.booked"
    TIER_CHANGED = "tier.changed", "tier.changed"
    SURVEY_ANSWERED = "survey.answered", "survey.answered"
    SURVEY_DETRACTOR = "survey.detractor", "survey.detractor"
    PAYOUT_SUCCEEDED = "payout.succeeded", "payout.succeeded"
    PAYOUT_FAILED = "payout.failed", "payout.failed"
    CAMPAIGN_BUDGET_EXHAUSTED = "campaign.budget_exhausted", "campaign.budget_exhausted"
    CAMPAIGN_FAILED = "campaign.failed", "campaign.failed"


class WebhookSubscription(models.Model):
    """A partner endpoint of one program and the event types it wants (empty = all).

    `secret` signs every delivery; it is stored as is because signing needs it, and shown to
    the partner once (at creation or rotation). While `previous_secret` is not retired
    (`previous_secret_expires_at` in the future) deliveries carry both signatures.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField(max_length=500, verbose_name=_("target URL"))
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text=_("Event types to send; empty sends all."))
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    paused_reason = models.CharField(max_length=200, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # The current streak of failed attempts (reset by any success); drives the auto-pause.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program", "id"]
        indexes = [models.Index(fields=["program", "status"], name="webhook_sub_program_status")]

    def __str__(self):
        return f"{self.url} ({self.program})"

    @property
    def public_id(self):
        return f"whsub_{self.pk}"

    def wants(self, event_type):
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now=None):
        """Secrets to sign with, newest first: the previous one only until it is retired."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    @property
    def secret_hint(self):
        return f"{self.secret[:10]}…"


class WebhookEvent(models.Model):
    """One domain event to tell partners about; append-only, written in the caller's transaction."""

    # Unique by a constraint, not `unique=True`: that also builds a varchar_pattern_ops index
    # for LIKE 'x%' lookups, which nothing makes (the admin's search is a contains).
    event_id = models.CharField(max_length=40, default=new_event_id, editable=False)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="webhook_event_idempotency_unique",
            ),
            models.UniqueConstraint(fields=["event_id"], name="webhook_event_id_unique"),
        ]

    def __str__(self):
        return f"{self.event_id} {self.type}"


class WebhookDelivery(models.Model):
    """Delivering one event to one subscription: a row a worker claims (pending -> in_flight).

    pending: waiting for `next_attempt_at`; in_flight: claimed by a worker at `claimed_at`
    (a sweep hands it back if the worker died); delivered / failed are final (until re-sent).
    `queued_at` records when a broker message was last sent for it, so the sweep re-sends a
    lost message but doesn't flood the queue.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        IN_FLIGHT = "in_flight", _("in flight")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_deliveries")
    # Indexed by webhook_delivery_unique, which it leads.
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="webhook_delivery_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self):
        return f"{self.event.event_id} -> {self.subscription.url}"


class WebhookAttempt(models.Model):
    """One HTTP POST of a delivery, as it happened. Append-only."""

    # Indexed by webhook_attempt_delivery, which it leads.
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["delivery", "number"], name="webhook_attempt_delivery")]

    def __str__(self):
        return f"attempt {self.number} of delivery {self.delivery_id}"

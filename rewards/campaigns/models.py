"""Campaigns: when-then rules of a program, and the rows that make their effects exactly-once.

- `Campaign` holds the rule: audience, one trigger (kind + config), conditions, limits and
  budgets; its `CampaignAction`s say what happens.
- `CampaignEffect` is one qualification of a customer, keyed `(campaign, customer,
  occurrence)` with a UNIQUE constraint: an event id, a transition id, a date or a schedule
  period. Replays and concurrent workers insert it at most once, so actions run at most once.
- `ActionRun` is one action of one effect (unique per effect and action); delayed ones wait as
  `pending` rows with `due_at` that the beat sweep releases (scheduling.py).
- `PendingTrigger` is a trigger that can only be decided later (a cart abandoned with no
  purchase within 15 minutes; a ticket still unresolved after 48 hours).
- `CampaignStatusChange` is the history of the campaign's status moves (states.py).
- `TeamNotification` is a follow-up for the program's team (the notify_team action).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.models import Customer, Program


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ERROR = "error", _("Error (paused: its evaluation failed)")
        ENDED = "ended", _("Ended")

    class Audience(models.TextChoices):
        ALL = "all", _("All customers")
        SEGMENT = "segment", _("Partner segment (attributes.segment)")
        TIER = "tier", _("Tier")
        RFM_SEGMENT = "rfm_segment", _("RFM segment")
        ATTRIBUTES = "attributes", _("Customer attribute filters")

    class Trigger(models.TextChoices):
        EVENT = "event", _("Event of a type")
        NTH_EVENT = "nth_event", _("Nth event of a type (milestone)")
        SCORE_THRESHOLD = "score_threshold", _("Engagement score crosses a threshold")
        SEGMENT_ENTERED = "segment_entered", _("Enters an RFM segment")
        CHURN_RISK = "churn_risk", _("Churn risk rises above a level")
        INACTIVITY = "inactivity", _("Inactive for N days (win-back)")
        CART_ABANDONED = "cart_abandoned", _("Cart abandoned, no purchase within M minutes")
        SURVEY_ANSWERED = "survey_answered", _("Survey answered (kind and score band)")
        TICKET_UNRESOLVED = "ticket_unresolved", _("Ticket unresolved after N hours")
        REFERRAL_CONVERTED = "referral_converted", _("Referral converted")
        TIER_CHANGED = "tier_changed", _("Tier changed")
        DATE = "date", _("Birthday or signup anniversary")
        SCHEDULE = "schedule", _("Schedule (daily, weekly, monthly)")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    # What customers read in their activity ("Bonus: Double points weekend"); the name is the admin's.
    customer_title_en = models.CharField(max_length=120, blank=True)
    customer_title_ar = models.CharField(max_length=120, blank=True)
    customer_title_ms = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    starts_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: from activation."))
    ends_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: no end."))
    priority = models.IntegerField(default=0, help_text=_("Higher runs first."))
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.ALL)
    audience_values = models.JSONField(
        default=list, blank=True, help_text=_("Segment, tier or RFM segment names for those audiences.")
    )
    audience_attributes = models.JSONField(
        default=dict, blank=True, help_text=_('Attribute filters, e.g. {"city": "Kuala Lumpur"} (all must match).')
    )
    trigger_kind = models.CharField(max_length=20, choices=Trigger.choices)
    trigger_config = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(
        default=list, blank=True, help_text=_('List of {"field": ..., "op": ..., "value": ...} (all must hold).')
    )
    # Limits: per customer (1 + no period = once ever), budgets and total grants.
    per_customer_limit = models.PositiveIntegerField(null=True, blank=True)
    per_customer_period_days = models.PositiveIntegerField(null=True, blank=True)
    budget_points = models.BigIntegerField(null=True, blank=True)
    budget_money = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    max_grants = models.PositiveIntegerField(null=True, blank=True, help_text=_("Total qualifications allowed."))
    # Counters charged under a row lock on the campaign (limits.py).
    spent_points = models.BigIntegerField(default=0)
    spent_money = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    grants_count = models.PositiveIntegerField(default=0)
    paused_reason = models.CharField(max_length=40, blank=True)
    # The last evaluation failure (status `error`); kept after a resume as a record.
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    template_key = models.CharField(max_length=60, blank=True)
    # Scheduled triggers (inactivity, date, schedule): the last pass and period handled.
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(spent_points__lte=F("budget_points")),
                name="campaign_points_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(budget_money__isnull=True) | Q(spent_money__lte=F("budget_money")),
                name="campaign_money_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(max_grants__isnull=True) | Q(grants_count__lte=F("max_grants")),
                name="campaign_grants_within_max",
            ),
        ]
        indexes = [models.Index(fields=["program", "status", "trigger_kind"], name="campaign_active_lookup")]

    def __str__(self):
        return self.name

    @property
    def has_budget(self):
        return self.budget_points is not None or self.budget_money is not None or self.max_grants is not None


class CampaignStatusChange(models.Model):
    """Append-only history of every campaign status move (written by rewards.campaigns.states)."""

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.campaign_id}: {self.from_status} -> {self.to_status}"


class CampaignAction(models.Model):
    class Kind(models.TextChoices):
        GRANT_POINTS = "grant_points", _("Grant points")
        GRANT_REWARD = "grant_reward", _("Grant a catalogue reward")
        SEND_SURVEY = "send_survey", _("Send a survey")
        SEND_MESSAGE = "send_message", _("Send a message")
        CREATE_PAYOUT = "create_payout", _("Create a payout")
        NOTIFY_TEAM = "notify_team", _("Notify the program team")
        EMIT_WEBHOOK = "emit_webhook", _("Emit a webhook event")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    delay_minutes = models.PositiveIntegerField(
        default=0, help_text=_("After the trigger's time (7 days = 10080). Released by beat.")
    )
    cancel_if_event_type = models.CharField(
        max_length=64, blank=True, help_text=_("Delayed only: cancel if the customer had this event since the trigger.")
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.campaign_id})"


class CampaignEffect(models.Model):
    class Status(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        LIMITED = "limited", _("Over the per-customer limit")
        BUDGET_EXHAUSTED = "budget_exhausted", _("Budget exhausted")

    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    # Indexed by campaign_effect_once and campaign_effect_limits, which it leads.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="effects", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="campaign_effects")
    occurrence = models.CharField(max_length=120)
    status = models.CharField(max_length=20, choices=Status.choices)
    occurred_at = models.DateTimeField(help_text=_("When the trigger happened (event time, transition time...)."))
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer", "occurrence"], name="campaign_effect_once"),
        ]
        indexes = [models.Index(fields=["campaign", "customer", "occurred_at"], name="campaign_effect_limits")]

    def __str__(self):
        return f"{self.campaign}: {self.customer} ({self.occurrence})"


class ActionRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending (delayed)")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        CANCELLED = "cancelled", _("Cancelled")
        BUDGET_EXHAUSTED = "budget_exhausted", _("Budget exhausted")
        FAILED = "failed", _("Failed")

    id = models.BigAutoField(primary_key=True)
    # effect and campaign lead action_run_once and action_run_stats: no index of their own.
    effect = models.ForeignKey(CampaignEffect, on_delete=models.CASCADE, related_name="runs", db_index=False)
    action = models.ForeignKey(CampaignAction, on_delete=models.CASCADE, related_name="runs")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="campaign_runs")
    kind = models.CharField(max_length=20, choices=CampaignAction.Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    due_at = models.DateTimeField()
    executed_at = models.DateTimeField(null=True, blank=True)
    points = models.BigIntegerField(default=0)
    money = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    detail = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["effect", "action"], name="action_run_once")]
        indexes = [
            models.Index(fields=["due_at"], name="action_run_due", condition=Q(status="pending")),
            models.Index(fields=["campaign", "kind", "status"], name="action_run_stats"),
        ]

    def __str__(self):
        return f"{self.campaign}: {self.kind} for {self.customer} ({self.status})"


class PendingTrigger(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        FIRED = "fired", _("Fired")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    # Indexed by pending_trigger_once, which it leads.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="pending_triggers", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="campaign_pending_triggers")
    occurrence = models.CharField(max_length=120)
    occurred_at = models.DateTimeField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer", "occurrence"], name="pending_trigger_once"),
        ]
        indexes = [models.Index(fields=["due_at"], name="pending_trigger_due", condition=Q(status="pending"))]

    def __str__(self):
        return f"{self.campaign}: {self.customer} due {self.due_at:%Y-%m-%d %H:%M}"


class TeamNotification(models.Model):
    """A follow-up for the program's team (a detractor to call back, a ticket to chase)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="team_notifications")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, related_name="notifications")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="team_notifications")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.subject

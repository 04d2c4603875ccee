"""Messages (the log and the delivery queue), message templates, the program contact policy
and web push subscriptions."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.models import LOCALES, Customer, Program
from engagement.state_machine import StatusChange


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    PUSH = "push", _("Web push")


class Topic(models.TextChoices):
    """What a message is about; customers can turn each topic off on the preference page."""

    OFFERS = "offers", _("Offers and news")
    SURVEYS = "surveys", _("Surveys")
    ACCOUNT = "account", _("My account and rewards")


class ConsentSource(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL_LINK = "email_link", _("Email link")
    SMS_KEYWORD = "sms_keyword", _("SMS keyword")
    WHATSAPP_KEYWORD = "whatsapp_keyword", _("WhatsApp keyword")
    API = "api", _("API")
    EVENT = "event", _("Event")
    ADMIN = "admin", _("Admin")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    HELD = "held", _("Held")
    # Claimed by a worker, the provider call is under way (re-claimed by beat if stuck).
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    DROPPED = "dropped", _("Dropped")


class Reason(models.TextChoices):
    NONE = "", _("—")
    NO_CONSENT = "no_consent", _("No consent on the channel")
    NO_ADDRESS = "no_address", _("No address on the channel")
    NO_TEMPLATE = "no_template", _("No template")
    ERASED = "erased", _("Customer erased")
    QUIET_HOURS = "quiet_hours", _("Quiet hours")
    CONTACT_CAP = "contact_cap", _("Contact cap reached")
    MIN_GAP = "min_gap", _("Minimum gap between messages")
    WHATSAPP_WINDOW = "whatsapp_window", _("Outside the WhatsApp 24-hour window")
    TOPIC_OFF = "topic_off", _("The customer turned this topic off")
    NOT_BEFORE = "not_before", _("Scheduled for later")
    PROVIDER_ERROR = "provider_error", _("Provider error")


# Statuses that count as "a contact" for the caps and the minimum gap.
CONTACT_STATUSES = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED)


class Message(models.Model):
    """One message to one customer on one channel: the log, and the delivery queue.

    Its status is written only by engagement.channels.states (creation and every move, by
    conditional UPDATE so that two workers never both send it, with a history row).
    `due_at` is when the sender first wanted it out (now, or `not_before`); a held message
    older than the policy's max hold after `due_at` is dropped. `send_after` is when it may
    next be tried. `contact_at` is when it was claimed for sending: the caps count it.
    """

    # Indexed by message_program_created and message_customer_contact, which they lead.
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="messages", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    template_key = models.CharField(max_length=100)
    topic = models.CharField(max_length=10, choices=Topic.choices, default=Topic.OFFERS)
    locale = models.CharField(max_length=5, choices=LOCALES, blank=True)
    to_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    source = models.CharField(max_length=120, blank=True, help_text=_("Who asked: e.g. survey:3, campaign:7."))
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    transactional = models.BooleanField(default=False, help_text=_("Exempt from the contact caps and gap."))
    pre_approved = models.BooleanField(default=False, help_text=_("WhatsApp template approved for use any time."))
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True, default="")
    reason_detail = models.CharField(max_length=255, blank=True)
    due_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    contact_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "contact_at"], name="message_customer_contact"),
            models.Index(fields=["status", "send_after"], name="message_status_send_after"),
            models.Index(fields=["program", "created_at"], name="message_program_created"),
            # Delivery reports find a message by its provider's id (equality: no LIKE index).
            models.Index(fields=["provider_id"], name="message_provider_id"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.template_key} → {self.customer} ({self.get_status_display()})"


class MessageStatusChange(StatusChange):
    """Append-only history of every message status move (written by engagement.channels.states only)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_changes")

    class Meta(StatusChange.Meta):
        pass


class MessageTemplate(models.Model):
    """An admin-edited template. Overrides the file template of the same key, channel and locale.

    Bodies and subjects are rendered with Django's template language (no HTML escaping).
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="message_templates")
    key = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    locale = models.CharField(max_length=5, choices=LOCALES)
    subject = models.CharField(max_length=255, blank=True, help_text=_("Email only."))
    body = models.TextField()
    pre_approved = models.BooleanField(
        default=False, help_text=_("WhatsApp: approved by WhatsApp, may be sent outside the 24-hour window.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program", "key", "channel", "locale"]
        constraints = [
            models.UniqueConstraint(fields=["program", "key", "channel", "locale"], name="message_template_unique"),
        ]

    def __str__(self):
        return f"{self.key} ({self.channel}, {self.locale})"


class ContactPolicy(models.Model):
    """How often a program may contact one customer, across all channels and campaigns.

    Caps are over rolling windows (24 hours, 7 days, 30 days); 0 means no cap. Transactional
    messages are exempt from the caps and the gap (not from consent or quiet hours). A message
    blocked by quiet hours or a cap waits up to `max_hold_hours`, then is dropped.
    """

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="contact_policy")
    max_per_day = models.PositiveIntegerField(default=5)
    max_per_week = models.PositiveIntegerField(default=15)
    max_per_month = models.PositiveIntegerField(default=40)
    min_gap_minutes = models.PositiveIntegerField(default=0, help_text=_("Minimum time between two messages."))
    max_hold_hours = models.PositiveIntegerField(default=72, help_text=_("A held message older than this is dropped."))
    whatsapp_window_hours = models.PositiveIntegerField(
        default=24, help_text=_("WhatsApp free-form messages only this long after the customer's last message.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "contact policies"

    def __str__(self):
        return f"Contact policy of {self.program}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (endpoint + keys from PushManager.subscribe())."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="push_subscriptions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Set when the push service answers 404/410: the browser unsubscribed.
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "endpoint"], name="push_subscription_unique"),
        ]

    def __str__(self):
        return self.endpoint[:60]

    def as_subscription_info(self):
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class TopicOptOut(models.Model):
    """A topic the customer turned off (on every channel); written only by channels.consent."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="topic_opt_outs")
    topic = models.CharField(max_length=10, choices=Topic.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "topic"], name="topic_opt_out_unique")]


class ConsentChange(models.Model):
    """The history of consent: when and how each channel or topic was given or withdrawn.

    Append-only, written only by engagement.channels.consent. `channel` or `topic` is set
    (the other is blank).
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    topic = models.CharField(max_length=10, choices=Topic.choices, blank=True)
    granted = models.BooleanField()
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    detail = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(channel="") & ~Q(topic="")) | (~Q(channel="") & Q(topic="")),
                name="consent_change_channel_or_topic",
            ),
        ]

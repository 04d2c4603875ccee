"""Surveys: definitions (questions in en/ar/ms), invitations, responses, follow-ups and skips.

Throttling reads `Invitation.invited_at` (the moment a send was handed to a channel): the
recontact window and the program cooldown both start at the send, not at the answer.
"""

import secrets
import zoneinfo

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.channels.models import Channel
from engagement.models import LOCALES, Customer, Program
from engagement.state_machine import StatusChange

LANGUAGES = tuple(code for code, _name in LOCALES)
CHANNELS = tuple(Channel.values)


def default_channels():
    return ["email"]


class SurveySettings(models.Model):
    """Per-program survey policy; created with defaults on first use (`for_program`)."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="survey_settings")
    cooldown_days = models.PositiveIntegerField(
        default=7, help_text=_("No customer receives two surveys (of any kind) within this many days.")
    )
    min_responses_per_period = models.PositiveIntegerField(
        default=30, help_text=_("Report periods with fewer responses show 'too few responses'.")
    )
    brand_color = models.CharField(
        max_length=7,
        default="#1d4ed8",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour as #rrggbb."))],
        help_text=_("Buttons and headings of the survey pages (dark enough for white text)."),
    )

    class Meta:
        verbose_name = _("survey settings")
        verbose_name_plural = _("survey settings")

    def __str__(self):
        return f"Survey settings of {self.program}"

    @classmethod
    def for_program(cls, program):
        obj, _ = cls.objects.get_or_create(program=program)
        return obj


class Survey(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", "NPS (0-10)"
        CSAT = "csat", "CSAT (1-5)"
        CES = "ces", "CES (1-7)"
        CUSTOM = "custom", _("Custom")

    class ThrottledAction(models.TextChoices):
        DROP = "drop", _("Drop the send")
        HOLD = "hold", _("Hold until the customer is eligible")

    # Default recontact window per kind (issue 5): 90 days for NPS, 30 for the others.
    DEFAULT_RECONTACT_DAYS = {"nps": 90, "csat": 30, "ces": 30, "custom": 30}

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="surveys")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NPS)
    is_active = models.BooleanField(default=True)
    channels = models.JSONField(
        default=default_channels, help_text=_('In order of preference, e.g. ["email", "whatsapp", "sms"].')
    )
    link_validity_days = models.PositiveIntegerField(default=14)
    reminder_delay_hours = models.PositiveIntegerField(
        null=True, blank=True, default=72, help_text=_("Empty: no reminder.")
    )
    recontact_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty: the kind's default (90 days NPS, 30 days otherwise).")
    )
    throttled_action = models.CharField(max_length=10, choices=ThrottledAction.choices, default=ThrottledAction.DROP)
    # The follow-up question's text by score band: {"detractor": {"en": "…", "ar": "…", "ms": "…"},
    # "passive": {…}, "promoter": {…}}; a band without text shows the question's own text.
    followup_texts = models.JSONField(
        default=dict, blank=True, help_text=_("The follow-up question's text per score band and language.")
    )
    allow_fresh_link = models.BooleanField(
        default=True, help_text=_("An expired link offers to send the customer a new one.")
    )
    # Relationship survey: a sample of a segment, every `relationship_every_days` (beat).
    relationship_segment = models.CharField(max_length=40, blank=True)
    relationship_percent = models.PositiveSmallIntegerField(default=0, help_text=_("0: no relationship sends."))
    relationship_every_days = models.PositiveIntegerField(default=30)
    relationship_last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(relationship_percent__lte=100), name="survey_relationship_percent"),
            models.CheckConstraint(condition=Q(link_validity_days__gte=1), name="survey_link_validity_positive"),
        ]

    def __str__(self):
        return self.name

    def get_recontact_days(self):
        if self.recontact_days is not None:
            return self.recontact_days
        return self.DEFAULT_RECONTACT_DAYS[self.kind]

    def program_timezone(self):
        return zoneinfo.ZoneInfo(self.program.timezone)

    def get_primary_question(self):
        """The scored question (NPS/CSAT/CES scale, or a custom survey's first rating)."""
        return self.questions.filter(type=Question.Type.RATING).order_by("position", "id").first()


class Question(models.Model):
    class Type(models.TextChoices):
        RATING = "rating", _("Rating")
        SINGLE = "single_choice", _("Single choice")
        MULTIPLE = "multiple_choice", _("Multiple choice")
        TEXT = "free_text", _("Free text")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=0)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.RATING)
    text_en = models.CharField(_("text (English)"), max_length=300)
    text_ar = models.CharField(_("text (Arabic)"), max_length=300)
    text_ms = models.CharField(_("text (Malay)"), max_length=300)
    scale_min = models.SmallIntegerField(default=0)
    scale_max = models.SmallIntegerField(default=10)
    low_label_en = models.CharField(_("low end label (English)"), max_length=80, blank=True)
    low_label_ar = models.CharField(_("low end label (Arabic)"), max_length=80, blank=True)
    low_label_ms = models.CharField(_("low end label (Malay)"), max_length=80, blank=True)
    high_label_en = models.CharField(_("high end label (English)"), max_length=80, blank=True)
    high_label_ar = models.CharField(_("high end label (Arabic)"), max_length=80, blank=True)
    high_label_ms = models.CharField(_("high end label (Malay)"), max_length=80, blank=True)
    choices = models.JSONField(
        default=list, blank=True, help_text=_('Choice questions: [{"value": "price", "en": "…", "ar": "…", "ms": "…"}]')
    )
    required = models.BooleanField(default=False)
    is_followup = models.BooleanField(default=False, help_text=_('The "why?" question after the score.'))
    show_if = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('Ask only for chosen answers of an earlier question: {"question": <id>, "values": ["a", "b"]}.'),
    )

    class Meta:
        ordering = ["survey", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(scale_min__lt=models.F("scale_max")), name="question_scale_order"),
        ]

    def __str__(self):
        return self.text_en

    def localized(self, field, locale):
        return getattr(self, f"{field}_{locale}", "") or getattr(self, f"{field}_en", "")

    def choice_values(self):
        return [str(choice.get("value")) for choice in self.choices or []]


class Invitation(models.Model):
    """One customer asked to answer one survey, reached by an unguessable signed link."""

    class Status(models.TextChoices):
        HELD = "held", _("Held (throttled)")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        OPENED = "opened", _("Opened")
        ANSWERED = "answered", _("Answered")
        EXPIRED = "expired", _("Expired")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="survey_invitations")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="survey_invitations")
    token = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe, editable=False)
    channel = models.CharField(max_length=10)
    locale = models.CharField(max_length=5, default="en")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    source = models.CharField(max_length=20, default="api")
    idempotency_key = models.CharField(max_length=200, blank=True)
    # Held sends: when to re-check eligibility.
    hold_until = models.DateTimeField(null=True, blank=True)
    hold_reason = models.CharField(max_length=20, blank=True)
    # The send (throttling clock); null while held.
    invited_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reminder_message_id = models.BigIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=60, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="invitation_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "invited_at"], name="invitation_customer_sent"),
            models.Index(fields=["program", "sent_at"], name="invitation_program_sent"),
        ]

    def __str__(self):
        return f"{self.survey} → {self.customer} ({self.status})"

    def get_link(self):
        from surveys.tokens import invitation_link

        return invitation_link(self)

    def is_expired(self, now=None):
        return self.status == self.Status.EXPIRED or (
            self.expires_at is not None and self.expires_at <= (now or timezone.now())
        )


class InvitationStatusChange(StatusChange):
    """Append-only history of every invitation status move (written by surveys.states only)."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="status_changes")

    class Meta(StatusChange.Meta):
        pass


class SendSkip(models.Model):
    """A send that did not happen, and why (throttled, no consent, channel refused...)."""

    class Reason(models.TextChoices):
        RECONTACT_WINDOW = "recontact_window", _("Recontact window")
        COOLDOWN = "cooldown", _("Program cooldown")
        NO_CONSENT = "no_consent", _("No consent or address on the survey's channels")
        SURVEY_INACTIVE = "survey_inactive", _("Survey inactive")
        ERASED = "erased", _("Customer erased")
        CHANNEL = "channel", _("Refused by the channel")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="survey_skips")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="skips")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="survey_skips")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=20, default="api")
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="sendskip_idempotency_key_unique",
            ),
        ]

    def __str__(self):
        return f"{self.survey} ↛ {self.customer}: {self.reason}"


class Response(models.Model):
    """The answers of one invitation; partial until `completed_at` is set (then final)."""

    class Category(models.TextChoices):
        PROMOTER = "promoter", _("Promoter")
        PASSIVE = "passive", _("Passive")
        DETRACTOR = "detractor", _("Detractor")
        SATISFIED = "satisfied", _("Satisfied")
        NOT_SATISFIED = "not_satisfied", _("Not satisfied")
        NONE = "", _("None")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="survey_responses")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="survey_responses")
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    score = models.SmallIntegerField(null=True, blank=True)
    category = models.CharField(max_length=15, choices=Category.choices, blank=True, default="")
    channel = models.CharField(max_length=10, blank=True)
    # The customer's segment when they answered (reports per segment stay stable over time).
    segment = models.CharField(max_length=40, blank=True)
    locale = models.CharField(max_length=5, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["survey", "completed_at"], name="response_survey_completed")]

    def __str__(self):
        return f"{self.survey}: {self.customer} {self.score}"

    @property
    def is_complete(self):
        return self.completed_at is not None


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    value_int = models.SmallIntegerField(null=True, blank=True)
    value_text = models.TextField(blank=True, max_length=4000)
    value_choices = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "question"], name="answer_unique_per_question")]

    def __str__(self):
        return f"{self.question}: {self.display()}"

    def display(self):
        if self.value_int is not None:
            return str(self.value_int)
        if self.value_choices:
            return ", ".join(self.value_choices)
        return self.value_text


class FollowUp(models.Model):
    """Close the loop: a detractor (or CSAT <= 2) answer someone on the team must act on."""

    class Status(models.TextChoices):
        NEEDS_FOLLOW_UP = "needs_follow_up", _("Needs follow-up")
        IN_PROGRESS = "in_progress", _("In progress")
        RESOLVED = "resolved", _("Resolved")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="survey_followups")
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="followup")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEEDS_FOLLOW_UP, db_index=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "-created_at"]
        verbose_name = _("follow-up")

    def __str__(self):
        return f"Follow-up: {self.response}"

"""Programs, customers, partner keys and events: the base every other app builds on."""

import hashlib
import secrets
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext_lazy as _

# An ISO 4217 code: the one pattern every currency field and parameter is checked against.
CURRENCY_PATTERN = r"^[A-Z]{3}$"
LOCALES = [("en", "English"), ("ar", "العربية"), ("ms", "Bahasa Melayu")]

# Per-type weights for the engagement score (METRICS.md section 9); a program may override.
DEFAULT_SCORE_WEIGHTS = {
    "purchase": 10,
    "event_attended": 6,
    "referral_converted": 8,
    "survey_answered": 5,
    "social_share": 4,
    "social_comment": 3,
    "email_clicked": 2,
    "session": 1,
    "page_view": 0.2,
    "social_like": 0.5,
    "email_opened": 0.5,
}
# Customer Advocacy Index weights (METRICS.md section 8).
DEFAULT_CAI_WEIGHTS = {"nps": 0.5, "csat": 0.3, "referrals": 0.2}


def validate_timezone(value):
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(tz)s is not a known IANA time zone."), params={"tz": value})


def validate_property_names(value):
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise ValidationError(_('Enter a list of property names, such as ["address", "ic_number"].'))


class Program(models.Model):
    """A brand's loyalty and engagement program; the tenant every owned row points to."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, default="MYR", help_text=_("ISO 4217 code."))
    default_locale = models.CharField(max_length=5, choices=LOCALES, default="en")
    timezone = models.CharField(max_length=64, default="Asia/Kuala_Lumpur", validators=[validate_timezone])
    points_name = models.CharField(max_length=40, default="points")
    # Quiet hours in the customer's own time zone: no marketing message is sent between them.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    # Metric windows and score settings (METRICS.md).
    churn_lookback_days = models.PositiveIntegerField(default=90)
    churn_horizon_days = models.PositiveIntegerField(default=90)
    rfm_lookback_days = models.PositiveIntegerField(default=365)
    score_half_life_days = models.PositiveIntegerField(default=30)
    lifespan_cap_years = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10"))
    # Purchase models (engagement.purchase_models): below this many customers with a repeat
    # purchase the fit is not used and churn risk keeps the rule; CLV's annual discount rate.
    model_min_repeat_buyers = models.PositiveIntegerField(default=200)
    clv_annual_discount_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.10"))
    score_weights = models.JSONField(default=dict, blank=True, help_text=_("Per event type; empty uses the defaults."))
    cai_weights = models.JSONField(
        default=dict, blank=True, help_text=_("nps, csat, referrals; empty uses the defaults.")
    )
    # Event property names whose values are personal data (erased with the customer, besides
    # anything that looks like an email address or a phone number).
    personal_event_properties = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_property_names],
        help_text=_('Event property names holding personal data, erased with the customer, e.g. ["address"].'),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_PATTERN), name="program_currency_iso"),
        ]

    def __str__(self):
        return self.name

    def get_score_weights(self):
        return {**DEFAULT_SCORE_WEIGHTS, **(self.score_weights or {})}

    def get_cai_weights(self):
        return {**DEFAULT_CAI_WEIGHTS, **(self.cai_weights or {})}


class ProgramStaff(models.Model):
    """Limits a non-superuser staff account to the programs it is a member of."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="program_memberships")

    class Meta:
        verbose_name_plural = "program staff"
        constraints = [models.UniqueConstraint(fields=["program", "user"], name="program_staff_unique")]

    def __str__(self):
        return f"{self.user} @ {self.program}"


class CustomerQuerySet(models.QuerySet):
    def for_program(self, program):
        return self.filter(program=program)


class Customer(models.Model):
    """A customer of one program, addressed by the partner's own id (`external_id`)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=128)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    locale = models.CharField(max_length=5, choices=LOCALES, blank=True, help_text=_("Empty: the program's."))
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    birth_date = models.DateField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    consent_email = models.BooleanField(default=False)
    consent_sms = models.BooleanField(default=False)
    consent_whatsapp = models.BooleanField(default=False)
    consent_push = models.BooleanField(default=False)
    # Current tier name, maintained by rewards.tiers (kept here so the API can filter by it).
    tier = models.CharField(max_length=60, blank=True, db_index=True)
    # For WhatsApp's 24-hour customer-service window.
    last_inbound_message_at = models.DateTimeField(null=True, blank=True)
    # Aggregates kept by engagement.processing from processed events.
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)
    purchase_count = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(default=utc_now)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "external_id"], name="customer_external_id_unique"),
        ]
        indexes = [models.Index(fields=["program", "last_seen_at"])]

    def __str__(self):
        return self.name or self.external_id

    def get_locale(self):
        return self.locale or self.program.default_locale

    def get_timezone(self):
        return zoneinfo.ZoneInfo(self.timezone or self.program.timezone)

    def has_consent(self, channel):
        """True when the customer agreed to be contacted on `channel` (email/sms/whatsapp/push)."""
        return bool(getattr(self, f"consent_{channel}", False)) and self.erased_at is None


class CustomerEventCount(models.Model):
    """How many events of one type a customer has, and the latest; kept by processing."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="event_counts")
    type = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "type"], name="customer_event_count_unique")]

    def __str__(self):
        return f"{self.customer}: {self.type} × {self.count}"


def hash_key(raw_key):
    # Keys are 256-bit random tokens, so a fast hash is enough (no need for a slow KDF).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class PartnerKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def find(self, raw_key):
        return self.find_hashed(hash_key(raw_key))

    def find_hashed(self, hashed_key):
        return self.active().select_related("program").filter(hashed_key=hashed_key).first()


class PartnerKey(models.Model):
    """An API key of one program. Stored hashed; the full key is shown once, at creation."""

    PREFIX_LENGTH = 12

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="partner_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = PartnerKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, program, name, created_by=None, raw_key=None):
        """Create a key and return (key_row, raw_key). The raw key is never stored."""
        raw_key = raw_key or "gk_" + secrets.token_urlsafe(32)
        key = cls.objects.create(
            program=program,
            name=name,
            prefix=raw_key[: cls.PREFIX_LENGTH],
            hashed_key=hash_key(raw_key),
            created_by=created_by,
        )
        return key, raw_key

    @property
    def is_active(self):
        return self.revoked_at is None

    def revoke(self):
        from engagement.partner_api import keycache

        PartnerKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        keycache.changed()  # refused by every web process from the commit on
        self.refresh_from_db(fields=["revoked_at"])


class Event(models.Model):
    """Something a customer did, as sent by a partner (or recorded by the platform itself).

    Append-only. `processed_at` is set when processing claims the row (engagement.processing).
    The table is partitioned by month of `occurred_at` (engagement.partitions, migration
    0010): its database primary key is `(id, occurred_at)`, as PostgreSQL requires the
    partition key in every unique key, while Django still addresses rows by `id` alone (ids
    come from one identity sequence, so they stay unique). For the same reason the
    uniqueness of `(program, event_id)`, which keeps partner retries from double-counting,
    lives in EventKey, inserted in the same statement as the event.
    """

    id = models.BigAutoField(primary_key=True)
    # No single-column indexes: event_program_type_time and event_customer_time lead with them.
    # No database FK check on the program either (db_constraint=False): each constrained row
    # costs a deferred check at COMMIT (an index probe and a FOR KEY SHARE lock on the
    # program's row), 1,000 per batch for one program. Safe because engagement.ingest is the
    # only writer and takes the program from the authenticated partner key; the customer FK,
    # checked, belongs to a program too. An ORM deletion of a program still cascades here.
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    # Checked by triggers once per INSERT statement, not by a database FK (a check per row at
    # COMMIT, a sixth of the ingest's database time): migration 0014, same guarantee.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=utc_now)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__isnull=True) | Q(value__gte=0), name="event_value_not_negative"),
        ]
        indexes = [
            models.Index(fields=["program", "type", "occurred_at"], name="event_program_type_time"),
            # The re-score's RFM inputs (every purchase in the lookback) read from this index
            # alone, a tenth of the table's rows, without visiting the table.
            models.Index(
                fields=["program", "occurred_at"],
                include=["customer", "value"],
                condition=Q(type="purchase"),
                name="event_purchases",
            ),
            # The same for recurring purchases (MRR, ARPC): a small share of the purchases.
            models.Index(
                fields=["program", "occurred_at"],
                include=["customer", "value"],
                condition=Q(type="purchase", properties__recurring=True),
                name="event_recurring_purchases",
            ),
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time"),
            models.Index(fields=["received_at"], name="event_unprocessed", condition=Q(processed_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id}"


class EventKey(models.Model):
    """Every `(program, event_id)` ever accepted: the permanent, exact deduplication of events.

    A unique key on the partitioned events table would have to include `occurred_at`, so
    the same event_id sent again with another time would pass it; this small table holds the
    key instead. engagement.ingest inserts the keys and the events in one statement
    (`ON CONFLICT DO NOTHING` on the keys, then only the events whose key was new), so both
    commit together. Keys outlive their events: retention or erasure removing an old event
    never lets its id be accepted again.
    """

    pk = models.CompositePrimaryKey("program_id", "event_id")
    # No index of its own: the primary key leads with it. No database FK check, as for
    # Event.program (written only by engagement.ingest, for the authenticated program).
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    event_id = models.CharField(max_length=128)

    def __str__(self):
        return self.event_id


class CustomerEventRollup(models.Model):
    """What a customer's events dropped by retention (engagement.retention) still owe the
    scores, the purchase models and the metrics of later periods, kept exact.

    Each dropped event's type, instant and value (`amounts`), in three parallel arrays sorted by time:
    the engagement score's decayed sum depends on the program's weights and half-life, the
    median gap on every gap, the purchase models on local calendar days (the program's time
    zone): all of them settings that may change after the drop, so no pre-computed figure
    would stay exact. What no event property is kept for, except the two a later period's
    metric reads: the customers named by dropped `referral_converted` events (advocacy revenue)
    and the messages of dropped `email_clicked` events (email conversions after a click).
    Written only by engagement.retention, in the transaction that deletes those events.
    """

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="event_rollup")
    # No index of its own: event_rollup_program_last leads with it.
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Every processed event of the customer before this instant is here, none in engagement_event.
    retained_from = models.DateTimeField()
    event_count = models.PositiveIntegerField()
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    types = ArrayField(models.CharField(max_length=64))
    times = ArrayField(models.DateTimeField())
    amounts = ArrayField(models.DecimalField(max_digits=14, decimal_places=2, null=True))
    # Text, not a bounded varchar: they come from free JSON properties, and a value too long
    # for a column would make the whole program's retention fail.
    referred_customers = ArrayField(models.TextField(), default=list)
    clicked_messages = ArrayField(models.TextField(), default=list)
    updated_at = models.DateTimeField(default=utc_now)

    class Meta:
        # The scores' RFM inputs skip the rollups whose last event is before the lookback.
        indexes = [models.Index(fields=["program", "last_event_at"], name="event_rollup_program_last")]

    def __str__(self):
        return f"{self.event_count} events before {self.retained_from:%Y-%m-%d}"


class EventRetention(models.Model):
    """Per program, the instant before which its events were rolled up and deleted (the
    latest retention cutoff applied): metrics of periods reaching before it are refused."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, primary_key=True, related_name="+")
    retained_from = models.DateTimeField()
    updated_at = models.DateTimeField(default=utc_now)

    def __str__(self):
        return f"events from {self.retained_from:%Y-%m-%d}"


class MetricDay(models.Model):
    """Marker of one program's UTC day in the metrics rollup (MetricDayTotal): `dirty` until
    engagement.metrics.rollup has built that day's totals, and again as soon as anything
    changes one of its events (ingest, erasure, retention mark it in their own transaction).
    Metrics read a day's totals only while its marker is clean."""

    # No index of its own: the unique (program, day) leads with it.
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    dirty = models.BooleanField(default=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "day"], name="metric_day_unique")]

    def __str__(self):
        return f"{self.day} {'dirty' if self.dirty else 'built'}"


class MetricDayTotal(models.Model):
    """The additive figures of one program's events of one type on one UTC day, as the
    metrics sum them (engagement.metrics.rollup): the count, purchase revenue, session and
    survey answer totals. Written only by engagement.metrics.rollup; valid only while the
    day's MetricDay is clean."""

    # No index of its own: the unique (program, day, type) leads with it.
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    type = models.CharField(max_length=64)
    events = models.BigIntegerField()
    value_sum = models.DecimalField(max_digits=20, decimal_places=2, null=True)
    recurring_value_sum = models.DecimalField(max_digits=20, decimal_places=2, null=True)
    duration_sum = models.FloatField(null=True)
    bounces = models.BigIntegerField(default=0)
    exits = models.BigIntegerField(default=0)
    nps_n = models.BigIntegerField(default=0)
    promoters = models.BigIntegerField(default=0)
    detractors = models.BigIntegerField(default=0)
    csat_n = models.BigIntegerField(default=0)
    satisfied = models.BigIntegerField(default=0)
    ces_n = models.BigIntegerField(default=0)
    ces_total = models.BigIntegerField(null=True)
    easy = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "day", "type"], name="metric_day_total_unique")]

    def __str__(self):
        return f"{self.day} {self.type}: {self.events}"


class MetricDayEmailPair(models.Model):
    """One distinct (type, customer, message) of a program's email events on one UTC day
    (engagement.metrics.rollup): the email metrics count distinct pairs over a period, which
    do not add across days, so each day keeps its pairs (a few per email event at most) and
    the period's DISTINCT runs over these narrow rows instead of the events' JSON. Written
    only by engagement.metrics.rollup; valid only while the day's MetricDay is clean."""

    # No unique key: a message id may be longer than an index entry allows; the builder
    # inserts each day's pairs DISTINCT. Read and deleted by (program, day).
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    type = models.CharField(max_length=64)
    # No database FK check (bulk inserts by the builder); the customer's events' days are
    # dirty and its pairs deleted when its events change (erasure).
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # The event's properties.message_id; NULL when absent (counted as one message, as the
    # DISTINCT over the events does).
    message = models.TextField(null=True)
    # The latest earlier day holding the same (type, customer, message), NULL if none: a
    # period's distinct pairs are then counted without hashing them (customer_days.email_pairs).
    # No row of the same pair lies strictly between prev_day and day (kept by the builder).
    prev_day = models.DateField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["program", "day"], name="metric_day_email_pair_day"),
            # A customer's pairs across days: the builder's prev_day upkeep, the reader's lookups.
            models.Index(fields=["program", "customer", "day"], name="metric_day_email_pair_cust"),
        ]

    def __str__(self):
        return f"{self.day} {self.type}: {self.customer_id} {self.message}"


class MetricDayEmailCount(models.Model):
    """How many MetricDayEmailPair rows of one UTC day and email type have one prev_day: a
    period of contiguous clean days then counts its distinct pairs from these few rows, those
    whose prev_day is NULL or before the period (engagement.metrics.customer_days
    .email_pairs). Written only by engagement.metrics.rollup, with the pairs."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    type = models.CharField(max_length=64)
    prev_day = models.DateField(null=True)
    pairs = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="metric_day_email_count_day")]

    def __str__(self):
        return f"{self.day} {self.type} after {self.prev_day}: {self.pairs}"


class MetricDayBuyer(models.Model):
    """One customer's purchases on one UTC day (engagement.metrics.rollup), linked to the
    customer's previous and next purchase days: a period's buyers and repeat buyers, which do
    not add across days, are then counted row by row instead of by a hash of every buyer
    (engagement.metrics.customer_days.buyers). Written only by engagement.metrics.rollup;
    valid only while the day's MetricDay is clean."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    # No database FK check (bulk inserts by the builder), as MetricDayEmailPair.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    purchases = models.IntegerField()
    # The customer's latest earlier and earliest later purchase days, NULL if none; no row of
    # the customer lies strictly between them and day (kept by the builder).
    prev_day = models.DateField(null=True)
    next_day = models.DateField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["program", "day"], name="metric_day_buyer_day"),
            models.Index(fields=["program", "customer", "day"], name="metric_day_buyer_cust"),
        ]

    def __str__(self):
        return f"{self.day} {self.customer_id}: {self.purchases}"


class MetricDayAdvocacy(models.Model):
    """The Customer Advocacy Index's inputs of one customer on one UTC day (engagement.metrics
    .rollup): the day's latest NPS and CSAT answers (time, event id, score), its converted and
    sent referrals and its shares. The CAI takes each customer's latest answers over the period, which
    do not add across days; these rows let it skip the events' JSON. Written only by
    engagement.metrics.rollup; valid only while the day's MetricDay is clean."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    # No database FK check (bulk inserts by the builder), as MetricDayEmailPair.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    nps_at = models.DateTimeField(null=True)
    nps_event = models.BigIntegerField(null=True)
    nps_score = models.FloatField(null=True)
    csat_at = models.DateTimeField(null=True)
    csat_event = models.BigIntegerField(null=True)
    csat_score = models.FloatField(null=True)
    referrals = models.BigIntegerField(default=0)
    shares = models.BigIntegerField(default=0)
    # referral_sent events: the advocacy conversion rate's referrers, read with the CAI.
    referrals_sent = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="metric_day_advocacy_day")]
        verbose_name_plural = "metric day advocacy rows"

    def __str__(self):
        return f"{self.day} {self.customer_id}"


class IdempotencyRecord(models.Model):
    """A claimed `Idempotency-Key` and, once finished, the response to replay (API.md)."""

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=200, help_text="METHOD and path the key was first used on.")
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "key"], name="idempotency_key_unique")]

    # --- Scores, segments, transitions, metric snapshots and goals (engagement.scoring,
    # engagement.metrics, engagement.goals). Written only by those modules, in set-based SQL.

    def __str__(self):
        return f"{self.operation} {self.key}"


class Segment(models.TextChoices):
    """RFM segments of METRICS.md section 9; "Others" when no row matches."""

    CANT_LOSE = "Can't lose", _("Can't lose")
    CHAMPIONS = "Champions", _("Champions")
    LOYAL = "Loyal", _("Loyal")
    AT_RISK = "At risk", _("At risk")
    NEEDS_ATTENTION = "Needs attention", _("Needs attention")
    POTENTIAL_LOYALIST = "Potential loyalist", _("Potential loyalist")
    NEW = "New", _("New")
    PROMISING = "Promising", _("Promising")
    LOST = "Lost", _("Lost")
    HIBERNATING = "Hibernating", _("Hibernating")
    OTHERS = "Others", _("Others")


class CustomerScore(models.Model):
    """The current engagement score, RFM scores, segment and churn risk of one customer.

    Written only by engagement.scoring. The inputs of the ranking (raw_score, frequency,
    monetary, last_purchase_at, median_gap_days) are kept so that a re-score reads again only
    the events of customers whose events changed since (engagement.scoring explains when a
    stored row is still valid), and an incremental re-score ranks a few customers against
    everyone else's stored values.
    """

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="score")
    # No index of its own on program or segment: the two (program, …) indexes below serve
    # both (every index is one more write per changed row on the nightly re-score).
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="customer_scores", db_index=False)
    engagement_score = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    raw_score = models.FloatField(default=0, help_text=_("Decayed weighted event sum as of scored_at."))
    # Which score weights, half-life and RFM lookback the row was computed with (scoring.weights_key).
    weights_key = models.IntegerField(default=0)
    r_score = models.PositiveSmallIntegerField(null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=32, choices=Segment.choices, default=Segment.OTHERS)
    churn_risk = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("1"))
    event_count = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    frequency = models.PositiveIntegerField(default=0, help_text=_("Purchases in the RFM lookback."))
    monetary = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    median_gap_days = models.FloatField(null=True, blank=True)
    # What the churn risk divides the days since the last event by (engagement.scoring: 0 for
    # no event, the churn horizon for one, else 2 × the median gap, at least 1 day): with
    # last_event_at it gives the churn risk at any later instant while the events are the same.
    churn_divisor = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["program", "segment"]), models.Index(fields=["program", "engagement_score"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(engagement_score__gte=0) & Q(engagement_score__lte=100), name="score_0_100"
            ),
            models.CheckConstraint(condition=Q(churn_risk__gte=0) & Q(churn_risk__lte=1), name="churn_risk_0_1"),
        ]

    def __str__(self):
        return f"{self.customer}: {self.engagement_score} ({self.segment})"


class CustomerScoreSnapshot(models.Model):
    """A customer's scores from the end of one day (program time zone) on: the score history.

    Written only when they change (engagement.scoring.history): a customer's scores on a
    scored day (ScoreSnapshotDay) are those of their latest row on or before it, the churn
    risk computed from the row's last_event_at and churn_divisor as of that day's pass (so a
    risk that only drifts with time needs no new row). Rows without a churn_divisor (written
    before migration 0012) carry their day's churn risk. Read them through
    engagement.scoring.history.score_history, not one by one.
    """

    # Indexes: (program, date) and unique (customer, date) serve every lookup, so the foreign
    # keys get none of their own. No database-level FK constraints either (db_constraint=False):
    # the nightly re-score inserts one row per customer, and each constrained row costs two
    # deferred checks at COMMIT (an index probe plus a FOR KEY SHARE lock that dirties the
    # customer's row), ~2 s per 100,000 rows. Safe because only engagement.scoring writes
    # these rows, in SQL that selects them from the program's existing customers under the
    # program's scoring lock; customers are never deleted by the platform (erasure blanks
    # them), and a deletion through the ORM (customer or program) still cascades here, since
    # Django's collector follows on_delete=CASCADE whether or not the database enforces it.
    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="score_snapshots", db_index=False, db_constraint=False
    )
    date = models.DateField()
    engagement_score = models.DecimalField(max_digits=5, decimal_places=2)
    r_score = models.PositiveSmallIntegerField(null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=32, choices=Segment.choices)
    churn_risk = models.DecimalField(max_digits=4, decimal_places=3)
    monetary = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    last_event_at = models.DateTimeField(null=True, blank=True)
    churn_divisor = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "date"], name="score_snapshot_unique")]
        indexes = [models.Index(fields=["program", "date"])]

    def __str__(self):
        return f"{self.customer} {self.date}: {self.engagement_score}"


class ScoreSnapshotDay(models.Model):
    """A day (program time zone) on which a program was scored: the instant of its last pass
    (`as_of`, the churn risks of the day's history are as of it), and whether that pass was a
    live one (a re-score now) or a rebuild of a past day (`rescore --start`)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    as_of = models.DateTimeField()
    live = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "date"], name="score_snapshot_day_unique")]

    def __str__(self):
        return f"{self.program_id} {self.date}"


class ScoreTransition(models.Model):
    """A customer's score moved to another band of 10, segment changed, or churn risk moved to
    another band of 0.1. Recorded by scoring; handed to campaigns via engagement.hooks."""

    class Kind(models.TextChoices):
        SCORE = "score"
        SEGMENT = "segment"
        CHURN_RISK = "churn_risk"
        # The churn risk of a usable purchase-model fit moved to another band of 0.1
        # (engagement.purchase_models): for its customers it replaces the rule's.
        CHURN_MODEL = "churn_model"

    # Like CustomerScoreSnapshot (see there): no database-level FK constraints, since a first
    # re-score inserts three rows per customer and each constrained row costs two checks at
    # COMMIT; only engagement.scoring writes these rows, selected from the program's existing
    # customers, and ORM deletions still cascade. (program, kind, occurred_at) serves program.
    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="score_transitions", db_constraint=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    from_value = models.CharField(max_length=32, blank=True)
    to_value = models.CharField(max_length=32)
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["program", "kind", "occurred_at"])]

    def __str__(self):
        return f"{self.kind}: {self.from_value or '∅'} → {self.to_value}"


class ScoringQueueEntry(models.Model):
    """A customer with new events, waiting for the incremental re-score (a row as a queue)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="+")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    queued_at = models.DateTimeField(default=utc_now)

    def __str__(self):
        return f"{self.customer} (queued {self.queued_at:%Y-%m-%d %H:%M})"


class MetricSnapshot(models.Model):
    """One metric of one program for one day: the trailing window ending at that day's end."""

    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="metric_snapshots")
    date = models.DateField()
    name = models.CharField(max_length=64)
    value = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    numerator = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    denominator = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    unit = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "date", "name"], name="metric_snapshot_unique")]

    def __str__(self):
        return f"{self.name} {self.date}: {self.value}"


class Goal(models.Model):
    """A target for a metric by a deadline ("NPS ≥ 50 by 31 March"), shown on the dashboard."""

    class Direction(models.TextChoices):
        AT_LEAST = "at_least", _("at least (≥)")
        AT_MOST = "at_most", _("at most (≤)")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=120, blank=True)
    metric = models.CharField(max_length=64)
    target = models.DecimalField(max_digits=14, decimal_places=2)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.AT_LEAST)
    deadline = models.DateField()
    created = models.DateTimeField(default=utc_now)

    class Meta:
        ordering = ["deadline", "id"]

    def __str__(self):
        return self.name or f"{self.metric} {'≥' if self.direction == 'at_least' else '≤'} {self.target}"


class PurchaseModelFit(models.Model):
    """One fit of a purchase model (BG/NBD or Gamma-Gamma) for a program as of a date: the
    purchases strictly before that date's start in the program's time zone. Written only by
    engagement.purchase_models; a refit with the same as_of replaces it. Parameters are
    reported with time in weeks. `usable`: converged on enough repeat buyers, so its
    per-customer values replace the churn-risk rule."""

    class Kind(models.TextChoices):
        BGNBD = "bgnbd", "BG/NBD"
        GAMMA_GAMMA = "gamma_gamma", "Gamma-Gamma"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="purchase_model_fits")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    as_of = models.DateField()
    fitted_at = models.DateTimeField(default=utc_now)
    parameters = models.JSONField(default=dict)
    log_likelihood = models.FloatField(null=True)
    customers = models.PositiveIntegerField(default=0, help_text=_("Customers the model was fitted on."))
    repeat_buyers = models.PositiveIntegerField(default=0)
    converged = models.BooleanField(default=False)
    usable = models.BooleanField(default=False)
    # {"calibration_end", "weeks": [{"week", "predicted", "actual"}], "predicted_total", …}
    backtest = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "kind", "as_of"], name="purchase_model_fit_unique"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.as_of}"


class CustomerModelValue(models.Model):
    """A customer's values under one usable BG/NBD fit (with the Gamma-Gamma fit of the same
    as_of for spend): written set-based by engagement.purchase_models, never updated."""

    # No database-level FK constraints (as CustomerScoreSnapshot, see there): a fit inserts a
    # row per purchaser, and each constrained row costs two checks at COMMIT. Only
    # engagement.purchase_models writes these rows, for customers with events (which point to
    # existing customers) and its own new fit, under the program's fit lock; ORM deletions of
    # a customer, program or fit still cascade here.
    id = models.BigAutoField(primary_key=True)
    fit = models.ForeignKey(
        PurchaseModelFit, on_delete=models.CASCADE, related_name="customer_values", db_constraint=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="model_values", db_index=False, db_constraint=False
    )
    repeat_transactions = models.PositiveIntegerField()
    p_alive = models.FloatField()
    expected_purchases_90d = models.FloatField()
    expected_purchases_365d = models.FloatField()
    expected_spend = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    predicted_clv = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    churn_risk = models.DecimalField(max_digits=4, decimal_places=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fit", "customer"], name="customer_model_value_unique"),
            models.CheckConstraint(condition=Q(churn_risk__gte=0) & Q(churn_risk__lte=1), name="model_churn_risk_0_1"),
        ]
        # A customer's values across fits (and the cascade when a customer is deleted).
        indexes = [models.Index(fields=["customer", "fit"])]

"""Right to erasure (GDPR Art. 17): what `DELETE /customers/{external_id}` removes, and the
`Scrubber` every app uses to take personal data out of the copies it keeps.

Personal data is: the profile (name, email, phone, birth date, attributes), anything in
free text or JSON that looks like an email address or a phone number or contains the
customer's name, email or phone, whole values an app names as personal (free-text survey
answers), and event properties the program lists as personal
(`Program.personal_event_properties`). Totals stay: the customer row and external id,
events (type, time, value), ledger entries' points, payouts' amounts, message counts.

Higher apps register their part with engagement.hooks.register_erasure_handler.
"""

import re

from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from engagement import hooks
from engagement.models import Customer, Event, IdempotencyRecord

ERASED = "[erased]"
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# International numbers (+60 12-345 6789, 0060...) and local ones with a trunk 0 (012-345 6789):
# at least 8 digits, so order numbers and amounts are left alone.
PHONE_RE = re.compile(r"(?<![\w+])(?:(?:\+|00)\d[\d\s().-]{6,18}\d|0\d{1,3}[\s-]?\d{3,4}[\s-]?\d{3,5})(?![\w])")


class Scrubber:
    """Replaces personal data in text and JSON values with "[erased]".

    `needles` are searched case-insensitively inside text (the customer's name, email and
    phone); `whole_values` replace a string only when it equals one (free-text answers, so
    short answers such as "ok" do not erase other text); `personal_keys` are JSON object keys
    whose values are personal whatever they hold. `patterns` also replaces anything that looks
    like an email address or a phone number: right for rows about the customer, never for
    rows about others (`scrub_mentions`), whose own addresses must stay.
    """

    def __init__(self, needles=(), whole_values=(), personal_keys=(), patterns=True):
        needles = sorted({n.strip() for n in needles if n and len(n.strip()) >= 3}, key=len, reverse=True)
        self.needles = needles
        self._needles = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE) if needles else None
        self.whole_values = {v.strip() for v in whole_values if v and v.strip()}
        self.personal_keys = set(personal_keys)
        self.patterns = patterns

    def known_only(self):
        """This scrubber without the email/phone patterns and personal keys."""
        return Scrubber(needles=self.needles, whole_values=self.whole_values, patterns=False)

    @property
    def search_terms(self):
        """Substrings a row must contain to be worth scrubbing (for SQL pre-filters)."""
        return set(self.whole_values) | set(self.needles)

    def text(self, value):
        if not isinstance(value, str) or not value:
            return value
        if value.strip() in self.whole_values:
            return ERASED
        scrubbed = value
        if self.patterns:
            scrubbed = PHONE_RE.sub(ERASED, EMAIL_RE.sub(ERASED, scrubbed))
        if self._needles is not None:
            scrubbed = self._needles.sub(ERASED, scrubbed)
        return scrubbed

    def value(self, value):
        """A JSON value with every personal string and personal key's value replaced."""
        if isinstance(value, dict):
            return {k: (ERASED if k in self.personal_keys else self.value(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return self.text(value)

    def scrub_rows(self, queryset, *fields):
        """Scrub `fields` (text or JSON) of every row of `queryset`; saves changed rows only.
        Returns how many rows changed."""
        changed = 0
        for row in queryset.only("pk", *fields).iterator(chunk_size=500):
            updates = {}
            for field in fields:
                old = getattr(row, field)
                new = self.value(old) if isinstance(old, dict | list) else self.text(old)
                if new != old:
                    updates[field] = new
            if updates:
                queryset.model.objects.filter(pk=row.pk).update(**updates)
                changed += 1
        return changed

    def scrub_mentions(self, queryset, *fields):
        """Scrub rows that are not about the customer but may quote it (a stored API answer,
        the admin history, another event's payload): only the customer's own name, email,
        phone and whole values are replaced there. Rows are pre-filtered in SQL. Returns how
        many rows changed."""
        terms = self.search_terms
        if not terms:
            return 0
        condition = Q()
        for field in fields:
            for term in terms:
                condition |= Q(**{f"_scrub_{field}__icontains": term})
        annotated = queryset.annotate(**{f"_scrub_{field}": Cast(field, TextField()) for field in fields})
        return self.known_only().scrub_rows(annotated.filter(condition), *fields)


def scrubber_for(customer: Customer) -> Scrubber:
    """The Scrubber for `customer`, with every registered collector's whole values."""
    whole_values = []
    for collect in hooks.erasure_collectors():
        whole_values.extend(collect(customer))
    needles = [customer.name, customer.email, customer.phone]
    personal_keys = customer.program.personal_event_properties or []
    return Scrubber(needles=needles, whole_values=whole_values, personal_keys=personal_keys)


def erase_customer(customer: Customer) -> Customer:
    """Erase `customer`'s personal data everywhere (profile, events, messages, webhook
    payload copies, stored API responses, and what every higher app registered), in one
    transaction; the customer row, external id and every total stay. Idempotent."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("program").get(pk=customer.pk)
        scrubber = scrubber_for(customer)
        for handler in hooks.erasure_handlers():
            handler(customer, scrubber)
        _erase_engagement(customer, scrubber)
        _erase_profile(customer)
    return customer


def _erase_engagement(customer, scrubber):
    from engagement.channels.erasure import erase_customer_messages
    from engagement.channels.models import Message
    from engagement.webhooks.erasure import erase_customer_webhooks

    scrubber.scrub_rows(Event.objects.filter(customer=customer), "properties")
    from engagement.metrics import rollup  # here: engagement.metrics imports this module

    rollup.mark_customer_days_dirty(customer)  # properties the daily metric totals read may have changed
    # Stored API answers replayed for an Idempotency-Key (a created customer's profile...).
    scrubber.scrub_mentions(IdempotencyRecord.objects.filter(program=customer.program), "response_body")
    erase_customer_webhooks(customer, scrubber)
    erase_customer_messages(customer)
    scrubber.scrub_rows(Message.objects.filter(customer=customer).exclude(reason_detail=""), "reason_detail")
    # The admin's history names objects by their str(): a customer's is its name.
    scrubber.scrub_mentions(LogEntry.objects.all(), "object_repr", "change_message")


def _erase_profile(customer):
    customer.name = customer.email = customer.phone = ""
    customer.attributes = {}
    customer.birth_date = None
    customer.consent_email = customer.consent_sms = customer.consent_whatsapp = customer.consent_push = False
    customer.erased_at = customer.erased_at or timezone.now()
    customer.save()

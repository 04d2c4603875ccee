"""Customer services: upsert, update, erase. Views and tasks call these; nothing else writes
customers (engagement.ingest creates bare ones for unknown ids)."""

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from engagement.models import Customer

PROFILE_FIELDS = (
    "name",
    "email",
    "phone",
    "locale",
    "timezone",
    "birth_date",
    "attributes",
    "consent_email",
    "consent_sms",
    "consent_whatsapp",
    "consent_push",
)


def get_customer(program, external_id):
    """The program's customer with that external id, or Http404 (never another program's)."""
    try:
        return Customer.objects.select_related("program").get(program=program, external_id=external_id)
    except Customer.DoesNotExist:
        raise Http404(f"No customer {external_id!r} in this program.") from None


def upsert_customer(program, external_id, data, source="api"):
    """Create the customer or update the given fields. Returns (customer, created).
    Consents given or changed are recorded in the consent history with `source`.

    Race-safe: two concurrent upserts of one external id end in one row.
    """
    fields = {name: data[name] for name in PROFILE_FIELDS if name in data}
    for _ in range(2):
        try:
            with transaction.atomic():
                customer, created = Customer.objects.select_for_update().get_or_create(
                    program=program, external_id=external_id, defaults=fields
                )
                if created:
                    from engagement.channels.consent import CHANNELS, record_profile_change

                    record_profile_change(customer, {c: False for c in CHANNELS if f"consent_{c}" in fields}, source)
                elif fields:
                    update_customer(customer, fields, source)
                return customer, created
        except IntegrityError:  # lost the race to create: the row exists now, update it
            continue
    raise RuntimeError("upsert_customer could not settle")  # unreachable in practice


def update_customer(customer, data, source="api"):
    """Update profile fields (only those given). Consent flags that change are recorded in
    the consent history with `source` (api, portal, admin)."""
    from engagement.channels.consent import CHANNELS, record_profile_change

    before = {c: getattr(customer, f"consent_{c}") for c in CHANNELS if f"consent_{c}" in data}
    changed = []
    for name in PROFILE_FIELDS:
        if name in data:
            setattr(customer, name, data[name])
            changed.append(name)
    if changed:
        customer.updated_at = timezone.now()
        customer.save(update_fields=[*changed, "updated_at"])
        record_profile_change(customer, before, source)
    return customer


def erase_customer(customer):
    """Erase personal data (right to erasure): profile blanked, consents withdrawn, message
    contents blanked and pending messages dropped.

    The row, its external id, events and ledger totals stay so figures remain true.
    Idempotent.
    """
    customer.name = customer.email = customer.phone = ""
    customer.attributes = {}
    customer.birth_date = None
    customer.consent_email = customer.consent_sms = customer.consent_whatsapp = customer.consent_push = False
    customer.erased_at = customer.erased_at or timezone.now()
    customer.save()
    # Message bodies and addresses are personal data too (channels is part of engagement).
    from engagement.channels.erasure import erase_customer_messages

    erase_customer_messages(customer)
    return customer

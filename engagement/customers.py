"""Customer services: upsert, update, erase. Views and tasks call these; nothing else writes
customers (engagement.ingest creates bare ones for unknown ids)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from engagement.errors import NotFound
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


def get_customer(program, external_id, attr=None):
    """The program's customer with that external id (never another program's); else
    NotFound (an Http404 too), about field `attr` when the id came from a body."""
    try:
        return Customer.objects.select_related("program").get(program=program, external_id=external_id)
    except Customer.DoesNotExist:
        raise NotFound(f"No customer {external_id!r} in this program.", attr=attr) from None


def upsert_customer(program, external_id, data):
    """Create the customer or update the given fields. Returns (customer, created).

    Race-safe: two concurrent upserts of one external id end in one row.
    """
    fields = {name: data[name] for name in PROFILE_FIELDS if name in data}
    for _ in range(2):
        try:
            with transaction.atomic():
                customer, created = Customer.objects.select_for_update().get_or_create(
                    program=program, external_id=external_id, defaults=fields
                )
                if not created and fields:
                    update_customer(customer, fields)
                return customer, created
        except IntegrityError:  # lost the race to create: the row exists now, update it
            continue
    raise RuntimeError("upsert_customer could not settle")  # unreachable in practice


def update_customer(customer, data):
    """Update profile fields (only those given)."""
    changed = []
    for name in PROFILE_FIELDS:
        if name in data:
            setattr(customer, name, data[name])
            changed.append(name)
    if changed:
        customer.updated_at = timezone.now()
        customer.save(update_fields=[*changed, "updated_at"])
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

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
    """Erase personal data (right to erasure) everywhere it is kept: see engagement.erasure.
    The row, its external id, events and ledger totals stay so figures remain true.
    Idempotent."""
    from engagement.erasure import erase_customer as erase_everywhere

    return erase_everywhere(customer)

"""Customer services: upsert, update, erase. Views and tasks call these; nothing else writes
customers (engagement.ingest creates bare ones for unknown ids)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from engagement import erasure
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


def external_id_problem(external_id: str) -> str | None:
    """Why `external_id` cannot be a customer's id, or None. The one rule (docs): an id is
    part of the customer's URL (/customers/{external_id}), so it may not contain "/" (no
    encoding makes a slash addressable through every proxy and client) and may not be "." or
    ".." (clients and proxies collapse those path segments). Every other id is addressable
    percent-encoded."""
    if "/" in external_id:
        return _('An external id cannot contain "/": it is part of the customer\'s URL.')
    if external_id in (".", ".."):
        return _('An external id cannot be "." or "..": it is part of the customer\'s URL.')
    return None


def validate_external_id(external_id: str) -> None:
    """Django/DRF validator for external_id_problem (code "invalid_external_id")."""
    problem = external_id_problem(external_id)
    if problem:
        raise ValidationError(problem, code="invalid_external_id")


def get_customer(program, external_id, attr=None):
    """The program's customer with that external id (never another program's); else
    NotFound (an Http404 too), about field `attr` when the id came from a body."""
    try:
        customer = Customer.objects.get(program=program, external_id=external_id)
    except Customer.DoesNotExist:
        raise customer_not_found(external_id, attr=attr) from None
    customer.program = program  # the caller's instance: no join, and its cached settings come along
    return customer


def customer_not_found(external_id, attr=None):
    """get_customer's NotFound, for reads that look the customer up in their own statement."""
    return NotFound(f"No customer {external_id!r} in this program.", attr=attr)


def upsert_customer(program, external_id, data, source="api"):
    """Create the customer or update the given fields. Returns (customer, created).
    Consents given or changed are recorded in the consent history with `source`.

    Race-safe: two concurrent upserts of one external id end in one row.
    """
    fields = {name: data[name] for name in PROFILE_FIELDS if name in data}
    for _attempt in range(2):
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
    """Erase personal data (right to erasure) everywhere it is kept: see engagement.erasure.
    The row, its external id, events and ledger totals stay so figures remain true.
    Idempotent."""
    return erasure.erase_customer(customer)

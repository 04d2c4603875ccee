"""Provider catalogues mirrored into ProviderProduct rows (the only writer of them).

`sync_catalogue(program, provider_name, country=, currency=, category=)` reads the adapter's
`products()` (Tremendous "List products", Tango Card "Get catalog"), normalises each into
one row per (program, provider, product id) and upserts them: new products are added,
changed values recorded with `changed_at`, products the provider no longer lists (or lists
as inactive) go inactive. Reward items linked to products offer only what the provider
still sells (ProviderProduct.accepts); values captured at redemption stay as they were, so a
price change applies to new redemptions only.

Which programs sync: a provider account whose options hold
`"catalogue": {"country": "MY", "currency": "MYR", "category": ""}` (beat, daily).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from payouts.models import ProviderAccount, ProviderProduct
from payouts.providers import get_provider

FIELDS = (
    "name", "brand", "category", "currency", "countries", "value_type", "min_value", "max_value",
    "face_values", "image_url", "description", "terms", "instructions",
)  # fmt: skip


@dataclass
class SyncResult:
    added: int = 0
    changed: int = 0
    withdrawn: int = 0
    unchanged: int = 0


def _money(value):
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return amount if amount.is_finite() else None


def _largest_image(urls):
    """Tango's imageUrls are keyed by width ("300w-326ppi"): the widest one."""

    def width(key):
        digits = key.split("w", 1)[0]
        return int(digits) if digits.isdigit() else 0

    return urls[max(urls, key=width)] if urls else ""


def normalise(provider_name, product):
    """One provider product as ProviderProduct values; None when it can't be offered."""
    if provider_name == "tango":
        brand = product.get("brand") or {}
        fixed = product.get("valueType") == "FIXED_VALUE"
        return product.get("utid"), {
            "name": product.get("rewardName", ""),
            "brand": brand.get("brandName", ""),
            "category": product.get("rewardType", ""),
            "currency": product.get("currencyCode", ""),
            "countries": list(product.get("countries") or []),
            "value_type": "fixed" if fixed else "range",
            "min_value": None if fixed else _money(product.get("minValue")),
            "max_value": None if fixed else _money(product.get("maxValue")),
            "face_values": [str(_money(product.get("faceValue")))] if fixed else [],
            "image_url": _largest_image(brand.get("imageUrls") or {}),
            "description": brand.get("shortDescription", "") or brand.get("description", ""),
            "terms": brand.get("terms", ""),
            "instructions": product.get("redemptionInstructions", ""),
        }
    skus = product.get("skus") or []
    currencies = product.get("currency_codes") or []
    images = product.get("images") or []
    return product.get("id"), {
        "name": product.get("name", ""),
        "brand": product.get("name", ""),
        "category": product.get("category", ""),
        "currency": currencies[0] if len(currencies) == 1 else "",
        "countries": [c.get("abbr") for c in product.get("countries") or [] if c.get("abbr")],
        "value_type": "range",
        "min_value": _money(min((s["min"] for s in skus), default=None)) if skus else None,
        "max_value": _money(max((s["max"] for s in skus), default=None)) if skus else None,
        "face_values": [],
        "image_url": (images[0].get("src") or "") if images else "",
        "description": product.get("description", ""),
        "terms": product.get("disclosure", ""),
        "instructions": product.get("usage_instructions") or "",
    }


def sync_catalogue(program, provider_name, *, country="", currency="", category=""):
    """Mirror the provider's products for these filters; returns a SyncResult. Raises
    ProviderUnavailable (nothing changed) when the provider cannot be read."""
    products = get_provider(program, provider_name).products(country=country, currency=currency)
    now = timezone.now()
    seen, result = set(), SyncResult()
    with transaction.atomic():
        existing = {
            p.product_id: p
            for p in ProviderProduct.objects.select_for_update().filter(program=program, provider=provider_name)
        }
        for product in products:
            product_id, values = normalise(provider_name, product)
            if not product_id or (category and values["category"] != category):
                continue
            # Multi-currency products are mirrored in the currency asked for.
            values["currency"] = values["currency"] or currency or program.currency
            seen.add(product_id)
            current = existing.get(product_id)
            if current is None:
                ProviderProduct.objects.create(
                    program=program,
                    provider=provider_name,
                    product_id=product_id,
                    synced_at=now,
                    changed_at=now,
                    **values,
                )
                result.added += 1
            elif any(getattr(current, f) != values[f] for f in FIELDS) or not current.active:
                ProviderProduct.objects.filter(pk=current.pk).update(
                    active=True, synced_at=now, changed_at=now, **values
                )
                result.changed += 1
            else:
                ProviderProduct.objects.filter(pk=current.pk).update(synced_at=now)
                result.unchanged += 1
        gone = [p.pk for pid, p in existing.items() if pid not in seen and p.active]
        result.withdrawn = ProviderProduct.objects.filter(pk__in=gone).update(active=False, changed_at=now)
    return result


def sync_all():
    """Every provider account that asks for a catalogue; one failure does not stop the rest.
    Returns {(program slug, provider): SyncResult or the error text}."""
    from payouts.providers.base import ProviderUnavailable

    outcome = {}
    for account in ProviderAccount.objects.select_related("program").order_by("pk"):
        filters = (account.options or {}).get("catalogue")
        if not isinstance(filters, dict):
            continue
        key = (account.program.slug, account.provider)
        try:
            outcome[key] = sync_catalogue(
                account.program,
                account.provider,
                country=str(filters.get("country", "")),
                currency=str(filters.get("currency", "")),
                category=str(filters.get("category", "")),
            )
        except (ProviderUnavailable, NotImplementedError) as exc:
            outcome[key] = str(exc) or "no catalogue"
    return outcome

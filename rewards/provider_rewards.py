"""Catalogue items backed by a payout provider's gift cards (payouts.ProviderProduct).

An item linked to products is offered while at least one of them is still sold at the
item's cash value; with several, the customer chooses one ("recipient chooses"). The
redemption's payout goes to that product's provider with the product as its destination.
"""

from rewards.errors import ItemUnavailable, RewardsError


class ProductChoiceRequired(RewardsError):
    code = "product_required"
    message = "Choose one of this reward's gift cards (product)."
    status = 400


def offered_products(item):
    """The linked products the provider still sells at the item's value (prefetch-friendly)."""
    return [product for product in item.provider_products.all() if product.accepts(item.cash_value)]


def is_withdrawn(item):
    """True for an item linked to products none of which can be bought any more."""
    linked = item.provider_products.all()
    return bool(linked) and not any(product.accepts(item.cash_value) for product in linked)


def payout_product(item, chosen=""):
    """The product the payout buys, or None for an item with no linked products. Raises
    ItemUnavailable (nothing offered, or an unknown choice) or ProductChoiceRequired."""
    if not item.provider_products.all():
        return None
    offered = offered_products(item)
    if chosen:
        match = next((p for p in offered if p.product_id == chosen), None)
        if match is None:
            raise ItemUnavailable("That gift card is not offered for this reward.")
        return match
    if not offered:
        raise ItemUnavailable()
    if len(offered) > 1:
        raise ProductChoiceRequired()
    return offered[0]

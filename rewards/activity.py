"""What a ledger entry says to the customer: a message code and parameters, rendered in the
reader's language when read (never English text frozen at write time).

Writers pass a `Reason` as the ledger's `reason`: it *is* the English text (a str, kept in
`LedgerEntry.reason` for staff, the admin and webhooks) and carries `code` and `params`,
which rewards.ledger stores in `message_code`/`message_params`. Readers call
`describe_entries()` for the customer-facing line of each entry.

Parameters never hold raw ids for display: a reward is named by its title in the reader's
language (looked up by id), a campaign by the customer-facing title it had when it granted
(copied into the params, because rewards must not import campaigns), a purchase by its
amount. An entry without a code (a manual adjustment or a partner's free-text grant) shows
a generic line for its kind: free text is written by staff, in one language, for staff.
"""

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from engagement.formatting import format_money

PURCHASE = "purchase"
PURCHASE_REFUND = "purchase_refund"
REFERRAL = "referral"
CAMPAIGN = "campaign"
REDEEM = "redeem"
REDEMPTION_REFUND = "redemption_refund"
EXPIRE = "expire"
BIRTHDAY = "birthday"
WELCOME = "welcome"
ORDER_PAYMENT = "order_payment"
ORDER_PAYMENT_RETURNED = "order_payment_returned"


class Reason(str):
    """The English text of an entry's reason (for staff), plus its message code and params."""

    code: str
    params: dict

    def __new__(cls, code, text, **params):
        reason = super().__new__(cls, str(text)[:255])
        reason.code = code
        reason.params = params
        return reason


def purchase(order, value=None, currency=""):
    """Points for a purchase; the order id stays in the English text and the entry's source."""
    amount = {"amount": str(value), "currency": currency} if value is not None and currency else {}
    return Reason(PURCHASE, f"Purchase {order}", **amount)


def purchase_refund(order):
    return Reason(PURCHASE_REFUND, f"Refund of {order}")


def referral(referee_external_id):
    return Reason(REFERRAL, f"Referral: {referee_external_id}")


def campaign(campaign, text=None):
    """Points granted by a campaign: its customer-facing titles are copied into the params."""
    titles = {lang: getattr(campaign, f"customer_title_{lang}", "") for lang in ("en", "ar", "ms")}
    titles = {lang: title for lang, title in titles.items() if title}
    return Reason(CAMPAIGN, text or f"Campaign: {campaign.name}", campaign=campaign.pk, titles=titles)


def redeem(item):
    return Reason(REDEEM, f"Redeemed: {item.title_en}", item=item.pk)


def redemption_refund(redemption, why):
    return Reason(REDEMPTION_REFUND, f"Refund: {why}", item=redemption.item_id)


def order_payment(order):
    """Points spent on a shop order (held at checkout, rewards.checkout.reservations)."""
    return Reason(ORDER_PAYMENT, f"Paid with points: order {order}", order=order)


def order_payment_returned(order):
    return Reason(ORDER_PAYMENT_RETURNED, f"Points returned: order {order}", order=order)


def expire():
    return Reason(EXPIRE, "Points expired")


def same_as(entry):
    """The reason of an existing entry again (pending points released keep their message)."""
    return Reason(entry.message_code, entry.reason, **(entry.message_params or {}))


def _bdi(text):
    # Titles and names may be in another script than the page: isolate their direction.
    return format_html("<bdi>{}</bdi>", text)


def _fill(template, **params):
    return mark_safe(conditional_escape(template) % {k: conditional_escape(v) for k, v in params.items()})


def _item_titles(entries):
    from rewards.models import RewardItem

    ids = {e.message_params.get("item") for e in entries if e.message_code in (REDEEM, REDEMPTION_REFUND)}
    ids.discard(None)
    return {item.pk: item.title for item in RewardItem.objects.filter(pk__in=ids)} if ids else {}


def _unpaid_orders(entries):
    """(customer id, order id) of the order payments whose order is not paid (yet): the points
    leave the balance when held at checkout, but the order is paid only once confirmed."""
    from rewards.checkout.models import Reservation

    orders = {e.message_params.get("order") for e in entries if e.message_code == ORDER_PAYMENT}
    if not orders:
        return set()
    customers = {e.customer_id for e in entries if e.message_code == ORDER_PAYMENT}
    unpaid = Reservation.objects.filter(customer_id__in=customers, order_id__in=orders).exclude(
        status=Reservation.Status.CONFIRMED
    )
    return set(unpaid.values_list("customer_id", "order_id"))


def _campaign_title(params, language):
    titles = params.get("titles") or {}
    return titles.get(language) or titles.get("en") or ""


GENERIC = {
    "earn": lambda: _("Bonus points"),
    "redeem": lambda: _("Reward redeemed"),
    "expire": lambda: _("Points expired"),
    "adjust": lambda: _("Points adjusted"),
    "reverse": lambda: _("Points taken back"),
    "refund": lambda: _("Points returned"),
    "spend": lambda: _("Paid with points"),
}


def _describe(entry, titles, unpaid, language):
    code, params = entry.message_code, entry.message_params or {}
    if code == PURCHASE:
        if params.get("amount") and params.get("currency"):
            return _fill(_("Purchase of %(amount)s"), amount=format_money(params["amount"], params["currency"]))
        return _("Purchase")
    if code == PURCHASE_REFUND:
        return _("Purchase refunded")
    if code == REFERRAL:
        return _("A friend you invited joined")
    if code == CAMPAIGN:
        title = _campaign_title(params, language)
        return _fill(_("Bonus: %(title)s"), title=_bdi(title)) if title else _("Bonus points")
    if code in (REDEEM, REDEMPTION_REFUND):
        title = titles.get(params.get("item"))
        if code == REDEEM:
            return _fill(_("Redeemed: %(title)s"), title=_bdi(title)) if title else _("Reward redeemed")
        return _fill(_("Points returned: %(title)s"), title=_bdi(title)) if title else _("Points returned")
    if code in (ORDER_PAYMENT, ORDER_PAYMENT_RETURNED):
        order = _bdi(params.get("order", ""))
        if code == ORDER_PAYMENT and (entry.customer_id, params.get("order")) in unpaid:
            return _fill(_("Points held for order %(order)s"), order=order)
        if code == ORDER_PAYMENT:
            return _fill(_("Paid with points: order %(order)s"), order=order)
        return _fill(_("Points returned: order %(order)s"), order=order)
    if code == EXPIRE:
        return _("Points expired")
    if code == BIRTHDAY:
        return _("Birthday bonus")
    if code == WELCOME:
        return _("Welcome bonus")
    return GENERIC.get(entry.kind, lambda: _("Points adjusted"))()


def describe_entries(entries):
    """Set `entry.message` (safe HTML, in the active language) on each entry; returns them.
    One query for the reward titles of the whole list."""
    entries = list(entries)
    language = (get_language() or "en").split("-")[0]
    titles = _item_titles(entries)
    unpaid = _unpaid_orders(entries)
    for entry in entries:
        entry.message = _describe(entry, titles, unpaid, language)
    return entries


def list_activity(customer):
    """The customer's ledger entries, newest first by when the points were earned (a
    purchase's points are dated by the purchase, which may be older than later entries)."""
    from rewards.models import LedgerEntry

    return LedgerEntry.objects.filter(customer=customer).order_by("-created_at", "-id")

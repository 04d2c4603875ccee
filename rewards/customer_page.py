"""Rewards on the customer's admin page (engagement.customer_page): points (balance, pending
and expiring, tier progress), the ledger (paginated), redemptions and vouchers; and the
actions "adjust points" (rewards.ledger) and "send a sign-in link" (rewards.portal_auth).
Registered by RewardsConfig.ready."""

import re

from django.core.paginator import Paginator
from django.urls import reverse
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from engagement import hooks
from engagement.admin_links import admin_link
from engagement.customer_page import RECENT, ActionRefused, CustomerAction, Section
from rewards import activity, balances, ledger, portal_auth, tiers
from rewards.errors import RewardsError
from rewards.models import Redemption

LEDGER_PAGE_SIZE = 20
FORM_KEY = re.compile(r"^[0-9a-f]{32}$")


def points_section(request, customer):
    """Balance, pending and expiring points with their dates, and the tier with progress."""
    return Section(
        "points",
        _("Points and tier"),
        "admin/rewards/customer/section_points.html",
        {
            "summary": balances.get_balance_summary(customer),
            "upcoming": balances.list_upcoming_lots(customer),
            "tier": tiers.get_tier_progress(customer),
        },
    )


def ledger_section(request, customer):
    """One page (`?ledger_page=`) of the ledger, newest first, each entry with the line the
    customer reads (rewards.activity) beside the staff reason."""
    paginator = Paginator(activity.list_activity(customer).select_related("actor"), LEDGER_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("ledger_page"))
    for entry in activity.describe_entries(page.object_list):
        # The staff text too when it says more than the customer's line (an order id, a note).
        entry.staff_reason = entry.reason if entry.reason != strip_tags(entry.message) else ""
    url = reverse("admin:rewards_ledgerentry_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "ledger",
        _("Points ledger"),
        "admin/rewards/customer/section_ledger.html",
        {"page": page, "all_url": url},
        wide=True,
    )


def redemptions_section(request, customer):
    rows = list(
        Redemption.objects.filter(customer=customer)
        .select_related("item", "voucher_code")
        .order_by("-created_at", "-id")[:RECENT]
    )
    for redemption in rows:
        redemption.item_link = admin_link(redemption.item, redemption.item.title_en)
        redemption.payout_url = (
            reverse("admin:payouts_payout_change", args=[redemption.payout_id]) if redemption.payout_id else ""
        )
    url = reverse("admin:rewards_redemption_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "redemptions",
        _("Redemptions and vouchers"),
        "admin/rewards/customer/section_redemptions.html",
        {"redemptions": rows, "all_url": url},
        wide=True,
    )


def adjust_points(request, customer):
    """The page's form: signed points and a reason, through rewards.ledger.adjust_points with
    the staff user as actor. The idempotency key comes from the page view's form key, so a
    form posted twice adjusts once."""
    # Imported here: this module is imported at start-up, before the admin autodiscovers.
    from rewards.admin import AdjustPointsForm

    form = AdjustPointsForm(request.POST)
    if not form.is_valid():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        raise ActionRefused(_("Points not adjusted: %(problems)s") % {"problems": " ".join(problems)})
    key = request.POST.get("key", "")
    if not FORM_KEY.match(key):
        raise ActionRefused(_("Points not adjusted: the form has expired. Please try again."))
    points = form.cleaned_data["points"]
    try:
        entry = ledger.adjust_points(
            customer=customer, points=points, reason=form.cleaned_data["reason"], actor=request.user,
            idempotency_key=f"admin:customer:{customer.pk}:{key}",
        )  # fmt: skip
    except RewardsError as error:
        raise ActionRefused(_("Points not adjusted: %(problem)s") % {"problem": error.message}) from None
    return _("Adjusted the points of %(id)s by %(points)+d; the balance is now %(balance)d.") % {
        "id": customer.external_id,
        "points": entry.points,
        "balance": entry.balance_after,
    }


def send_sign_in_link(request, customer):
    """A new portal sign-in link by email, through rewards.portal_auth and its limits."""
    if customer.erased_at is not None or not customer.email:
        raise ActionRefused(_("No sign-in link sent: the customer has no email address."))
    limited = portal_auth.check_sign_in_limits(portal_auth.client_ip(request), customer.email)
    if limited is not None:
        raise ActionRefused(limited.message)
    portal_auth.send_login_link(customer, request.build_absolute_uri)
    return _("Sent a sign-in link to %(email)s.") % {"email": customer.email}


ADJUST_POINTS = CustomerAction(
    name="adjust-points",
    label=gettext_lazy("Adjust points"),
    permission="rewards.change_pointsaccount",
    perform=adjust_points,
    template="admin/rewards/customer/action_adjust_points.html",
    order=10,
)
SEND_SIGN_IN_LINK = CustomerAction(
    name="sign-in-link",
    label=gettext_lazy("Send a sign-in link"),
    permission="engagement.change_customer",
    perform=send_sign_in_link,
    template="admin/rewards/customer/action_sign_in_link.html",
    order=20,
)


def register():
    hooks.register_customer_section(20, "points", points_section)
    hooks.register_customer_section(25, "ledger", ledger_section)
    hooks.register_customer_section(30, "redemptions", redemptions_section)
    hooks.register_customer_action(ADJUST_POINTS)
    hooks.register_customer_action(SEND_SIGN_IN_LINK)

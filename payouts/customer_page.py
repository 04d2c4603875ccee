"""Payouts on the customer's admin page (engagement.customer_page): the newest payouts with
status and amount. Registered by PayoutsConfig.ready."""

from django.urls import reverse
from django.utils.translation import gettext as _

from engagement import hooks
from engagement.admin_links import admin_link
from engagement.customer_page import RECENT, Section
from payouts.models import Payout


def payouts_section(request, customer):
    rows = list(Payout.objects.filter(customer=customer).order_by("-created_at", "-id")[:RECENT])
    for payout in rows:
        payout.link = admin_link(payout, payout.reference)
    url = reverse("admin:payouts_payout_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "payouts",
        _("Payouts"),
        "admin/payouts/customer/section_payouts.html",
        {"payouts": rows, "all_url": url},
        wide=True,
    )


def register():
    hooks.register_customer_section(40, "payouts", payouts_section)

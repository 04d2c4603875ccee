"""Contact preferences reached from a link in a message (signed token, no sign-in), and
RFC 8058 one-click unsubscribe. Views parse; engagement.channels.consent decides and records."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from engagement.channels import consent
from engagement.channels.models import Channel, ConsentSource
from rewards.forms import PreferencesForm


def _customer(token):
    customer = consent.customer_for_token(token)
    if customer is None:
        raise Http404
    return customer


@require_http_methods(["GET", "POST"])
def preferences_view(request, token):
    """GET: the customer's channels and topics. POST (CSRF-protected): save them."""
    customer = _customer(token)
    current = consent.get_preferences(customer)
    initial = {f"channel_{k}": v for k, v in current["channels"].items()}
    initial |= {f"topic_{k}": v for k, v in current["topics"].items()}
    form = PreferencesForm(request.POST or None, initial=initial)
    saved = False
    if request.method == "POST" and form.is_valid():
        source = ConsentSource.PORTAL if request.GET.get("from") == "portal" else ConsentSource.EMAIL_LINK
        consent.save_preferences(customer, form.choices("channel_"), form.choices("topic_"), source)
        saved = True
    context = {"program": customer.program, "customer_name": customer.name, "form": form, "saved": saved}
    return render(request, "rewards/portal/preferences.html", context)


@csrf_exempt  # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie or token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    """GET: a button (mail scanners GET links; that changes nothing). POST: withdraw email
    consent at once (the one-click unsubscribe of the List-Unsubscribe header, or the button)."""
    customer = _customer(token)
    if request.method == "POST":
        consent.set_channel_consent(
            customer, Channel.EMAIL, False, ConsentSource.EMAIL_LINK, detail=_one_click(request)
        )
        done = True
    else:
        done = False
    context = {
        "program": customer.program,
        "done": done,
        "preferences_url": reverse("rewards_portal:preferences", args=[token]),
    }
    return render(request, "rewards/portal/unsubscribe.html", context)


def _one_click(request):
    return "one-click" if request.POST.get("List-Unsubscribe") == "One-Click" else "button"


def my_preferences_view(request):
    """From the signed-in profile page to the customer's own preference page."""
    from rewards.portal_auth import current_customer

    customer = current_customer(request)
    if customer is None:
        return redirect("rewards_portal:login")
    url = reverse("rewards_portal:preferences", args=[consent.preferences_token(customer)])
    return redirect(f"{url}?from=portal")

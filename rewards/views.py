"""Customer portal views (Django templates). Thin: parse with forms, call services or
selectors, render. The signed-in customer comes from the session (rewards.portal_auth).
Every POST is CSRF-protected by Django's middleware (no exemptions here)."""

import functools
import re
import secrets

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from engagement.customers import update_customer
from engagement.models import Program
from engagement.partner_api import keycache
from rewards import activity, balances, catalogue, portal_auth, redemptions, referrals, scannable, tiers
from rewards.checkout.evaluation import list_held_reservations
from rewards.errors import RewardsError
from rewards.forms import CharityForm, LoginForm, ProductChoiceForm, ProfileForm, ReferralJoinForm, ShippingAddressForm
from rewards.models import Charity, FulfilmentStatus, Redemption, RewardKind, RewardsSettings
from rewards.provider_rewards import offered_products
from rewards.templatetags.rewards_format import points as format_points


def portal_login_required(view=None, *, joined_read=None):
    """Signed-in pages only; their answers are never stored by a browser or proxy cache
    (a shared computer's back button must not show someone's balance and vouchers).

    Sets request.customer (with its program and the program's cached rewards settings),
    request.portal_epoch (keycache) and request.portal_now. `joined_read(customer_id,
    program_id, rewards_settings, epoch, now)` is the page's own statement reading the
    signed-in customer too (portal_auth.SIGNED_IN_SOURCE): (customer, page data) or None.
    It runs when the session names the program and its settings are cached in this process;
    then request.page_data is its page data, else None and the view reads its data itself
    after the customer's own statement (older sessions, a cold cache, or no row: an erased
    customer, whom that statement signs out, or one moved to another program)."""
    if view is None:
        return functools.partial(portal_login_required, joined_read=joined_read)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        ids = portal_auth.signed_in_ids(request)
        if ids is None:
            return redirect("rewards_portal:login")
        # Read once, before the database (keycache): with the session's data when it came
        # from Redis (config.sessions), else now.
        epoch = getattr(request.session, "cache_epoch", None) or keycache.read_epoch()
        now = timezone.now()
        customer, page_data = _read_joined(joined_read, *ids, epoch, now) if joined_read else (None, None)
        if customer is None:
            customer = portal_auth.current_customer(request)
            if customer is None:
                return redirect("rewards_portal:login")
            _prime_program(customer.program, epoch)
        request.customer, request.page_data, request.portal_epoch, request.portal_now = customer, page_data, epoch, now
        # Dates and times read in the customer's own time zone (engagement.formatting).
        with timezone.override(customer.get_timezone()):
            response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapper


def _read_joined(joined_read, customer_id, program_id, epoch, now):
    """(customer, page data) by the page's joined statement, or (None, None) when it cannot
    run (no program id in the session, the settings not cached here) or finds no row."""
    rewards_settings = program_id and keycache.cached_program_value(program_id, "rewards_settings", epoch)
    if not rewards_settings:
        return None, None
    found = joined_read(customer_id, program_id, rewards_settings, epoch, now)
    if found is None:
        return None, None
    customer, page_data = found
    customer.program._rewards_settings_cache = rewards_settings  # as _prime_program sets them
    return customer, page_data


def _prime_program(program, epoch):
    """Set the program's rewards settings from the per-process cache under `epoch`
    (engagement.partner_api.keycache; RewardsSettings.get_for reads them from the program
    object, fresh per request here)."""
    program._rewards_settings_cache = keycache.program_value(program, "rewards_settings", epoch, _load_settings)


def _load_settings(program):
    return RewardsSettings.objects.get_or_create(program=program)[0]


def _set_language(response, language):
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 86400, samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )  # fmt: skip
    return response


# The tab bar: (url name, label, the url names of the pages that belong to the tab).
TABS = [
    ("dashboard", _lazy("Home"), ()),
    # A context: Django's admin catalogue, which takes precedence, reads "History" as "تاريخ".
    ("history", pgettext_lazy("portal tab", "History"), ()),
    ("catalogue", _lazy("Rewards"), ("redeem",)),
    ("my-rewards", _lazy("My rewards"), ("redemption",)),
    ("referrals", _lazy("Invite friends"), ()),
    ("profile", _lazy("Profile"), ()),
]


def _tabs(request):
    """The tabs with `current`: "page" on the tab's own page, "true" on a page under it."""
    here = request.resolver_match.url_name if request.resolver_match else ""
    tabs = []
    for (name, label, children), url in zip(TABS, _tab_urls(get_script_prefix()), strict=True):
        current = "page" if here == name else ("true" if here in children else "")
        tabs.append({"url": url, "label": label, "current": current})
    return tabs


@functools.cache
def _tab_urls(script_prefix):
    # The URLs depend on nothing but the prefix (no language in the path): reversed once.
    return [reverse(f"rewards_portal:{name}") for name, _label, _children in TABS]


def _ctx(request, **extra):
    customer = getattr(request, "customer", None)
    # `tabs_here`: base.html renders the tab bar once per page name (and language) per process.
    here = request.resolver_match.url_name if request.resolver_match else ""
    return {"customer": customer, "tabs": _tabs(request) if customer else [], "tabs_here": here, **extra}


@require_http_methods(["GET", "POST"])
def login_view(request):
    if portal_auth.current_customer(request):
        return redirect("rewards_portal:dashboard")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        limited = portal_auth.check_sign_in_limits(portal_auth.client_ip(request), form.cleaned_data["email"])
        if limited:
            form.add_error("email", limited.message)
            response = render(request, "rewards/portal/login.html", _ctx(request, form=form), status=429)
            response["Retry-After"] = str(limited.retry_after)
            return response
        portal_auth.send_login_links(form.cleaned_data["email"], request.build_absolute_uri)
        return render(request, "rewards/portal/login_sent.html", _ctx(request, email=form.cleaned_data["email"]))
    return render(request, "rewards/portal/login.html", _ctx(request, form=form))


@never_cache  # the page carries a sign-in token
@require_http_methods(["GET", "POST"])
def login_link_view(request, token):
    """GET: a "Sign in" button (link scanners may GET; that consumes nothing). POST: sign in."""
    if request.method == "GET":
        if not portal_auth.check_login_token(token):
            return render(request, "rewards/portal/login_invalid.html", _ctx(request), status=400)
        return render(request, "rewards/portal/login_confirm.html", _ctx(request))
    customer = portal_auth.consume_login_token(token)
    if customer is None:
        return render(request, "rewards/portal/login_invalid.html", _ctx(request), status=400)
    portal_auth.sign_in(request, customer)
    return _set_language(redirect("rewards_portal:dashboard"), customer.get_locale())


@require_POST
def logout_view(request):
    portal_auth.sign_out(request)
    return redirect("rewards_portal:login")


HOME_RECENT = 5  # entries on the home page


def _read_home(customer_id, program_id, rewards_settings, epoch, now):
    return balances.find_signed_in_summary(customer_id, program_id, rewards_settings, now, recent=HOME_RECENT)


@portal_login_required(joined_read=_read_home)
def dashboard_view(request):
    customer, now, summary = request.customer, request.portal_now, request.page_data
    # Balance, tier state, window points and the five newest entries in one query (with the
    # customer's own row when the session allows: portal_login_required); tiers and settings
    # cached.
    if summary is None:
        summary = balances.get_balance_summary(customer, now, with_tier=True, recent=HOME_RECENT)
    return render(
        request,
        "rewards/portal/dashboard.html",
        _ctx(
            request,
            summary=summary,
            progress=tiers.get_tier_progress(customer, now, summary=summary, epoch=request.portal_epoch),
            recent=activity.describe_entries(summary["recent"]),
        ),
    )


@portal_login_required
def history_view(request):
    page = Paginator(activity.list_activity(request.customer), 25).get_page(request.GET.get("page"))
    page.object_list = activity.describe_entries(page.object_list)
    held = list_held_reservations(request.customer)
    return render(request, "rewards/portal/history.html", _ctx(request, page=page, held=held))


def _read_catalogue(customer_id, program_id, rewards_settings, epoch, now):
    found = catalogue.find_signed_in_catalogue(customer_id, program_id, epoch, now)
    return None if found is None else (found[0], found[1:])


@portal_login_required(joined_read=_read_catalogue)
def catalogue_view(request):
    # The balance and the items' live columns in one statement (with the customer's own row
    # when the session allows: portal_login_required); the items' rows cached.
    if request.page_data is None:
        balance, items = catalogue.list_portal_catalogue(request.customer, request.portal_epoch, request.portal_now)
    else:
        balance, items = request.page_data
    for item in items:
        item.points_to_go = max(0, item.points_cost - balance)
    return render(request, "rewards/portal/catalogue.html", _ctx(request, items=items, balance=balance))


@portal_login_required
@require_http_methods(["GET", "POST"])
def redeem_view(request, item_id):
    """GET: the confirm step (with the shipping address or the charity to choose when the
    reward needs one). POST: redeem (idempotent by the form's one-time key)."""
    customer = request.customer
    item = catalogue.get_item(customer.program, item_id)
    if item is None:
        raise Http404
    data = request.POST if request.method == "POST" else None
    details_form, product_form = _details_form(item, data), _product_form(item, data)
    if request.method == "POST":
        key = request.POST.get("key", "")[:64]
        if not key:
            return redirect("rewards_portal:redeem", item_id=item.pk)
        if all(form is None or form.is_valid() for form in (details_form, product_form)):
            try:
                redemption = redemptions.redeem_reward(
                    customer=customer, item=item, idempotency_key=f"portal:{customer.pk}:{key}", channel="portal",
                    fulfilment=details_form.cleaned_data if details_form is not None else None,
                    product=product_form.cleaned_data["product"] if product_form is not None else "",
                )  # fmt: skip
            except RewardsError as exc:
                messages.error(request, str(exc.message))
                return redirect("rewards_portal:catalogue")
            return redirect(reverse("rewards_portal:redemption", args=[redemption.pk]) + "?done=1")
    summary = balances.get_balance_summary(customer)
    return render(
        request,
        "rewards/portal/redeem_confirm.html",
        _ctx(
            request,
            item=item,
            key=request.POST.get("key", "")[:64] or secrets.token_urlsafe(16),
            summary=summary,
            after=summary["balance"] - item.points_cost,
            problem=catalogue.eligibility_error(item, customer),
            details_form=details_form,
            product_form=product_form,
        ),
        status=400 if data is not None and (details_form is not None or product_form is not None) else 200,
    )


def _product_form(item, data):
    """The gift-card choice of a reward over several provider products ("recipient
    chooses"), or None (one card, or none linked)."""
    offered = offered_products(item)
    return ProductChoiceForm(data, products=offered) if len(offered) > 1 else None


def _details_form(item, data):
    """The shipping address form (merchandise), the charity form (a donation, when the
    program lists charities), or None."""
    if item.kind == RewardKind.MERCHANDISE:
        return ShippingAddressForm(data)
    if item.kind == RewardKind.DONATION:
        charities = list(Charity.objects.filter(program_id=item.program_id, active=True))
        return CharityForm(data, charities=charities) if charities else None
    return None


@portal_login_required
def my_rewards_view(request):
    rows = Redemption.objects.filter(customer=request.customer).select_related("item", "voucher_code", "fulfilment")
    return render(request, "rewards/portal/my_rewards.html", _ctx(request, redemptions=rows[:100]))


@portal_login_required
def redemption_view(request, redemption_id):
    redemption = redemptions.get_redemption(request.customer.program, redemption_id, customer=request.customer)
    if redemption is None:
        raise Http404
    code = redemption.code
    scans = {}
    if code:
        scans = {
            "qr": scannable.qr_svg(code, _("QR code of %(code)s") % {"code": code}),
            "barcode": scannable.barcode_svg(code, _("Barcode of %(code)s") % {"code": code}),
        }
    return render(
        request,
        "rewards/portal/redemption.html",
        _ctx(
            request,
            redemption=redemption,
            # Sealed when the provider's answer came; shown once the order is done.
            credentials=redemption.credentials if redemption.status == Redemption.Status.COMPLETED else [],
            **_fulfilment_ctx(redemption.fulfilment_or_none),
            just_redeemed=request.GET.get("done") == "1",
            **scans,
        ),
    )


MERCHANDISE_STEPS = (FulfilmentStatus.REQUESTED, FulfilmentStatus.SHIPPED, FulfilmentStatus.DELIVERED)


def _fulfilment_ctx(fulfilment):
    """The fulfilment, its steps (merchandise), those reached, and its dated updates."""
    if fulfilment is None:
        return {"fulfilment": None}
    history = [
        (FulfilmentStatus(change.to_status).label, change.created_at) for change in fulfilment.status_changes.all()
    ]
    reached = {FulfilmentStatus(change.to_status) for change in fulfilment.status_changes.all()}
    return {
        "fulfilment": fulfilment,
        "steps": [(step, step.label) for step in MERCHANDISE_STEPS],
        "reached": reached,
        "history": history,
    }


@portal_login_required
def reward_image_view(request, item_id):
    """A catalogue item's image, for customers of its program (uploads are not public media)."""
    item = catalogue.get_item(request.customer.program, item_id)
    if item is None or not item.image:
        raise Http404
    try:
        handle = item.image.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@portal_login_required
def referrals_view(request):
    code = referrals.get_referral_code(request.customer)
    link = request.build_absolute_uri(reverse("rewards_portal:referral-landing", args=[code.code]))
    stats = referrals.get_referral_stats(request.customer)
    program = request.customer.program
    offer = referrals.get_referral_offer(program)
    share = {
        "share_subject": _("Join me at %(program)s") % {"program": program.name},
        "share_text": _("Join %(program)s with my link and get %(points)s welcome points: %(link)s")
        % {"program": program.name, "points": format_points(offer.referee_points), "link": link},
    }
    return render(
        request, "rewards/portal/referrals.html", _ctx(request, code=code, link=link, stats=stats, offer=offer, **share)
    )


@require_http_methods(["GET", "POST"])
def referral_landing_view(request, code):
    """A friend's invitation: the programme's offer and a sign-up form. POST joins (the
    referral is tied, fraud rules applied) and emails a sign-in link; the answer is the same
    whether or not the referral was accepted, so the form reveals nothing about anyone."""
    row = referrals.find_referral_code(code)
    if row is None:
        program = public_program(request)
        return render(request, "rewards/portal/referral_invalid.html", _public_ctx(program), status=404)
    program = row.customer.program
    form = ReferralJoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        referrals.join_through_referral(
            program, row.code, email=data["email"], name=data["name"], consent_email=data["consent_email"],
            locale=translation.get_language() if translation.get_language() in dict(settings.LANGUAGES) else "",
        )  # fmt: skip
        portal_auth.send_login_links(data["email"], request.build_absolute_uri)
        return render(request, "rewards/portal/referral_joined.html", _public_ctx(program, email=data["email"]))
    # Only the first name: the page is public, whoever holds the link can read it.
    first_name = (row.customer.name or "").split(" ", 1)[0]
    context = _public_ctx(
        program, form=form, code=row.code, referrer_name=first_name, offer=referrals.get_referral_offer(program)
    )
    return render(request, "rewards/portal/referral_landing.html", context)


def public_program(request):
    """The program a public page is branded with when the link names none: the signed-in
    customer's, else the only program of a single-program installation, else None."""
    customer = portal_auth.current_customer(request)
    if customer is not None:
        return customer.program
    programs = list(Program.objects.all()[:2])
    return programs[0] if len(programs) == 1 else None


def _public_ctx(program, **extra):
    return {"program": program, **extra}


BRAND_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def brand_css_view(request, slug):
    """The program's colours as CSS custom properties (a file, so no inline style is needed)."""
    program = Program.objects.filter(slug=slug).first()
    colour = RewardsSettings.get_for(program).brand_colour if program else ""
    body = f":root {{ --brand: {colour}; --plus: {colour}; }}\n" if BRAND_COLOUR.match(colour or "") else ""
    response = HttpResponse(body, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@portal_login_required
@require_http_methods(["GET", "POST"])
def profile_view(request):
    customer = request.customer
    initial = {
        "locale": customer.get_locale(),
        **{f"consent_{c}": getattr(customer, f"consent_{c}") for c in ("email", "sms", "whatsapp", "push")},
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        update_customer(customer, form.cleaned_data, source="portal")
        translation.activate(form.cleaned_data["locale"])
        messages.success(request, _("Your profile was saved."))
        return _set_language(redirect("rewards_portal:profile"), form.cleaned_data["locale"])
    context = _ctx(request, form=form, now=timezone.now(), vapid_public_key=settings.WEBPUSH_VAPID_PUBLIC_KEY)
    return render(request, "rewards/portal/profile.html", context)

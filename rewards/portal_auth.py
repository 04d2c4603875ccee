"""Portal sign-in by one-time email link.

The link carries a signed nonce (django.core.signing, salted, with max_age); the nonce's
PortalLoginToken row gives expiry and single use: it is consumed with a conditional UPDATE
(`used_at IS NULL`), so two clicks of one link never both sign in. Opening the link shows a
"Sign in" button and only its POST consumes the token, so mail scanners that prefetch links
do not burn it. Asking for a link never reveals whether an email is known (the page says the
same either way), and at most LINKS_PER_WINDOW links per address are sent per TTL window.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from engagement.models import Customer
from rewards.models import PortalLoginToken

SALT = "rewards.portal.login"
SESSION_KEY = "rewards_portal_customer"
LINKS_PER_WINDOW = 5


def login_ttl():
    return timedelta(minutes=settings.REWARDS_PORTAL_LOGIN_TTL_MINUTES)


def send_login_links(email, build_url):
    """Email a sign-in link to every active customer with this email (one per program).

    `build_url(path)` makes an absolute URL. Returns how many links were sent.
    """
    email = (email or "").strip()
    if not _within_send_limit(email):
        return 0
    customers = Customer.objects.filter(email__iexact=email, erased_at__isnull=True).select_related("program")
    sent = 0
    for customer in customers[:10]:
        url = issue_login_link(customer, build_url)
        with translation.override(customer.get_locale()):
            context = {
                "customer": customer,
                "program": customer.program,
                "url": url,
                "minutes": login_ttl().seconds // 60,
            }
            subject = render_to_string("rewards/email/login_subject.txt", context).strip()
            body = render_to_string("rewards/email/login_body.txt", context)
        send_mail(subject, body, None, [customer.email])
        sent += 1
    return sent


def issue_login_link(customer, build_url):
    """A new one-time sign-in link for `customer` (absolute, by `build_url(path)`), valid for
    login_ttl(). The caller delivers it: by email here, printed by the demo loader."""
    nonce = secrets.token_urlsafe(24)
    PortalLoginToken.objects.create(customer=customer, nonce=nonce, expires_at=timezone.now() + login_ttl())
    token = signing.dumps(nonce, salt=SALT)
    return build_url(reverse("rewards_portal:login-link", args=[token]))


def _within_send_limit(email):
    # A counter per address in the cache: stops using the form to flood someone's inbox.
    key = "rewards:portal-login:" + hashlib.sha256(email.lower().encode()).hexdigest()
    cache.add(key, 0, timeout=int(login_ttl().total_seconds()))
    try:
        return cache.incr(key) <= LINKS_PER_WINDOW
    except ValueError:  # expired between add and incr
        return True


def _nonce(token):
    try:
        return signing.loads(token, salt=SALT, max_age=login_ttl())
    except signing.BadSignature:
        return None


def check_login_token(token):
    """True when the link is genuine, unexpired and unused (nothing is consumed)."""
    nonce = _nonce(token)
    return bool(
        nonce
        and PortalLoginToken.objects.filter(nonce=nonce, used_at__isnull=True, expires_at__gt=timezone.now()).exists()
    )


def consume_login_token(token):
    """The customer the link signs in, or None if it is forged, expired or already used."""
    nonce = _nonce(token)
    if nonce is None:
        return None
    now = timezone.now()
    used = PortalLoginToken.objects.filter(nonce=nonce, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not used:
        return None
    row = PortalLoginToken.objects.select_related("customer__program").get(nonce=nonce)
    return row.customer if row.customer.erased_at is None else None


def sign_in(request, customer):
    request.session.cycle_key()  # a new session id at sign-in (no fixation)
    request.session[SESSION_KEY] = customer.pk


def sign_out(request):
    request.session.flush()


def current_customer(request):
    pk = request.session.get(SESSION_KEY)
    if pk is None:
        return None
    return Customer.objects.select_related("program").filter(pk=pk, erased_at__isnull=True).first()


def purge_login_tokens(now=None):
    """Delete sign-in tokens that expired more than a day ago; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = PortalLoginToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted

"""Portal sign-in by one-time email link.

The link carries a signed nonce (django.core.signing, salted, with max_age); the nonce's
PortalLoginToken row gives expiry and single use: it is consumed with a conditional UPDATE
(`used_at IS NULL`), so two clicks of one link never both sign in. Opening the link shows a
"Sign in" button and only its POST consumes the token, so mail scanners that prefetch links
do not burn it. Asking for a link never reveals whether an email is known (the page says the
same either way). Requests are limited per TTL window (`check_sign_in_limits`): per client
IP (REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP) and per address (LINKS_PER_WINDOW), counted in the
Django cache (Redis), so one client can neither flood an inbox nor probe many addresses.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from engagement import plain_rows
from engagement.models import Customer, Program
from rewards.models import PortalLoginToken

SALT = "rewards.portal.login"
SESSION_KEY = "rewards_portal_customer"
# The customer's program id, written next to SESSION_KEY at sign-in (sessions older than it
# lack it): a page can then take the program's settings from the per-process cache and read
# the customer with its own data in one statement (signed_in_ids).
PROGRAM_SESSION_KEY = "rewards_portal_program"
LINKS_PER_WINDOW = 5


def login_ttl():
    return timedelta(minutes=settings.REWARDS_PORTAL_LOGIN_TTL_MINUTES)


@dataclass(frozen=True)
class SignInLimited:
    message: str
    retry_after: int  # seconds


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_HOPS = n > 0 (behind n
    reverse proxies that append to X-Forwarded-For) the address the first proxy saw."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def check_sign_in_limits(ip: str, email: str) -> SignInLimited | None:
    """Count one sign-in request against the client's and the address's limits; return a
    SignInLimited when either is exceeded (then send nothing), else None. The address limit
    applies whether or not the address is known, so the answer reveals nothing."""
    window = int(login_ttl().total_seconds())
    within_ip = (
        _count(f"rewards:portal-login-ip:{_digest(ip)}", window) <= settings.REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP
    )
    within_address = _count(f"rewards:portal-login:{_digest((email or '').strip().lower())}", window) <= (
        LINKS_PER_WINDOW
    )
    if within_ip and within_address:
        return None
    minutes = window // 60
    return SignInLimited(
        # "min" rather than a plural form: the catalogues carry no plural rules.
        _("Too many sign-in requests. Please try again in %(minutes)d min.") % {"minutes": minutes},
        retry_after=window,
    )


def _digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


def _count(key, window):
    # A fixed-window counter: add() starts the window, incr() is atomic in Redis.
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.add(key, 1, timeout=window)
        return 1


def send_login_links(email, build_url):
    """Email a sign-in link to every active customer with this email (one per program).

    `build_url(path)` makes an absolute URL. Returns how many links were sent. The caller
    checks the request limits first (check_sign_in_limits).
    """
    email = (email or "").strip()
    customers = Customer.objects.filter(email__iexact=email, erased_at__isnull=True).select_related("program")
    sent = 0
    for customer in customers[:10]:
        send_login_link(customer, build_url)
        sent += 1
    return sent


def send_login_link(customer, build_url):
    """Email `customer` a new one-time sign-in link, in the customer's language (the portal's
    request form and the admin's customer page). The caller checks the limits and that the
    customer has an email address and is not erased."""
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


def issue_login_link(customer, build_url):
    """A new one-time sign-in link for `customer` (absolute, by `build_url(path)`), valid for
    login_ttl(). The caller delivers it: by email here, printed by the demo loader."""
    nonce = secrets.token_urlsafe(24)
    PortalLoginToken.objects.create(customer=customer, nonce=nonce, expires_at=timezone.now() + login_ttl())
    token = signing.dumps(nonce, salt=SALT)
    return build_url(reverse("rewards_portal:login-link", args=[token]))


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
    """Sign `customer` in: a new session id (no fixation) holding the customer's id and their
    program's id (the only writer of both keys)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = customer.pk
    request.session[PROGRAM_SESSION_KEY] = customer.program_id


def sign_out(request):
    request.session.flush()


def current_customer(request):
    """The signed-in customer (not erased) with their program, or None."""
    pk = request.session.get(SESSION_KEY)
    if pk is None:
        return None
    return _load_customer(pk)


def signed_in_ids(request):
    """(customer id, program id) from the session, the program id None in sessions signed in
    before it was stored; None when nobody is signed in. Nothing is checked here: a reader
    that joins SIGNED_IN_SOURCE finds no row for an erased customer or another program's."""
    pk = request.session.get(SESSION_KEY)
    if pk is None:
        return None
    return pk, request.session.get(PROGRAM_SESSION_KEY)


# The signed-in customer with their program, as a FROM item for a page's own statement: no
# row unless the customer (%(customer)s) is not erased and still in the program
# (%(program)s) the session names. Its columns: signed_in_columns(), read by
# customer_from_row.
SIGNED_IN_SOURCE = f"""{Customer._meta.db_table} customer
              JOIN {Program._meta.db_table} program ON program.id = customer.program_id
                   AND customer.id = %(customer)s AND customer.program_id = %(program)s
                   AND customer.erased_at IS NULL"""


def signed_in_columns():
    """The customer's and the program's columns, in customer_from_row's order."""
    return plain_rows.columns(Customer, "customer") + plain_rows.columns(Program, "program")


def customer_from_row(values):
    """The Customer, its `program` set, from the values of signed_in_columns()."""
    split = len(Customer._meta.concrete_fields)
    customer = plain_rows.from_row(Customer, values[:split])
    customer.program = plain_rows.from_row(Program, values[split:])
    return customer


def _load_customer(pk):
    """Customer.objects.select_related("program").filter(pk=pk, erased_at__isnull=True)
    .first(), in one plain statement: the ORM's compiling of that query cost more than the
    query itself."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {", ".join(signed_in_columns())}
              FROM {Customer._meta.db_table} customer
              JOIN {Program._meta.db_table} program ON program.id = customer.program_id
             WHERE customer.id = %s AND customer.erased_at IS NULL
            """,
            [pk],
        )
        row = cursor.fetchone()
    return None if row is None else customer_from_row(row)


def purge_login_tokens(now=None):
    """Delete sign-in tokens that expired more than a day ago; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = PortalLoginToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted

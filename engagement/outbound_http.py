"""Outbound HTTP to URLs that partners or admins choose (webhook targets, a program's payout
provider base URL): only to public addresses (server-side request forgery, SSRF).

Two checks, both needed:
- at save, `check_public_url` refuses a URL whose host is, or resolves to, a loopback,
  private, link-local, multicast, reserved or otherwise non-global address (a host name that
  does not resolve yet is accepted: the second check still applies);
- at each request, `build_opener` connects only to an address it resolved and checked itself
  (the address is pinned: the socket is opened to that IP, TLS still verifies the name), so a
  name re-pointed after the save (DNS rebinding) or a redirect to an inner host is refused.

Loopback is allowed only when the caller says so (a development switch such as
WEBHOOKS_ALLOW_HTTP_LOOPBACK); every other non-public range never is.
"""

import http.client
import ipaddress
import socket
import urllib.request
from functools import partial
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class BlockedAddress(OSError):
    """The host resolves to an address outbound requests may not reach."""


def address_allowed(address: str, *, allow_loopback: bool = False) -> bool:
    """True for a public (globally routable unicast) IP address, or a loopback one when allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:10.0.0.1 is 10.0.0.1
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    blocked = ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    return ip.is_global and not blocked


def is_loopback_host(host: str | None) -> bool:
    """True for a loopback name or literal (localhost, 127.0.0.1, ::1); no DNS lookup."""
    if (host or "").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve(host: str, port: int = 443) -> list[str]:
    """Every IP address `host` resolves to (a literal resolves to itself); [] if it does not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [info[4][0] for info in infos]


def check_public_url(url: str, *, allow_loopback: bool = False) -> None:
    """Raise ValidationError (code "address_not_allowed") when `url`'s host is or resolves to
    an address outbound requests may not reach. Does not check the scheme or URL syntax."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return
    addresses = ["127.0.0.1"] if host in LOOPBACK_NAMES else resolve(host)
    if any(not address_allowed(address, allow_loopback=allow_loopback) for address in addresses):
        raise ValidationError(
            _(
                "This URL points to a loopback, private, link-local, multicast or reserved address; "
                "only public addresses can be reached."
            ),
            code="address_not_allowed",
        )


def _create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *, allow_loopback):
    # Replaces socket.create_connection for one connection: resolve once, skip what is not
    # allowed, connect to the checked IP itself (so what we checked is what we reach).
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise OSError(f"bad host name: {exc}") from None
    error = None
    for family, type_, proto, _canonname, sockaddr in infos:
        if not address_allowed(sockaddr[0], allow_loopback=allow_loopback):
            error = BlockedAddress("address not allowed")
            continue
        sock = socket.socket(family, type_, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, allow_loopback, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = partial(_create_connection, allow_loopback=allow_loopback)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    # HTTPSConnection.connect() opens the TCP socket through HTTPConnection.connect (and so
    # through _create_connection), then wraps it with TLS for the host name.
    def __init__(self, *args, allow_loopback, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = partial(_create_connection, allow_loopback=allow_loopback)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_loopback):
        super().__init__()
        self.allow_loopback = allow_loopback

    def http_open(self, req):
        return self.do_open(partial(_GuardedHTTPConnection, allow_loopback=self.allow_loopback), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_loopback):
        super().__init__()
        self.allow_loopback = allow_loopback

    def https_open(self, req):
        return self.do_open(
            partial(_GuardedHTTPSConnection, allow_loopback=self.allow_loopback), req, context=self._context
        )


def build_opener(*extra_handlers, allow_loopback: bool = False) -> urllib.request.OpenerDirector:
    """A urllib opener that reaches public addresses only (loopback too when allowed), ignores
    proxies from the environment, and uses `extra_handlers` (e.g. one refusing redirects).
    A refused address surfaces as urllib.error.URLError whose reason is a BlockedAddress."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _GuardedHTTPHandler(allow_loopback),
        _GuardedHTTPSHandler(allow_loopback),
        *extra_handlers,
    )

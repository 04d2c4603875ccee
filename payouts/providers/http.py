"""One JSON-over-HTTP call for the HTTP adapters, with the failure kinds they act on.

`call()` never raises for network trouble: it answers a `Reply` whose `error` says what went
wrong, so each adapter maps it to an outcome the same way:
- "timeout" or "reset" (the request may have reached the provider) -> unknown;
- "connection" (refused, unreachable: it certainly did not)         -> transient.
"""

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from engagement import outbound_http
from payouts.providers.base import Outcome, ProviderResult, redact

MAX_BODY = 2000


@dataclass
class Reply:
    code: int | None
    data: object
    text: str
    error: str
    duration_ms: int

    @property
    def may_have_acted(self):
        """True when the request may have reached the provider although no answer came."""
        return self.error.startswith(("timeout", "reset"))


def call(method, url, body=None, headers=None, form=None, guard=False):
    """Send one request; `body` is sent as JSON, `form` (a str) as x-www-form-urlencoded.
    `guard`: the URL was set by an admin (a program's provider account), so it may reach only
    public addresses, checked at connect time (SSRF, DNS rebinding), or loopback when
    PAYOUTS_ALLOW_LOOPBACK_BASE_URL is on. A refused address is a "connection" error: nothing
    was sent."""
    data, content_type = None, None
    if body is not None:
        data, content_type = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data, content_type = form.encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
    if content_type:
        request.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    started = time.monotonic()
    code, raw, error = None, b"", ""
    if guard:
        opener = outbound_http.build_opener(allow_loopback=settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL)
    else:
        opener = urllib.request.build_opener()
    try:
        with opener.open(request, timeout=settings.PAYOUTS_HTTP_TIMEOUT_SECONDS) as response:
            code, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, raw = exc.code, exc.read()
    except TimeoutError:
        error = "timeout"
    except urllib.error.URLError as exc:
        # Refused / unreachable / not allowed: the request never reached the provider.
        if isinstance(exc.reason, outbound_http.BlockedAddress):
            error = "connection: address not allowed"
        elif isinstance(exc.reason, TimeoutError | socket.timeout):
            error = "timeout"
        else:
            error = f"connection: {exc.reason}"
    except (ConnectionError, OSError) as exc:
        # Reset after sending: the provider may have acted on it.
        error = f"reset: {exc}"
    text = raw.decode("utf-8", "replace")[:MAX_BODY]
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Reply(code, parsed, text, error, int((time.monotonic() - started) * 1000))


def stored_body(reply, secret_fields):
    """What we keep of an answer (PayoutAttempt.response_body): its JSON with the value of
    every key in `secret_fields` replaced by "[redacted]", cut to MAX_BODY characters. An
    answer that is not JSON is kept only with an error status (an error page carries no
    card); a 2xx that does not parse may be a cut-off order holding a code, so only a note
    of it is kept."""
    if reply.data is not None:
        return json.dumps(redact(reply.data, secret_fields))[:MAX_BODY]
    if not reply.text or (reply.code or 0) >= 400:
        return reply.text
    return f"[an answer of {len(reply.text)}+ characters that is not JSON: not kept]"


def record(result, reply, provider):
    """Put on `result` what is kept of `reply`: code, duration, the credentials it carries
    (for the encrypted copy) and its body with `provider.secret_fields` redacted."""
    result.response_code, result.duration_ms = reply.code, reply.duration_ms
    result.response_body = stored_body(reply, provider.secret_fields)
    if reply.data is not None:
        result.credentials = provider.credentials(reply.data)
    return result


def lookup_result(reply, items_key, field, value, to_result, error_text, provider):
    """The ProviderResult of a lookup answered by a list (`items_key`) filtered on `field` ==
    `value`: the first match's (`to_result(item)`), NOT_FOUND when none, TRANSIENT when the
    provider could not be asked or answered otherwise (`error_text(data, code)`). The reply's
    code, redacted body, credentials and duration are recorded on it (see `record`);
    `request` is the caller's to set."""
    data = reply.data if isinstance(reply.data, dict) else {}
    if reply.error:
        result = ProviderResult(Outcome.TRANSIENT, error=reply.error)
    elif reply.code == 200 and isinstance(data.get(items_key), list):
        found = [item for item in data[items_key] if item.get(field) == value]
        result = to_result(found[0]) if found else ProviderResult(Outcome.NOT_FOUND)
    else:
        result = ProviderResult(Outcome.TRANSIENT, error=error_text(data, reply.code))
    result.request = {field: value}
    return record(result, reply, provider)

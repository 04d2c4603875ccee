"""Partner API authentication, permission and rate limit: `Authorization: Bearer <key>`.

After authentication `request.auth` is the PartnerKey and `request.program` its Program;
every partner view filters by `request.program` and nothing else.
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from engagement.models import PartnerKey, hash_key
from engagement.partner_api import keycache

if TYPE_CHECKING:
    # Not at run time: DRF imports this module while building APIView.
    from rest_framework.views import APIView

# last_used_at is written at most this often per key, so reads stay read-only.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PartnerKeyAuthentication(authentication.BaseAuthentication):
    """Bearer key -> (None, PartnerKey) with `request.program` set. The key and its program come
    from the per-process cache when its epoch is current (engagement.partner_api.keycache),
    else from the database; the same Redis round trip counts the request for the rate limit
    (`request.rate_counts`, read by PartnerKeyRateThrottle)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[None, PartnerKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme != self.keyword or not raw_key.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <partner key>'.")
        hashed = hash_key(raw_key.strip())
        duration = rate_duration()
        now = keycache.now()
        cached = keycache.get(hashed)
        key = None
        if cached is not None:
            epoch, counts = keycache.epoch_and_count(cached[1].pk, duration, now)
            if epoch is not None and epoch == cached[0]:
                key = cached[1]
        if key is None:
            epoch = keycache.read_epoch()
            key = PartnerKey.objects.find_hashed(hashed)
            if key is None:
                raise exceptions.AuthenticationFailed("Unknown or revoked partner key.")
            keycache.put(hashed, epoch, key)
            if cached is None or cached[1].pk != key.pk:
                _epoch, counts = keycache.epoch_and_count(key.pk, duration, now)
        request.rate_counts = counts  # type: ignore[attr-defined]  # for PartnerKeyRateThrottle
        if key.last_used_at is None or key.last_used_at < timezone.now() - LAST_USED_RESOLUTION:
            used = timezone.now()
            PartnerKey.objects.filter(pk=key.pk).update(last_used_at=used)
            key.last_used_at = used  # the cached copy too: one write per key per minute per process
        request.program = key.program  # type: ignore[attr-defined]  # ours: see the module docstring
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Request, view: "APIView") -> bool:
        return isinstance(request.auth, PartnerKey)


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "6000/min" -> (6000, 60): DRF's notation (the period's first letter counts)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def rate_duration() -> int:
    return parse_rate(settings.API_RATE_LIMIT)[1]


class PartnerKeyRateThrottle(throttling.BaseThrottle):
    """Per-key request rate (API_RATE_LIMIT, read at request time so it can change without a
    restart); answers 429 with Retry-After. Counted by the authentication's Redis round trip
    (keycache: a sliding window, atomic across processes); a refused request is not counted."""

    def allow_request(self, request: Request, view: "APIView") -> bool:
        counts = getattr(request, "rate_counts", None)
        if not isinstance(request.auth, PartnerKey) or counts is None:
            return True
        limit, duration = parse_rate(settings.API_RATE_LIMIT)
        now = keycache.now()
        if counts.duration != duration or counts.estimate(now) <= limit:
            return True
        keycache.uncount(request.auth.pk, counts.duration, now)
        self.retry_after = self._retry_after(counts, limit, now)
        return False

    @staticmethod
    def _retry_after(counts: keycache.Counts, limit: int, now: float) -> float:
        """Seconds until one more request fits: the end of this window if this window alone is
        full, else until enough of the previous window has slid out."""
        end = counts.window_start + counts.duration
        if counts.current > limit or counts.previous == 0:
            return max(end - now, 1.0)
        # One more fits at t when previous * (1 - (t - start) / duration) + current <= limit
        # (`current` counts this refused request, which stands for the next one).
        fraction = 1 - (limit - counts.current) / counts.previous
        return max(counts.window_start + fraction * counts.duration - now, 1.0)

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "engagement.partner_api.authentication.PartnerKeyAuthentication"
    name = "PartnerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A program's partner key."}

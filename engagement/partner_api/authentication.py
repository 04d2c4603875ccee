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

from engagement.models import PartnerKey

if TYPE_CHECKING:
    # Not at run time: DRF imports this module while building APIView.
    from rest_framework.views import APIView

# last_used_at is written at most this often per key, so reads stay read-only.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PartnerKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[None, PartnerKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme != self.keyword or not raw_key.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <partner key>'.")
        key = PartnerKey.objects.find(raw_key.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked partner key.")
        now = timezone.now()
        if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
            PartnerKey.objects.filter(pk=key.pk).update(last_used_at=now)
        request.program = key.program  # type: ignore[attr-defined]  # ours: see the module docstring
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Request, view: "APIView") -> bool:
        return isinstance(request.auth, PartnerKey)


class PartnerKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per-key request rate (API_RATE_LIMIT); answers 429 with Retry-After."""

    scope = "partner_key"

    def get_rate(self) -> str:
        # Read at request time (not import time) so the setting can change without a restart.
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        if not isinstance(request.auth, PartnerKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "engagement.partner_api.authentication.PartnerKeyAuthentication"
    name = "PartnerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A program's partner key."}

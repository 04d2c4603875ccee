"""Domain errors: one hierarchy for every app's services.

A service raises a `DomainError` (or a subclass) when it refuses an operation; raising it
inside the service's transaction rolls the transaction back, so a refusal changes nothing.
Each error carries a stable machine-readable `code`, a human `message`, optionally the
`attr` (field) it is about, and the HTTP `status` the partner API answers with. The API's
exception handler (engagement.partner_api.errors) maps them ONCE to the one error shape;
the admin and portal show `message`. Views never translate them one by one.

This module is low on purpose: it imports only Django, so services of every app (and
engagement.partner_api) can import it without importing DRF.
"""

from django.http import Http404
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A refused operation: `code`, `message`, `attr` (or None) and HTTP `status`.

    Subclasses set the class attributes; an instance may override any of them.
    `error_type` is the shape's `type` ("client_error" or "validation_error").
    """

    code = "invalid"
    message = _("The request could not be completed.")
    status = 400
    error_type = "client_error"
    attr = None

    def __init__(self, message=None, *, code=None, attr=None, status=None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if attr is not None:
            self.attr = attr
        if status is not None:
            self.status = status
        super().__init__(str(self.message))

    @property
    def detail(self):
        return self.message

    @property
    def status_code(self):
        return self.status

    def entries(self):
        """The error as the shape's list of {code, detail, attr} (several for a validation)."""
        return [{"code": self.code, "detail": str(self.message), "attr": self.attr}]


class ValidationFailed(DomainError):
    """The input breaks a rule (400); `problems` may list several [(attr, message)]."""

    error_type = "validation_error"

    def __init__(self, message=None, *, problems=None, **kwargs):
        self.problems = list(problems or [])
        if message is None and self.problems:
            message = "; ".join(f"{attr}: {text}" if attr else str(text) for attr, text in self.problems)
        super().__init__(message, **kwargs)

    def entries(self):
        if not self.problems:
            return super().entries()
        return [{"code": self.code, "detail": str(text), "attr": attr or None} for attr, text in self.problems]


class NotFound(DomainError, Http404):
    """No such object in the caller's program (404). Also an Http404, so portal views that
    let it through still answer Django's 404 page."""

    code = "not_found"
    message = _("Not found.")
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    message = _("You may not do this.")
    status = 403


class Conflict(DomainError):
    """The object's current state refuses the operation (409): retrying as is will not help."""

    code = "conflict"
    message = _("The request conflicts with the current state.")
    status = 409


class IdempotencyKeyReused(DomainError):
    """The same idempotency key was used earlier with a different request (422)."""

    code = "idempotency_key_reused"
    message = _("This idempotency key was already used with a different request.")
    status = 422

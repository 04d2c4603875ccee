"""Invitation links: `<SITE_URL>/s/<signed token>/`.

The token is `<program id>.<random 256-bit id>` signed with the project's SECRET_KEY
(django.core.signing, salted). The random part alone is unguessable; the signature lets a
tampered or made-up link be told apart from an unknown one without a database lookup, and
the program id in the signed value lets a link of one program never open another's row.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "surveys.invitation"
# "~" instead of ":" between value and signature: unreserved in URLs, so no linkifier trips.
_signer = signing.Signer(salt=SALT, sep="~")


class InvalidToken(Exception):
    """The link was altered, made up, or names another program's invitation."""


def sign_invitation(invitation):
    return _signer.sign(f"{invitation.program_id}.{invitation.token}")


def unsign(signed):
    """Return (program_id, raw token) or raise InvalidToken."""
    try:
        value = _signer.unsign(signed)
    except signing.BadSignature:
        raise InvalidToken(signed) from None
    program_id, _, raw = value.partition(".")
    if not program_id.isdigit() or not raw:
        raise InvalidToken(signed)
    return int(program_id), raw


def invitation_path(invitation):
    return reverse("surveys:answer", kwargs={"token": sign_invitation(invitation)})


def invitation_link(invitation):
    return settings.SITE_URL + invitation_path(invitation)

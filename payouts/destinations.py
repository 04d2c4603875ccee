"""Where a payout goes, validated per method, and how it is stored.

`clean_destination(method, raw)` returns (masked, secret, fingerprint):
- masked: what the admin and API show (account numbers, IBANs and UPI handles masked);
- secret: the full values the provider needs, kept only until the order is placed;
- fingerprint: a keyed hash of the normalised destination, used by the velocity check to
  notice one destination shared by several customers without storing it in clear.
Raises DestinationError({field: message}) naming every bad field.
"""

import hashlib
import hmac
import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$")
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
ACCOUNT_RE = re.compile(r"^[0-9]{6,20}$")
# NPCI handle: a local part of letters, digits, dot, hyphen, underscore; "@" and a PSP handle.
VPA_RE = re.compile(r"^[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$")
PRODUCT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class DestinationError(ValidationError):
    pass


def iban_is_valid(iban):
    """ISO 13616 mod-97 check."""
    if not IBAN_RE.match(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def mask(value, keep=4):
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def mask_email(value):
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def _text(raw, name, limit=200):
    value = raw.get(name)
    if value is None:
        return ""
    return str(value).strip()[:limit]


def _email(raw, name, errors, required=True):
    value = _text(raw, name).lower()
    if not value:
        if required:
            errors[name] = "This field is required."
        return ""
    try:
        validate_email(value)
    except ValidationError:
        errors[name] = "Enter a valid email address."
    return value


def _gift_card(raw, errors):
    email = _email(raw, "email", errors)
    product = _text(raw, "product", 64)
    if product and not PRODUCT_RE.match(product):
        errors["product"] = "A product code is letters, digits, '-' or '_'."
    secret = {"email": email, "name": _text(raw, "name"), "product": product}
    return {**secret, "email": mask_email(email) if email else ""}, secret


def _bank_transfer(raw, errors):
    name = _text(raw, "account_name")
    if not name:
        errors["account_name"] = "This field is required."
    iban = re.sub(r"\s+", "", _text(raw, "iban")).upper()
    account = re.sub(r"[\s-]+", "", _text(raw, "account_number"))
    bank_code = _text(raw, "bank_code").upper()
    ifsc = _text(raw, "ifsc").upper()
    if iban:
        if not iban_is_valid(iban):
            errors["iban"] = "Enter a valid IBAN."
        secret = {"account_name": name, "iban": iban, "bank_code": bank_code}
        masked = {"account_name": name, "iban": iban[:4] + mask(iban[4:]), "bank_code": bank_code}
    elif ifsc:
        # An Indian account: IFSC identifies the branch (RazorpayX pays it by IMPS/NEFT).
        if not ACCOUNT_RE.match(account):
            errors["account_number"] = "Give an account number of 6 to 20 digits."
        if not IFSC_RE.match(ifsc):
            errors["ifsc"] = "Give the branch's IFSC (4 letters, 0, 6 letters or digits)."
        secret = {"account_name": name, "account_number": account, "ifsc": ifsc}
        masked = {"account_name": name, "account_number": mask(account), "ifsc": ifsc}
    else:
        if not ACCOUNT_RE.match(account):
            errors["account_number"] = "Give an IBAN, or an account number of 6 to 20 digits."
        if not BIC_RE.match(bank_code):
            errors["bank_code"] = "Give the bank's SWIFT/BIC code (8 or 11 characters)."
        secret = {"account_name": name, "account_number": account, "bank_code": bank_code}
        masked = {"account_name": name, "account_number": mask(account), "bank_code": bank_code}
    if bank_code and iban and not BIC_RE.match(bank_code):
        errors["bank_code"] = "Give the bank's SWIFT/BIC code (8 or 11 characters)."
    return masked, secret


def _upi(raw, errors):
    vpa = _text(raw, "vpa", 300)
    if not VPA_RE.match(vpa):
        errors["vpa"] = "Enter a UPI address such as name@bank."
    local, _, handle = vpa.partition("@")
    secret = {"vpa": vpa, "name": _text(raw, "name")}
    return {**secret, "vpa": f"{local[:2]}***@{handle}"}, secret


def _paypal(raw, errors):
    email = _email(raw, "email", errors)
    return {"email": mask_email(email) if email else ""}, {"email": email}


def _voucher(raw, errors):
    email = _email(raw, "email", errors, required=False)
    secret = {"email": email, "product": _text(raw, "product", 64)}
    return {**secret, "email": mask_email(email) if email else ""}, secret


CLEANERS = {
    "gift_card": _gift_card,
    "bank_transfer": _bank_transfer,
    "upi": _upi,
    "paypal": _paypal,
    "voucher": _voucher,
}


def fingerprint(method, secret):
    key = f"payout-destination:{settings.SECRET_KEY}".encode()
    body = json.dumps(
        {"method": method, **{k: str(v).lower() for k, v in secret.items() if k != "name"}}, sort_keys=True
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def clean_destination(method, raw):
    if method not in CLEANERS:
        raise DestinationError({"method": f"Unknown method {method!r}."})
    if not isinstance(raw, dict):
        raise DestinationError({"destination": "The destination must be an object."})
    errors = {}
    masked, secret = CLEANERS[method](raw, errors)
    if errors:
        raise DestinationError(errors)
    return masked, secret, fingerprint(method, secret)

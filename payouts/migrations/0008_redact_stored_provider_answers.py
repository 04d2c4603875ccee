"""Redact the provider answers stored before adapters redacted at storage.

The secret fields are frozen here (a copy of each adapter's `secret_fields` when this was
written) so that later changes to the adapters cannot change what this migration did. Rows
whose body is not JSON are kept as they are when the answer was an error, and replaced by a
note otherwise (as providers.http.stored_body does). Credentials were already sealed on the
redemption when it completed, so nothing the customer sees is lost; a payout still in flight
whose code was only in an attempt is not possible for the shipped adapters (Tango and a
Tremendous LINK reward carry the code only in an answer that also ends the payout).
"""

import json

from django.db import migrations

REDACTED = "[redacted]"
SECRET_FIELDS = {
    "tremendous": {"link", "recipient"},
    "tango": {"credentials", "credentialList", "recipient", "sender"},
    "paypal": {"receiver", "access_token"},
    "razorpayx": {"fund_account", "contact", "bank_account", "vpa", "account_number"},
}
REQUEST_FIELDS = {"razorpayx": {"account_number", "fund_account"}}


def _redact(data, fields):
    if isinstance(data, dict):
        return {
            key: REDACTED if key in fields and value not in (None, "", [], {}) else _redact(value, fields)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_redact(value, fields) for value in data]
    return data


def _body(text, code, fields):
    try:
        data = json.loads(text)
    except ValueError:
        if not text or (code or 0) >= 400:
            return text
        return f"[an answer of {len(text)}+ characters that is not JSON: not kept]"
    return json.dumps(_redact(data, fields))[:2000]


def redact_attempts(apps, schema_editor):
    PayoutAttempt = apps.get_model("payouts", "PayoutAttempt")
    Receipt = apps.get_model("payouts", "ProviderWebhookReceipt")
    for provider, fields in SECRET_FIELDS.items():
        rows = PayoutAttempt.objects.filter(payout__provider=provider)
        for attempt in rows.only("id", "request", "response_code", "response_body").iterator(chunk_size=500):
            body = _body(attempt.response_body, attempt.response_code, fields)
            request = attempt.request
            if isinstance(request, dict):
                masked = {key: "***" for key in REQUEST_FIELDS.get(provider, ()) if request.get(key)}
                request = {**request, **masked}
            if body != attempt.response_body or request != attempt.request:
                PayoutAttempt.objects.filter(pk=attempt.pk).update(response_body=body, request=request)
        for receipt in Receipt.objects.filter(provider=provider).only("id", "payload").iterator(chunk_size=500):
            payload = _redact(receipt.payload, fields)
            if payload != receipt.payload:
                Receipt.objects.filter(pk=receipt.pk).update(payload=payload)


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0007_approve_permission"),
    ]

    operations = [migrations.RunPython(redact_attempts, migrations.RunPython.noop)]

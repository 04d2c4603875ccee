import json
import time

from django.urls import reverse

from payouts import processing
from payouts.models import FundingAccount, ProviderWebhookReceipt, Status
from payouts.providers import get_provider
from payouts.providers.sandbox import sign, webhook_secret
from tests.payouts.factories import make_payout

URL = reverse("payout-provider-webhook", args=["sandbox", "acme"])


def pending_payout(program, customer, **kwargs):
    payout = make_payout(customer, **kwargs)
    assert processing.process_payout(payout.pk) == "pending"
    payout.refresh_from_db()
    return payout


def test_signed_failure_webhook_fails_the_payout(funded_acme, alice, final_calls, client):
    payout = pending_payout(funded_acme, alice)
    body = get_provider(funded_acme, "sandbox").webhook_body(payout.reference, "failed")

    response = client.post(URL, body, content_type="application/json", headers=sign(body, webhook_secret()))

    assert response.json() == {"results": ["failed"]}
    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (Status.FAILED, "Provider: failed")
    assert final_calls == [(payout.pk, "failed")]
    assert FundingAccount.objects.get(program=funded_acme).balance == 10000


def test_reversal_webhook_after_success(funded_acme, alice, final_calls, client):
    payout = pending_payout(funded_acme, alice)
    provider = get_provider(funded_acme, "sandbox")
    for status in ("complete", "reversed"):
        body = provider.webhook_body(payout.reference, status)
        client.post(URL, body, content_type="application/json", headers=sign(body, webhook_secret()))

    payout.refresh_from_db()
    assert payout.status == Status.REVERSED
    assert final_calls == [(payout.pk, "succeeded"), (payout.pk, "reversed")]


def test_bad_or_stale_signatures_are_400_and_change_nothing(funded_acme, alice, final_calls, client):
    payout = pending_payout(funded_acme, alice)
    body = get_provider(funded_acme, "sandbox").webhook_body(payout.reference, "complete")
    cases = [
        {},
        sign(body, "wrong-secret"),
        sign(body, webhook_secret(), timestamp=time.time() - 301),
        sign(body + b" ", webhook_secret()),
        {"Sandbox-Signature": "garbage"},
    ]
    for headers in cases:
        assert client.post(URL, body, content_type="application/json", headers=headers).status_code == 400

    payout.refresh_from_db()
    assert (payout.status, final_calls) == (Status.PROCESSING, [])
    assert ProviderWebhookReceipt.objects.count() == 0


def test_webhook_for_another_programs_reference_is_ignored(funded_acme, alice, globex, client):
    payout = pending_payout(funded_acme, alice)
    body = json.dumps(
        {"id": "evt-x", "type": "order.complete", "data": {"external_id": payout.reference, "status": "complete"}}
    ).encode()
    url = reverse("payout-provider-webhook", args=["sandbox", "globex"])

    response = client.post(url, body, content_type="application/json", headers=sign(body, webhook_secret()))

    assert response.json() == {"results": ["unknown reference"]}
    payout.refresh_from_db()
    assert payout.status == Status.PROCESSING


def test_unknown_provider_is_404(client, acme):
    assert client.post("/hooks/payouts/nope/acme/", b"{}", content_type="application/json").status_code == 404


def test_an_event_posted_first_to_another_programs_url_is_still_applied_to_its_own(
    funded_acme, alice, globex, final_calls, client
):
    # Given a succeeded payout of acme
    payout = pending_payout(funded_acme, alice)
    provider = get_provider(funded_acme, "sandbox")
    complete = provider.webhook_body(payout.reference, "complete")
    client.post(URL, complete, content_type="application/json", headers=sign(complete, webhook_secret()))
    # When the provider posts the reversal to globex's URL first (misconfigured), then to acme's
    reversal = provider.webhook_body(payout.reference, "reversed")
    headers = sign(reversal, webhook_secret())
    globex_url = reverse("payout-provider-webhook", args=["sandbox", "globex"])
    at_globex = client.post(globex_url, reversal, content_type="application/json", headers=headers)
    at_acme = client.post(URL, reversal, content_type="application/json", headers=headers)
    again = client.post(URL, reversal, content_type="application/json", headers=headers)

    # Then acme applies it once; globex only recorded an unknown reference
    assert (at_globex.json(), at_acme.json(), again.json()) == (
        {"results": ["unknown reference"]},
        {"results": ["reversed"]},
        {"results": ["duplicate"]},
    )
    payout.refresh_from_db()
    assert payout.status == Status.REVERSED
    assert final_calls == [(payout.pk, "succeeded"), (payout.pk, "reversed")]
    assert sorted(ProviderWebhookReceipt.objects.values_list("program__slug", "result")) == [
        ("acme", "reversed"),
        ("acme", "succeeded"),
        ("globex", "unknown reference"),
    ]

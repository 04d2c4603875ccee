"""The channels demo step (idempotent) and the admin pages."""

import tqdm

from engagement.channels.demo import load_demo
from engagement.channels.models import ContactPolicy, Message, MessageTemplate, PushSubscription
from tests.factories import CustomerFactory


def _progress(total, desc):
    return tqdm.tqdm(total=total, desc=desc, disable=True)


def test_demo_step_is_idempotent(acme):
    for index in range(15):
        CustomerFactory(program=acme, external_id=f"cust-{index:04d}", consent_email=index % 3 != 0, consent_push=True)

    load_demo(acme, _progress)
    counts = (
        ContactPolicy.objects.count(),
        MessageTemplate.objects.count(),
        PushSubscription.objects.count(),
        Message.objects.count(),
    )
    load_demo(acme, _progress)

    assert counts == (1, 1, 15, 12)
    assert (
        ContactPolicy.objects.count(),
        MessageTemplate.objects.count(),
        PushSubscription.objects.count(),
        Message.objects.count(),
    ) == counts
    assert set(Message.objects.values_list("status", "reason")) == {("queued", ""), ("skipped", "no_consent")}


def test_admin_pages(admin_client, acme, alice):
    from engagement.channels.sending import send_message

    message = send_message(customer=alice, channel="email", template_key="win_back", source="admin-test")
    ContactPolicy.objects.create(program=acme)
    MessageTemplate.objects.create(program=acme, key="win_back", channel="sms", locale="ms", body="Hai")
    PushSubscription.objects.create(
        program=acme, customer=alice, endpoint="https://push.example/x", p256dh="k", auth="a"
    )
    pages = [
        "/admin/channels/message/?status__exact=queued&channel__exact=email&reason__exact=",
        "/admin/channels/message/?q=alice",
        f"/admin/channels/message/{message.pk}/change/",
        "/admin/channels/messagetemplate/",
        "/admin/channels/messagetemplate/add/",
        "/admin/channels/contactpolicy/",
        "/admin/channels/pushsubscription/",
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page
    listing = admin_client.get("/admin/channels/message/?q=alice").content.decode()
    assert "win_back" in listing


def test_admin_release_now_requeues_held_messages(admin_client, acme, alice, django_capture_on_commit_callbacks):
    from engagement.channels.sending import send_message

    held = send_message(
        customer=alice, channel="email", template_key="win_back", not_before=alice.created_at.replace(year=2100)
    )
    assert held.status == "held"
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            "/admin/channels/message/", {"action": "release_now", "_selected_action": [held.pk]}, follow=True
        )
    assert response.status_code == 200
    assert Message.objects.get(pk=held.pk).status == "queued"
    assert len(callbacks) == 1

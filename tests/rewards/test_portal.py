"""Customer portal: sign-in by emailed link, dashboard, history, redeem, languages, CSRF."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from rewards import activity, ledger
from rewards.models import LedgerEntry, PointsAccount, Redemption, VoucherCode
from rewards.redemptions import redeem_reward
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory, make_tiers

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https?://\S+/portal/login/\S+/")


def emailed_link():
    return LINK.search(mail.outbox[-1].body).group(0)


def signed_in_client(customer, **kwargs):
    client = Client(**kwargs)
    client.post("/portal/login/", {"email": customer.email})
    client.post(emailed_link())
    return client


def test_sign_in_by_one_time_link_then_logout(alice):
    client = Client()
    response = client.post("/portal/login/", {"email": "ALICE@example.com"})
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    link = emailed_link()

    # Opening the link (as a mail scanner would) shows a button and consumes nothing.
    assert 'data-testid="sign-in"' in client.get(link).content.decode()
    assert client.get(link).status_code == 200
    assert client.get("/portal/")["Location"] == "/portal/login/"

    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200

    client.post("/portal/logout/")
    assert client.get("/portal/")["Location"] == "/portal/login/"
    # Single use: the same link does not sign in again.
    assert client.get(link).status_code == 400
    assert client.post(link).status_code == 400
    assert client.get("/portal/")["Location"] == "/portal/login/"


def test_login_links_per_address_are_limited(alice):
    client = Client()
    for _ in range(7):
        client.post("/portal/login/", {"email": alice.email})
    assert len(mail.outbox) == 5


def test_unknown_email_gets_same_page_and_no_mail(acme):
    response = Client().post("/portal/login/", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert b"Check your email" in response.content
    assert mail.outbox == []


def test_forged_or_expired_link_is_refused(alice):
    import time_machine
    from django.utils import timezone

    client = Client()
    client.post("/portal/login/", {"email": alice.email})
    link = emailed_link()
    assert client.post(link[:-5] + "xxxx/").status_code == 400
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=16)):
        assert client.post(link).status_code == 400
    assert client.get("/portal/")["Location"] == "/portal/login/"


def test_dashboard_shows_balance_tier_and_progress(acme, alice):
    make_tiers(acme)
    ledger.grant_points(customer=alice, points=1234, reason="Welcome", idempotency_key="w")
    from rewards.tiers import recompute_tiers

    recompute_tiers(acme)
    html = signed_in_client(alice).get("/portal/").content.decode()
    assert 'data-testid="balance">1,234<' in html
    assert 'data-testid="tier">Silver<' in html
    assert "Earn 766 more points to reach Gold." in html


def test_history_lists_entries_newest_first_by_date_in_the_readers_language(acme, alice):
    # Given a purchase earned ten days ago but recorded last, a birthday bonus, a redemption
    # and a staff adjustment with an internal note
    item = RewardItemFactory(program=acme, points_cost=50, title_en="Free kopi", title_ar="قهوة مجانية")
    ledger.grant_points(
        customer=alice, points=120, reason=activity.Reason(activity.BIRTHDAY, "Birthday bonus"), idempotency_key="b"
    )
    redeem_reward(customer=alice, item=item, idempotency_key="r", channel="portal")
    ledger.adjust_points(customer=alice, points=-5, reason="Staff: goodwill fix", actor="t", idempotency_key="adj")
    earned_at = timezone.now() - timezone.timedelta(days=10)
    purchase = activity.purchase("ord-991", Decimal("80.00"), "MYR")
    ledger.bulk_grant(acme, [ledger.Grant(alice, 80, purchase, "p", earned_at=earned_at)])
    client = signed_in_client(alice)

    html = client.get("/portal/history/").content.decode()

    order = ["Points adjusted", "Redeemed: <bdi>Free kopi</bdi>", "Birthday bonus", "Purchase of RM80.00"]
    assert sorted(order, key=html.index) == order
    assert "ord-991" not in html and "goodwill" not in html
    assert "+80" in html and "-5" in html and "-50" in html
    assert timezone.localtime(earned_at, alice.get_timezone()).strftime("%-d %b %Y") in html

    client.cookies["django_language"] = "ar"
    html = client.get("/portal/history/").content.decode()
    purchase_ar = "مشتريات بقيمة \u200f80.00\xa0MYR"  # CLDR Arabic money: RLM, amount, no-break space, code
    order = ["تعديل النقاط", "تم الاستبدال: <bdi>قهوة مجانية</bdi>", "مكافأة عيد الميلاد", purchase_ar]
    assert sorted(order, key=html.index) == order


def test_redeem_voucher_with_confirm_step(acme, alice):
    item = VoucherItemFactory(program=acme, points_cost=100, title_en="Free kopi")
    VoucherCodeFactory(item=item, code="KOPI-42")
    ledger.grant_points(customer=alice, points=150, reason="seed", idempotency_key="seed")
    client = signed_in_client(alice)

    confirm = client.get(f"/portal/rewards/{item.pk}/").content.decode()
    key = re.search(r'name="key" value="([^"]+)"', confirm).group(1)
    assert "Redeem <bdi>Free kopi</bdi>?" in confirm

    response = client.post(f"/portal/rewards/{item.pk}/", {"key": key})
    redemption = Redemption.objects.get()
    assert response["Location"] == f"/portal/my-rewards/{redemption.pk}/?done=1"
    success = client.get(response["Location"]).content.decode()
    assert 'data-testid="code" id="reward-code" aria-labelledby="code-label">KOPI-42<' in success
    assert "Done! Your reward is ready." in success
    assert PointsAccount.objects.get(customer=alice).balance == 50

    # A double submit of the same confirm form does not redeem twice.
    client.post(f"/portal/rewards/{item.pk}/", {"key": key})
    assert Redemption.objects.count() == 1
    assert "KOPI-42" in client.get("/portal/my-rewards/").content.decode()


def test_redeem_refused_shows_error_and_changes_nothing(acme, alice):
    item = RewardItemFactory(program=acme, points_cost=500)
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    client = signed_in_client(alice)
    response = client.post(f"/portal/rewards/{item.pk}/", {"key": "k1"}, follow=True)
    assert "Not enough points." in response.content.decode()
    assert (Redemption.objects.count(), LedgerEntry.objects.count()) == (0, 1)
    assert PointsAccount.objects.get(customer=alice).balance == 100


def test_post_without_csrf_token_is_refused(acme, alice):
    item = RewardItemFactory(program=acme, points_cost=10)
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    client = signed_in_client(alice)
    client.handler.enforce_csrf_checks = True  # signed in; now a forged cross-site post
    response = client.post(f"/portal/rewards/{item.pk}/", {"key": "k1"})
    assert response.status_code == 403
    assert Redemption.objects.count() == 0
    assert PointsAccount.objects.get(customer=alice).balance == 100


def test_another_customers_redemption_is_404(acme, alice, bob):
    item = VoucherItemFactory(program=acme, points_cost=10)
    VoucherCodeFactory(item=item, code="BOB-ONLY")
    ledger.grant_points(customer=bob, points=100, reason="seed", idempotency_key="seed")
    theirs = redeem_reward(customer=bob, item=item, idempotency_key="b1")
    client = signed_in_client(alice)
    response = client.get(f"/portal/my-rewards/{theirs.pk}/")
    assert response.status_code == 404
    assert b"BOB-ONLY" not in client.get("/portal/my-rewards/").content
    assert VoucherCode.objects.get().redemption_id == theirs.pk


@pytest.mark.parametrize(
    "language, direction, marker",
    [("en", "ltr", "Your points"), ("ar", "rtl", "نقاطك"), ("ms", "ltr", "Mata ganjaran anda")],
)
@pytest.mark.parametrize(
    "path", ["/portal/", "/portal/history/", "/portal/rewards/", "/portal/my-rewards/", "/portal/referrals/",
             "/portal/profile/"],
)  # fmt: skip
def test_every_page_in_each_language(alice, language, direction, marker, path):
    client = signed_in_client(alice)
    client.post("/i18n/setlang/", {"language": language, "next": "/portal/"})
    html = client.get(path).content.decode()
    assert f'<html lang="{language}" dir="{direction}">' in html
    if path == "/portal/":
        assert marker in html


def test_login_page_in_arabic_is_rtl(acme):
    client = Client()
    client.post("/i18n/setlang/", {"language": "ar", "next": "/portal/login/"})
    html = client.get("/portal/login/").content.decode()
    assert '<html lang="ar" dir="rtl">' in html


def test_profile_saves_language_and_consents(alice):
    client = signed_in_client(alice)
    response = client.post("/portal/profile/", {"locale": "ms", "consent_sms": "on"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.locale, alice.consent_email, alice.consent_sms) == ("ms", False, True)
    assert '<html lang="ms"' in client.get("/portal/profile/").content.decode()


def test_referrals_page_shows_code_and_link(alice):
    html = signed_in_client(alice).get("/portal/referrals/").content.decode()
    code = re.search(r'data-testid="referral-code">([A-Z0-9]{8})<', html).group(1)
    assert f"/portal/r/{code}/" in html


def test_expired_tokens_are_purged(alice):
    import time_machine
    from django.utils import timezone

    from rewards.models import PortalLoginToken
    from rewards.portal_auth import purge_login_tokens

    Client().post("/portal/login/", {"email": alice.email})
    assert purge_login_tokens() == 0
    with time_machine.travel(timezone.now() + timezone.timedelta(days=2)):
        assert purge_login_tokens() == 1
    assert PortalLoginToken.objects.count() == 0


def test_the_sign_in_email_is_plain_text_with_the_name_as_typed(acme):
    from tests.factories import CustomerFactory

    CustomerFactory(program=acme, external_id="siti", name="Siti O'Brien & <Co>", email="siti@example.com")

    Client().post("/portal/login/", {"email": "siti@example.com"})

    message = mail.outbox[0]
    assert message.body.startswith("Hello Siti O'Brien & <Co>,\n")
    assert "&#x27;" not in message.body and "&amp;" not in message.body


@pytest.mark.parametrize(
    "path",
    [
        "/portal/",
        "/portal/history/",
        "/portal/rewards/",
        "/portal/my-rewards/",
        "/portal/referrals/",
        "/portal/profile/",
    ],
)
def test_signed_in_pages_are_never_stored_by_a_cache(alice, path):
    client = signed_in_client(alice)

    response = client.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_the_sign_in_link_page_is_never_stored_by_a_cache(alice):
    client = Client()
    client.post("/portal/login/", {"email": alice.email})

    assert "no-store" in client.get(emailed_link())["Cache-Control"]


def test_sign_in_requests_are_limited_per_client_ip(acme, settings):
    settings.REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP = 3
    client = Client(REMOTE_ADDR="203.0.113.7")

    answers = [client.post("/portal/login/", {"email": f"probe{n}@example.com"}) for n in range(4)]
    other_client = Client(REMOTE_ADDR="203.0.113.8").post("/portal/login/", {"email": "probe9@example.com"})

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3]["Retry-After"] == "900"
    assert "Too many sign-in requests. Please try again in 15 min." in answers[3].content.decode()
    assert other_client.status_code == 200


def test_sign_in_requests_are_limited_per_address_with_a_clear_message(alice):
    answers = [Client(REMOTE_ADDR=f"198.51.100.{n}").post("/portal/login/", {"email": alice.email}) for n in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "Too many sign-in requests" in answers[5].content.decode()
    assert len(mail.outbox) == 5


def test_behind_a_proxy_the_forwarded_client_is_counted(acme, settings):
    settings.REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP = 1
    settings.TRUSTED_PROXY_HOPS = 1
    proxy = Client(REMOTE_ADDR="10.0.0.2")

    first = proxy.post("/portal/login/", {"email": "a@example.com"}, HTTP_X_FORWARDED_FOR="203.0.113.1")
    second = proxy.post("/portal/login/", {"email": "b@example.com"}, HTTP_X_FORWARDED_FOR="203.0.113.2")
    again = proxy.post("/portal/login/", {"email": "c@example.com"}, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.1")

    assert [first.status_code, second.status_code, again.status_code] == [200, 200, 429]


def test_reward_images_are_served_to_the_programs_customers_only(acme, globex, alice, settings, tmp_path):
    from django.core.files.base import ContentFile

    from tests.factories import CustomerFactory

    settings.MEDIA_ROOT = tmp_path
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="2" height="1"/>'
    item = RewardItemFactory(program=acme, points_cost=900, title_en="Tumbler")
    item.image.save("tumbler.svg", ContentFile(svg))
    bare = RewardItemFactory(program=acme, points_cost=10, title_en="Kopi")
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    client = signed_in_client(alice)

    page = client.get("/portal/rewards/").content.decode()
    assert f'src="/portal/rewards/{item.pk}/image/"' in page
    assert page.count("reward-placeholder.svg") == 1  # the item without an image
    assert 'data-testid="to-go">800 points to go<' in page
    image = client.get(f"/portal/rewards/{item.pk}/image/")
    assert (image.status_code, b"".join(image.streaming_content)) == (200, svg)
    assert client.get(f"/portal/rewards/{bare.pk}/image/").status_code == 404
    # Another program's customer cannot read it, and nobody signed out can.
    stranger = CustomerFactory(program=globex, external_id="eve", email="eve@example.com")
    assert signed_in_client(stranger).get(f"/portal/rewards/{item.pk}/image/").status_code == 404
    assert Client().get(f"/portal/rewards/{item.pk}/image/").status_code == 302

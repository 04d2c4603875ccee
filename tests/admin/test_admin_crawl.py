"""A crawl of the whole admin, as a superuser and as staff limited to program A.

Every registered ModelAdmin: changelist, each list filter choice, a search, add page,
change/delete/history of a real row, every custom view (`get_urls`), every action; plus
the admin index and the dashboard. No page may answer 5xx, and the limited staff member
must never see a name, row, filter choice or link of program B.
"""

import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import URLPattern, reverse

from engagement.models import Customer, Program
from engagement.tenancy import program_of, program_path
from rewards import fulfilment
from rewards.models import Fulfilment

DEFAULT_VIEWS = ("_changelist", "_add", "_history", "_delete", "_change")
CHANGE_URL = re.compile(r"^/admin/(\w+)/(\w+)/(\d+)/")


def move_target(obj):
    """The status a "move to" view of `obj` is opened with: a next step the object's page offers
    (fulfilments), else "active" (campaigns)."""
    if isinstance(obj, Fulfilment):
        return (fulfilment.next_statuses(obj) or ["shipped"])[0]
    return "active"


class Page(HTMLParser):
    """Text nodes, links and option values of an HTML page."""

    def __init__(self, html):
        super().__init__()
        self.texts, self.links, self.options = set(), [], set()
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "option" and attrs.get("value"):
            self.options.add(attrs["value"])

    def handle_data(self, data):
        if data.strip():
            self.texts.add(data.strip())


class Crawler:
    def __init__(self, client, user, forbidden=None):
        self.client, self.user = client, user
        self.forbidden = forbidden  # (texts, {(app, model): pks}) that must never appear
        self.visited = []
        self.request = RequestFactory().get("/admin/")
        self.request.user = user

    def get(self, url, expect=(200,)):
        response = self.client.get(url)
        self.visited.append(url)
        assert response.status_code < 500, f"{url} -> {response.status_code}"
        assert response.status_code in expect, f"{url} -> {response.status_code}"
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            self.check(url, response.content.decode())
        return response

    def post(self, url, data):
        response = self.client.post(url, data)
        self.visited.append(f"POST {url} {data.get('action', '')}")
        assert response.status_code < 500, f"POST {url} {data} -> {response.status_code}"
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            self.check(url, response.content.decode())
        return response

    def check(self, url, html):
        if self.forbidden is None:
            return
        texts, pks = self.forbidden
        page = Page(html)
        leaked = page.texts & texts
        assert not leaked, f"{url} shows program B's {sorted(leaked)[:5]}"
        for link in page.links:
            match = CHANGE_URL.match(urlsplit(urljoin(url, link)).path)
            if match:
                app, model, pk = match.groups()
                assert int(pk) not in pks.get((app, model), ()), f"{url} links to program B's {link}"

    def crawl_model_admin(self, model, model_admin):
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        if not model_admin.has_view_or_change_permission(self.request):
            return
        changelist = reverse(f"{name}_changelist")
        page = Page(self.get(changelist).content.decode())
        # Every list-filter choice (links that only change the query string), then a search.
        for link in sorted({link for link in page.links if link.startswith("?")}):
            if any(key in ("o", "p", "_popup") for key, _ in parse_qsl(link[1:])):
                continue
            self.get(changelist + link)
        if model_admin.get_search_fields(self.request):
            self.get(changelist + "?q=a")
        if model_admin.has_add_permission(self.request):
            self.get(reverse(f"{name}_add"))
        obj = model_admin.get_queryset(self.request).order_by("pk").first()
        if obj is None:
            return
        self.get(reverse(f"{name}_change", args=[obj.pk]))
        self.get(reverse(f"{name}_history", args=[obj.pk]))
        if model_admin.has_delete_permission(self.request, obj):
            self.get(reverse(f"{name}_delete", args=[obj.pk]))
        self.crawl_custom_views(model_admin, obj)
        self.run_actions(model_admin, changelist, obj)

    def crawl_custom_views(self, model_admin, obj):
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or not pattern.name:
                continue
            if pattern.name.endswith(DEFAULT_VIEWS) or pattern.name.endswith("_autocomplete"):
                continue
            route = str(pattern.pattern)
            if route.endswith(".csv"):
                kwargs = {key: obj.pk for key in pattern.pattern.regex.groupindex}
                self.get(reverse(f"admin:{pattern.name}", kwargs=kwargs), expect=(200,))
                continue
            kwargs = {key: (move_target(obj) if key == "to" else obj.pk) for key in pattern.pattern.regex.groupindex}
            self.get(reverse(f"admin:{pattern.name}", kwargs=kwargs), expect=(200, 302))

    def run_actions(self, model_admin, changelist, obj):
        for action_name in model_admin.get_actions(self.request):
            response = self.post(changelist, {"action": action_name, "_selected_action": [obj.pk]})
            if action_name == "delete_selected":
                assert response.status_code == 200, "delete_selected shows a confirmation page"

    def crawl(self):
        self.get("/admin/")
        self.get("/admin/dashboard/")
        for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
            self.crawl_model_admin(model, model_admin)


def program_b_footprint(beta):
    """What staff of program A must never see: the text of B's rows and their ids."""
    texts, pks, alpha_texts = {beta.name, beta.slug}, {}, set()
    for model in apps.get_models():
        path = program_path(model)
        if path is None or model._meta.proxy:
            continue
        rows = model._default_manager.all()
        for obj in rows.iterator():
            text = str(obj).strip()
            if program_of(obj) == beta:
                texts.add(text)
                pks.setdefault((model._meta.app_label, model._meta.model_name), set()).add(obj.pk)
            else:
                alpha_texts.add(text)
    # Only what is B's alone counts (two programs may both have a tier called "Gold").
    texts = {text for text in texts - alpha_texts if len(text) >= 4}
    return texts, pks


def test_superuser_crawls_every_admin_page_without_error(two_programs, superuser, client):
    client.force_login(superuser)
    crawler = Crawler(client, superuser)

    crawler.crawl()

    assert len(crawler.visited) > 300


def test_staff_limited_to_one_program_never_sees_another(two_programs, alpha_staff, client):
    alpha, beta = two_programs
    client.force_login(alpha_staff)
    crawler = Crawler(client, alpha_staff, forbidden=program_b_footprint(beta))

    crawler.crawl()
    crawler.get(f"/admin/dashboard/?program={beta.pk}", expect=(200, 403, 404))

    assert len(crawler.visited) > 300


def test_autocomplete_offers_only_own_programs_people(two_programs, alpha_staff, client):
    client.force_login(alpha_staff)

    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "engagement", "model_name": "programstaff", "field_name": "user", "term": ""},
    )

    assert response.status_code == 200
    # The demo's two payout approvers are staff of every program it loads (A's too); B's
    # manager must not be offered.
    assert [row["text"] for row in response.json()["results"]] == ["approver1", "approver2", "siti"]


def test_forms_refuse_a_reference_to_another_programs_object(two_programs, alpha_staff):
    """Every admin form of program A: pointing a foreign key at program B's object is an error."""
    alpha, beta = two_programs
    request = RequestFactory().get("/admin/")
    request.user = alpha_staff
    checked = []
    for model, model_admin in admin.site._registry.items():
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is None or not model_admin.has_change_permission(request, obj):
            continue
        form_class = model_admin.get_form(request, obj, change=True)
        for name, field in form_class.base_fields.items():
            related = getattr(getattr(field, "queryset", None), "model", None)
            if related is None or related is Program or program_path(related) is None:
                continue
            foreign = related._default_manager.filter(**{program_path(related): beta}).first()
            if foreign is None:
                continue
            form = form_class(instance=obj, data={name: foreign.pk})

            assert not form.is_valid()
            assert name in form.errors, f"{model.__name__}.{name} accepts program B's {foreign!r}"
            checked.append(f"{model.__name__}.{name}")
    assert "PushSubscription.customer" in checked


def test_raw_id_field_pointing_at_another_program_is_refused_and_not_named(two_programs, alpha_staff, client):
    from engagement.channels.models import PushSubscription

    alpha, beta = two_programs
    subscription = PushSubscription.objects.filter(program=alpha).first() or PushSubscription.objects.create(
        program=alpha,
        customer=Customer.objects.filter(program=alpha).first(),
        endpoint="https://push.example/alpha",
        p256dh="key",
        auth="auth",
    )
    before = subscription.customer_id
    foreign = Customer.objects.filter(program=beta).order_by("pk").first()
    client.force_login(alpha_staff)

    response = client.post(
        f"/admin/channels/pushsubscription/{subscription.pk}/change/",
        {"program": alpha.pk, "customer": foreign.pk, "endpoint": subscription.endpoint,
         "p256dh": subscription.p256dh, "auth": subscription.auth},
    )  # fmt: skip

    assert response.status_code == 200
    html = response.content.decode()
    assert foreign.name not in html and foreign.external_id not in html
    assert "errornote" in html
    subscription.refresh_from_db()
    assert subscription.customer_id == before

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from engagement import customer_page, hooks, purchase_models
from engagement.dashboard.cards import Formatter, metric_label, unit_words
from engagement.models import (
    Customer,
    CustomerScore,
    Event,
    Goal,
    MetricSnapshot,
    PartnerKey,
    Program,
    ProgramStaff,
    ScoreTransition,
)
from engagement.partner_api import keycache
from engagement.tenancy import ProgramScopedAdmin, ReadOnlyScopedAdmin, allowed_programs, scope_queryset

User = get_user_model()


# Staff accounts are people of programs too: staff limited to programs see (and can pick,
# e.g. in the program's staff list) only the staff of their programs.
admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def get_readonly_fields(self, request, obj=None):
        # Only a superuser hands out superuser status or permissions.
        fixed = [] if request.user.is_superuser else ["is_superuser", "groups", "user_permissions"]
        return [*super().get_readonly_fields(request, obj), *fixed]


class ProgramStaffInline(admin.TabularInline):
    model = ProgramStaff
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "default_locale", "timezone", "points_name"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ProgramStaffInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "currency", "default_locale", "timezone", "points_name"]}),
        (_("Quiet hours (customer's time zone)"), {"fields": ["quiet_hours_start", "quiet_hours_end"]}),
        (
            _("Metrics and scores"),
            {
                "fields": [
                    "churn_lookback_days",
                    "churn_horizon_days",
                    "rfm_lookback_days",
                    "score_half_life_days",
                    "lifespan_cap_years",
                    "score_weights",
                    "cai_weights",
                ]
            },
        ),
        ("Privacy", {"fields": ["personal_event_properties"]}),
    ]

    def get_queryset(self, request):
        return allowed_programs(request.user)


@admin.register(Customer)
class CustomerAdmin(ProgramScopedAdmin):
    list_display = ["external_id", "name", "email", "program", "tier", "event_count", "revenue", "last_seen_at"]
    list_filter = ["program", "tier", "locale", "consent_email", "consent_sms", "consent_whatsapp", "erased_at"]
    search_fields = ["external_id", "name", "email", "phone"]
    readonly_fields = [
        "first_seen_at",
        "last_seen_at",
        "event_count",
        "purchase_count",
        "revenue",
        "created_at",
        "updated_at",
        "erased_at",
        "tier",
        "purchase_model",
        # Kept by engagement.channels.inbound (and its split date/time inputs had no labels).
        "last_inbound_message_at",
    ]
    list_select_related = ["program"]
    date_hierarchy = "created_at"
    actions = ["erase_selected"]
    # The change page opens with the customer's overview (engagement.customer_page).
    change_form_template = "admin/engagement/customer/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self.get_object(request, unquote(object_id)) if request.method == "GET" else None
        if customer is not None:
            extra_context = {**(extra_context or {}), **customer_page.build_overview(request, customer)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        actions = [
            path(
                f"<path:object_id>/{action.name}/",
                self.admin_site.admin_view(self.customer_action_view),
                {"action_name": action.name},
                name=f"engagement_customer_{action.name.replace('-', '_')}",
            )
            for action in hooks.customer_actions()
        ]
        return actions + super().get_urls()

    def customer_action_view(self, request, object_id, action_name):
        """An action of the customer page. Only customers the user may see (else 404), only
        with the action's permission (else 403), only by POST (a GET shows the action's
        confirmation page, if it has one, or goes back to the customer)."""
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404
        action = {a.name: a for a in hooks.customer_actions()}[action_name]
        if not self.has_view_permission(request, customer) or not request.user.has_perm(action.permission):
            raise PermissionDenied
        change_url = reverse("admin:engagement_customer_change", args=[customer.pk])
        if request.method != "POST":
            if not action.confirm_template:
                return redirect(change_url)
            context = {
                **self.admin_site.each_context(request),
                "title": action.label,
                "opts": self.model._meta,
                "customer": customer,
                "action_url": customer_page.action_url(action, customer),
                "change_url": change_url,
            }
            return TemplateResponse(request, action.confirm_template, context)
        try:
            done = action.perform(request, customer)
        except customer_page.ActionRefused as refused:
            self.message_user(request, refused.message, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(change_url)

    @admin.display(description=_("Churn risk and predicted CLV"))
    def purchase_model(self, obj):
        """The customer's values under the program's latest usable purchase-model fit, else
        the churn-risk rule's value (engagement.purchase_models)."""
        if obj.pk is None:
            return "—"
        fit, value = purchase_models.get_customer_value(obj)
        if value is None:
            score = CustomerScore.objects.filter(customer=obj).first()
            risk = score.churn_risk if score else "—"
            return format_html("{} {} ({})", _("churn risk"), risk, _("rule"))
        clv = "—" if value.predicted_clv is None else f"{value.predicted_clv} {obj.program.currency}"
        return format_html(
            "{} {} · P(alive) {} · {} {} / {} · {} {} ({} {})",
            _("churn risk"),
            value.churn_risk,
            f"{value.p_alive:.3f}",
            _("expected purchases 90/365 days"),
            f"{value.expected_purchases_90d:.2f}",
            f"{value.expected_purchases_365d:.2f}",
            _("predicted 12-month CLV"),
            clv,
            _("model as of"),
            fit.as_of,
        )

    @admin.action(description=_("Erase personal data of selected customers"))
    def erase_selected(self, request, queryset):
        from engagement.customers import erase_customer

        count = 0
        for customer in queryset:
            erase_customer(customer)
            count += 1
        self.message_user(
            request,
            ngettext("Erased %(n)d customer.", "Erased %(n)d customers.", count) % {"n": count},
            messages.SUCCESS,
        )


@admin.register(PartnerKey)
class PartnerKeyAdmin(ProgramScopedAdmin):
    list_display = ["name", "prefix", "program", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["program", "revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["program", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, raw_key = PartnerKey.issue(obj.program, obj.name, created_by=request.user)
        obj.pk, obj.prefix = key.pk, key.prefix
        # The only time the full key is ever shown.
        self.message_user(
            request,
            _("New partner key (copy it now, it is not shown again): %(key)s") % {"key": raw_key},
            messages.WARNING,
        )

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(description=_("Revoke selected keys"))
    def revoke_selected(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        keycache.changed()  # refused by every web process from the commit on
        self.message_user(
            request, ngettext("Revoked %(n)d key.", "Revoked %(n)d keys.", count) % {"n": count}, messages.SUCCESS
        )


@admin.register(Event)
class EventAdmin(ReadOnlyScopedAdmin):
    list_display = ["event_id", "type", "customer", "occurred_at", "value", "processed_at"]
    list_filter = ["program", "type", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "customer__external_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["customer"]
    show_full_result_count = False


# --- Scores, transitions and goals ---


class GoalForm(forms.ModelForm):
    metric = forms.ChoiceField(choices=())

    class Meta:
        model = Goal
        fields = ["program", "name", "metric", "direction", "target", "deadline"]

    def __init__(self, *args, **kwargs):
        from engagement.metrics import metric_names

        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [(name, name) for name in metric_names()]


@admin.register(Goal)
class GoalAdmin(ProgramScopedAdmin):
    form = GoalForm
    list_display = ["__str__", "program", "metric", "direction", "target", "deadline", "created", "dashboard_link"]
    list_filter = ["program", "metric"]

    @admin.display(description=_("Dashboard"))
    def dashboard_link(self, obj):
        url = reverse("engagement-dashboard")
        return format_html('<a href="{}?program={}">{}</a>', url, obj.program_id, _("dashboard"))


@admin.register(CustomerScore)
class CustomerScoreAdmin(ProgramScopedAdmin):
    list_display = [
        "customer",
        "engagement_score",
        "r_score",
        "f_score",
        "m_score",
        "segment",
        "churn_risk",
        "scored_at",
    ]
    list_filter = ["program", "segment"]
    search_fields = ["customer__external_id", "customer__name"]
    list_select_related = ["customer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MetricNameFilter(admin.SimpleListFilter):
    """The metrics stored by the nightly snapshot, by their dashboard names."""

    title = _("metric")
    parameter_name = "name"

    def lookups(self, request, model_admin):
        names = model_admin.get_queryset(request).order_by().values_list("name", flat=True).distinct()
        return sorted(((name, metric_label(name)) for name in names), key=lambda pair: str(pair[1]))

    def queryset(self, request, queryset):
        return queryset.filter(name=self.value()) if self.value() else queryset


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyScopedAdmin):
    """The nightly snapshots (engagement-snapshot-metrics): each metric over the trailing
    window ending that day, kept as history; read-only."""

    list_display = ["date", "metric", "shown_value", "shown_numerator", "shown_denominator", "program"]
    list_filter = ["program", MetricNameFilter]
    date_hierarchy = "date"
    ordering = ["-date", "name"]
    list_select_related = ["program"]
    show_full_result_count = False

    @admin.display(description=_("metric"), ordering="name")
    def metric(self, obj):
        return metric_label(obj.name)

    @admin.display(description=_("value"))
    def shown_value(self, obj):
        unit = unit_words(obj.name, obj.unit, obj.program)
        return format_html("{} <small>({})</small>", Formatter(obj.program).value(obj.unit, obj.value), unit)

    @admin.display(description=_("numerator"))
    def shown_numerator(self, obj):
        return self._plain(obj, obj.numerator)

    @admin.display(description=_("denominator"))
    def shown_denominator(self, obj):
        return self._plain(obj, obj.denominator)

    @staticmethod
    def _plain(obj, number):
        """A count without decimals (997, not 997.0000), anything else with two, grouped."""
        if number is None:
            return "-"
        fmt = Formatter(obj.program)
        return fmt.count(number) if number == number.to_integral_value() else fmt.number(number)


@admin.register(ScoreTransition)
class ScoreTransitionAdmin(ProgramScopedAdmin):
    list_display = ["customer", "kind", "from_value", "to_value", "occurred_at"]
    list_filter = ["program", "kind", "to_value"]
    search_fields = ["customer__external_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["customer"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

"""Admin: subscriptions (secret shown once, rotate, pause/resume, success rate) and the
delivery log (events, deliveries with their attempts, re-send). Everything is program-scoped."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from engagement.admin_links import admin_link
from engagement.tenancy import ProgramScopedAdmin
from engagement.webhooks import delivery, subscriptions
from engagement.webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

Delivered, Failed = WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label=_("target URL"))
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to receive every event type."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["program", "url", "description", "event_types", "status", "paused_reason"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        subscriptions.validate_target_url(url)
        return url

    def clean_event_types(self):
        return sorted(self.cleaned_data["event_types"])


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ProgramScopedAdmin):
    form = SubscriptionForm
    list_display = ["url", "program", "status", "types", "success_rate", "delivered", "failed", "pending"]
    list_filter = ["status", "program"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "secret_hint",
        "previous_secret_expires_at",
        "consecutive_failures",
        "failing_since",
        "paused_at",
        "created_at",
    ]
    actions = ["pause", "resume", "rotate", "retire_previous"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("program")
            .annotate(
                n_delivered=Count("deliveries", filter=Q(deliveries__status=Delivered)),
                n_failed=Count("deliveries", filter=Q(deliveries__status=Failed)),
                n_pending=Count("deliveries", filter=~Q(deliveries__status__in=[Delivered, Failed])),
            )
        )

    @admin.display(description=_("event types"))
    def types(self, obj):
        return ", ".join(obj.event_types) or _("all")

    @admin.display(description=_("success rate"))
    def success_rate(self, obj):
        """Delivered / finished deliveries (pending ones are not counted yet)."""
        finished = obj.n_delivered + obj.n_failed
        return f"{100 * obj.n_delivered / finished:.1f} %" if finished else "–"

    @admin.display(description=_("delivered"), ordering="n_delivered")
    def delivered(self, obj):
        return obj.n_delivered

    @admin.display(description=_("failed"), ordering="n_failed")
    def failed(self, obj):
        return obj.n_failed

    @admin.display(description=_("pending"), ordering="n_pending")
    def pending(self, obj):
        return obj.n_pending

    @admin.display(description=_("secret"))
    def secret_hint(self, obj):
        return obj.secret_hint if obj.pk else _("generated when saved, shown once")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self._show_secret_once(request, obj, obj.secret)

    def _show_secret_once(self, request, obj, secret):
        messages.warning(
            request,
            _("Signing secret for %(url)s (shown only now, copy it to the partner): %(secret)s")
            % {"url": obj.url, "secret": secret},
        )

    @admin.action(description=_("Pause selected subscriptions"))
    def pause(self, request, queryset):
        for subscription in queryset:
            subscriptions.pause_subscription(subscription, reason=f"Paused in the admin by {request.user}")
        self.message_user(request, _("Paused %(n)d subscription(s).") % {"n": len(queryset)})

    @admin.action(description=_("Resume selected subscriptions (and deliver what waited)"))
    def resume(self, request, queryset):
        waiting = sum(subscriptions.resume_subscription(subscription) for subscription in queryset)
        self.message_user(request, _("Resumed; %(n)d waiting deliveries queued.") % {"n": waiting})

    @admin.action(description=_("Rotate secret (old one keeps signing during the overlap)"))
    def rotate(self, request, queryset):
        for subscription in queryset:
            self._show_secret_once(request, subscription, subscriptions.rotate_secret(subscription).secret)

    @admin.action(description=_("Retire the previous secret now"))
    def retire_previous(self, request, queryset):
        for subscription in queryset:
            subscriptions.retire_previous_secret(subscription)
        self.message_user(request, _("Only the current secret signs now."))


class HidesConnectionDetail:
    """Attempts record why they failed (refused, timeout, reset, blocked address) for
    superusers; other staff see only "failed". The detail would tell them which inner ports
    are open (SSRF probing), which is not theirs to know."""

    DETAIL_FIELDS = ("error", "last_error")

    def _shows_detail(self, request):
        return request.user.is_superuser

    def _swap(self, request, names):
        if self._shows_detail(request):
            return list(names)
        return [("connection_outcome" if name in self.DETAIL_FIELDS else name) for name in names]

    def get_list_display(self, request):
        return self._swap(request, super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        return self._swap(request, super().get_readonly_fields(request, obj))

    def get_fields(self, request, obj=None):
        return self._swap(request, super().get_fields(request, obj))

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        return excluded if self._shows_detail(request) else [*excluded, *self.DETAIL_FIELDS]

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        return fields if self._shows_detail(request) else [name for name in fields if name not in self.DETAIL_FIELDS]

    @admin.display(description=_("error"))
    def connection_outcome(self, obj):
        detail = getattr(obj, "error", None) if hasattr(obj, "error") else obj.last_error
        return _("failed") if detail else ""


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(HidesConnectionDetail, ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "status_code", "succeeded", "duration_ms", "response_excerpt", "error"]
    readonly_fields = fields
    ordering = ["number"]
    show_change_link = False


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = ["subscription", "status", "attempt_count", "last_status_code", "next_attempt_at", "delivered_at"]
    readonly_fields = fields


class LogAdmin(ProgramScopedAdmin):
    """The log is written by the delivery code only: no adding or editing by hand."""

    def has_resend_permission(self, request):
        return request.user.has_perm("webhooks.change_webhookdelivery")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(LogAdmin):
    list_display = ["event_id", "type", "program", "created_at"]
    list_filter = ["type", "program", "created_at"]
    search_fields = ["event_id", "idempotency_key"]
    readonly_fields = ["event_id", "program", "type", "payload", "idempotency_key", "created_at"]
    inlines = [DeliveryInline]
    date_hierarchy = "created_at"


def _resend(modeladmin, request, delivery_ids):
    count = delivery.resend_deliveries(delivery_ids)
    modeladmin.message_user(
        request, ngettext("Re-sending %(n)d delivery.", "Re-sending %(n)d deliveries.", count) % {"n": count}
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(HidesConnectionDetail, LogAdmin):
    list_display = [
        "event_link",
        "subscription_link",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", "subscription", "program", "created_at"]
    search_fields = ["event__event_id", "subscription__url"]
    list_select_related = ["event", "subscription"]
    readonly_fields = [
        "program",
        "event",
        "subscription",
        "status",
        "attempt_count",
        "next_attempt_at",
        "retry_until",
        "queued_at",
        "claimed_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    ]
    inlines = [AttemptInline]
    actions = ["resend"]
    date_hierarchy = "created_at"

    @admin.display(description=_("event"), ordering="event__type")
    def event_link(self, obj):
        # The type says what it was; the event's page has its id and payload.
        return admin_link(obj.event, obj.event.type)

    @admin.display(description=_("subscription"), ordering="subscription__url")
    def subscription_link(self, obj):
        return admin_link(obj.subscription, obj.subscription.url)

    @admin.action(description=_("Re-send selected deliveries"), permissions=["resend"])
    def resend(self, request, queryset):
        _resend(self, request, queryset.values_list("pk", flat=True))


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(HidesConnectionDetail, LogAdmin):
    list_display = [
        "started_at",
        "event_id",
        "subscription_url",
        "number",
        "status_code",
        "succeeded",
        "duration_ms",
        "error",
    ]
    list_filter = ["succeeded", "status_code", "delivery__event__type", "delivery__subscription", "started_at"]
    search_fields = ["delivery__event__event_id", "delivery__subscription__url", "error"]
    list_select_related = ["delivery__event", "delivery__subscription"]
    readonly_fields = [
        "delivery",
        "program",
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "succeeded",
        "response_excerpt",
        "error",
    ]
    actions = ["resend"]
    date_hierarchy = "started_at"

    @admin.display(description=_("event"), ordering="delivery__event__event_id")
    def event_id(self, obj):
        return admin_link(obj.delivery.event, obj.delivery.event.event_id)

    @admin.display(description=_("subscription"))
    def subscription_url(self, obj):
        return admin_link(obj.delivery.subscription, obj.delivery.subscription.url)

    @admin.action(description=_("Re-send the deliveries of the selected attempts"), permissions=["resend"])
    def resend(self, request, queryset):
        _resend(self, request, set(queryset.values_list("delivery_id", flat=True)))

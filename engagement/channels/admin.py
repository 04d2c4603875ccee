"""Admin: the message log (read-only, with a resend of held messages), templates, the contact
policy and push subscriptions. Every list is limited to the staff member's programs."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.admin_links import link_column
from engagement.channels import states
from engagement.channels.models import (
    ContactPolicy,
    Message,
    MessageStatus,
    MessageStatusChange,
    MessageTemplate,
    PushSubscription,
)
from engagement.channels.sending import schedule_delivery
from engagement.status_history_admin import StatusChangeInline
from engagement.tenancy import ProgramScopedAdmin


class MessageStatusChangeInline(StatusChangeInline):
    model = MessageStatusChange


@admin.register(Message)
class MessageAdmin(ProgramScopedAdmin):
    inlines = [MessageStatusChangeInline]
    # Fits 1366 px: program, locale and timings are filters or on the message's page.
    list_display = ["created_at", "customer_link", "channel", "template_key", "status", "reason", "attempts", "sent_at"]
    customer_link = link_column("customer", _("customer"))
    list_filter = ["program", "channel", "status", "reason", "transactional", "locale", "template_key"]
    search_fields = [
        "customer__external_id",
        "customer__name",
        "to_address",
        "source",
        "provider_id",
        "idempotency_key",
    ]
    list_select_related = ["program", "customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["release_now"]
    readonly_fields = [field.name for field in Message._meta.fields]

    def has_add_permission(self, request):
        return False  # messages are created by send_message only

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Release held messages now (the policy is checked again)"))
    def release_now(self, request, queryset):
        with transaction.atomic():
            ids = states.move_many(
                Message.objects.filter(pk__in=queryset.values("pk")),  # no joins or DISTINCT under FOR UPDATE
                [MessageStatus.HELD],
                MessageStatus.QUEUED,
                reason="released by staff",
                actor=request.user,
                updates={"send_after": timezone.now()},
            )
            if ids:
                schedule_delivery(ids)
        self.message_user(request, _("%(count)d message(s) released.") % {"count": len(ids)}, messages.SUCCESS)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ProgramScopedAdmin):
    list_display = ["key", "channel", "locale", "program", "subject", "pre_approved", "updated_at"]
    list_filter = ["program", "channel", "locale", "pre_approved"]
    search_fields = ["key", "subject", "body"]
    fieldsets = [
        (None, {"fields": ["program", "key", "channel", "locale"]}),
        (
            _("Content"),
            {
                "fields": ["subject", "body", "pre_approved"],
                "description": _(
                    "Django template language; context: customer, program and the sender's values. "
                    "Overrides the file template messages/<key>/<channel>.<locale>.txt."
                ),
            },
        ),
    ]


@admin.register(ContactPolicy)
class ContactPolicyAdmin(ProgramScopedAdmin):
    list_display = [
        "program",
        "max_per_day",
        "max_per_week",
        "max_per_month",
        "min_gap_minutes",
        "max_hold_hours",
        "whatsapp_window_hours",
    ]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ProgramScopedAdmin):
    list_display = ["customer_link", "program", "endpoint", "created_at", "last_success_at", "expired_at"]
    customer_link = link_column("customer", _("customer"))
    list_filter = ["program", ("expired_at", admin.EmptyFieldListFilter)]
    search_fields = ["customer__external_id", "endpoint"]
    list_select_related = ["program", "customer"]
    raw_id_fields = ["customer"]

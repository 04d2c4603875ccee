"""Rewards admin: catalogue and code pools (CSV upload), redemptions with actions, tiers,
settings, and read-only ledger views. Points change only through the "Adjust points" form,
which calls rewards.ledger.adjust_points with the staff user as actor and a required reason.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from engagement.admin_links import admin_link, link_column
from engagement.tenancy import ProgramScopedAdmin, ReadOnlyScopedAdmin
from rewards import (
    bulk_grants_admin,  # noqa: F401 - registers the bulk grant admin
    fulfilment_admin,  # noqa: F401 - registers the fulfilment and charity admin
    ledger,
    redemptions,
    vouchers,
)
from rewards.errors import RewardsError
from rewards.models import (
    Clawback,
    CustomerTier,
    LedgerEntry,
    PointsAccount,
    Redemption,
    Referral,
    RewardItem,
    RewardKind,
    RewardsSettings,
    Tier,
    VoucherCode,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(label=_("Points"), help_text=_("Signed: 500 adds, -200 takes away. Cannot overdraw."))
    reason = forms.CharField(label=_("Reason"), max_length=255, help_text=_("Required; recorded with your user name."))

    def clean_points(self):
        if self.cleaned_data["points"] == 0:
            raise forms.ValidationError(_("Enter a non-zero number of points."))
        return self.cleaned_data["points"]

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason


@admin.register(PointsAccount)
class PointsAccountAdmin(ProgramScopedAdmin):
    list_display = ["customer_link", "program", "balance", "pending", "updated_at", "adjust_link"]
    customer_link = link_column("customer", _("customer"))
    list_filter = ["program"]
    search_fields = ["customer__external_id", "customer__name", "customer__email"]
    list_select_related = ["customer", "program"]
    readonly_fields = ["program", "customer", "balance", "pending", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Adjust"))
    def adjust_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:rewards_pointsaccount_adjust", args=[obj.pk]), _("Adjust points")
        )

    def get_urls(self):
        extra = [
            path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="rewards_pointsaccount_adjust")
        ]
        return extra + super().get_urls()

    def adjust_view(self, request, pk):
        account = get_object_or_404(self.get_queryset(request).select_related("customer__program"), pk=pk)
        if not self.has_view_permission(request, account) or not request.user.has_perm("rewards.change_pointsaccount"):
            raise PermissionDenied
        form = AdjustPointsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                ledger.adjust_points(
                    customer=account.customer, points=form.cleaned_data["points"], reason=form.cleaned_data["reason"],
                    actor=request.user, idempotency_key=f"admin:{request.POST.get('key') or uuid.uuid4().hex}",
                )  # fmt: skip
            except RewardsError as exc:
                form.add_error("points", str(exc.message))
            else:
                messages.success(
                    request,
                    _("Adjusted %(customer)s by %(points)d points.")
                    % {"customer": account.customer, "points": form.cleaned_data["points"]},
                )
                return redirect("admin:rewards_pointsaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust points of %(customer)s") % {"customer": account.customer},
            "account": account,
            "form": form,
            "key": uuid.uuid4().hex,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rewards/adjust_points.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyMixin, ProgramScopedAdmin):
    list_display = ["created_at", "customer_link", "kind", "points", "pending_points", "balance_after", "reason",
                    "actor_label", "source"]  # fmt: skip
    customer_link = link_column("customer", _("customer"))

    @admin.display(description=_("source"))
    def source(self, obj):
        return f"{obj.source_type} {obj.source_id}".strip() or "–"

    list_filter = ["kind", "program"]
    search_fields = ["customer__external_id", "reason", "idempotency_key", "source_id"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"


class VoucherUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"), help_text=_("CSV: one code per line (first column); an optional header 'code'.")
    )
    batch = forms.CharField(label=_("Batch"), max_length=100, required=False)


@admin.register(RewardItem)
class RewardItemAdmin(ProgramScopedAdmin):
    list_display = ["title_en", "program", "kind", "points_cost", "cash_value", "stock", "codes_left", "active",
                    "valid_until"]  # fmt: skip
    list_filter = ["program", "kind", "active"]
    search_fields = ["title_en", "title_ar", "title_ms"]
    autocomplete_fields = ["provider_products"]
    fieldsets = [
        (None, {"fields": ["program", "kind", "active", "position", "image"]}),
        (
            _("Text"),
            {"fields": ["title_en", "description_en", "title_ar", "description_ar", "title_ms", "description_ms"]},
        ),
        (
            _("Cost and value"),
            {"fields": ["points_cost", "cash_value", "currency", "payout_method", "provider_products", "stock"]},
        ),
        (_("Availability"), {"fields": ["valid_from", "valid_until", "eligible_tiers", "eligible_segments"]}),
        (_("After redeeming"), {"fields": ["how_to_use_en", "how_to_use_ar", "how_to_use_ms", "use_within_days"]}),
    ]

    @admin.display(description=_("Codes left"))
    def codes_left(self, obj):
        if obj.kind != RewardKind.VOUCHER:
            return "-"
        url = reverse("admin:rewards_rewarditem_upload_codes", args=[obj.pk])
        left = obj.codes.filter(status=VoucherCode.Status.AVAILABLE).count()
        return format_html('{} · <a href="{}">{}</a>', left, url, _("upload CSV"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.upload_codes_view)
        return [path("<int:pk>/codes/", view, name="rewards_rewarditem_upload_codes")] + super().get_urls()

    def upload_codes_view(self, request, pk):
        item = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, item):
            raise PermissionDenied
        form = VoucherUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > 5 * 1024 * 1024:
                form.add_error("file", _("The file is larger than 5 MB."))
            else:
                result = vouchers.import_codes(item, upload.read(), batch=form.cleaned_data["batch"])
                if result.errors:
                    for error in result.errors[:50]:
                        form.add_error("file", error)
                else:
                    messages.success(request, _("Added %(n)d codes to %(item)s.") % {"n": result.created, "item": item})
                    return redirect("admin:rewards_rewarditem_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Upload voucher codes for %(item)s") % {"item": item},
            "item": item,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rewards/upload_codes.html", context)


@admin.register(VoucherCode)
class VoucherCodeAdmin(ReadOnlyMixin, ProgramScopedAdmin):
    list_display = ["code", "item", "status", "redemption", "assigned_at", "used_at", "batch"]
    list_filter = ["status", "item"]
    search_fields = ["code", "batch"]


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "customer_link", "item_link", "points", "value", "status", "voucher", "payout_link",
                    "failure_reason"]  # fmt: skip
    customer_link = link_column("customer", _("customer"))
    item_link = link_column("item", _("reward"))

    @admin.display(description=_("code"), ordering="voucher_code__code")
    def voucher(self, obj):
        return obj.code or "–"

    @admin.display(description=_("value"), ordering="cash_value")
    def value(self, obj):
        return f"{obj.cash_value} {obj.currency}" if obj.cash_value else "–"

    @admin.display(description=_("payout"))
    def payout_link(self, obj):
        from payouts.models import Payout

        return admin_link(Payout.objects.filter(pk=obj.payout_id).first()) if obj.payout_id else "–"

    list_filter = ["status", "source", "channel", "program"]
    search_fields = ["customer__external_id", "idempotency_key", "voucher_code__code"]
    list_select_related = ["customer", "item", "voucher_code"]
    actions = ["complete_selected", "fail_selected"]

    @admin.action(description=_("Mark selected processing redemptions completed (shipped)"))
    def complete_selected(self, request, queryset):
        done = 0
        for pk in queryset.filter(status=Redemption.Status.PROCESSING, payout_id__isnull=True).values_list(
            "pk", flat=True
        ):
            redemptions.complete_redemption(pk)
            done += 1
        messages.info(request, _("%(n)d redemption(s) completed. Cash redemptions follow their payout.") % {"n": done})

    @admin.action(description=_("Fail selected processing redemptions and refund their points"))
    def fail_selected(self, request, queryset):
        done = 0
        for pk in queryset.filter(status=Redemption.Status.PROCESSING, payout_id__isnull=True).values_list(
            "pk", flat=True
        ):
            redemptions.fail_redemption(pk, f"cancelled by {request.user.get_username()}")
            done += 1
        messages.info(
            request, _("%(n)d redemption(s) failed and refunded. Cash redemptions follow their payout.") % {"n": done}
        )


@admin.register(Tier)
class TierAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "min_points", "earn_multiplier", "name_ar", "name_ms"]
    list_filter = ["program"]


@admin.register(RewardsSettings)
class RewardsSettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "points_validity_days", "expiry_rounding", "return_window_days",
                    "points_per_currency_unit", "tier_window_days", "tier_review_months"]  # fmt: skip


@admin.register(CustomerTier)
class CustomerTierAdmin(ReadOnlyMixin, ProgramScopedAdmin):
    list_display = ["customer", "tier", "window_points", "review_at", "achieved_at"]
    list_filter = ["tier"]
    search_fields = ["customer__external_id"]


@admin.register(Referral)
class ReferralAdmin(ReadOnlyMixin, ProgramScopedAdmin):
    list_display = ["referrer", "referee_external_id", "referee", "status", "sent_at", "converted_at"]
    list_filter = ["status"]


@admin.register(Clawback)
class ClawbackAdmin(ReadOnlyMixin, ProgramScopedAdmin):
    list_display = ["customer", "source_type", "source_id", "points_due", "points_taken", "points_unrecovered",
                    "created_at"]  # fmt: skip

"""Admin of checkout: earning rules, spending settings, promotions with their usage, code
pools (generate by pattern, import, export CSV) and reservations (read-only)."""

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from engagement.tenancy import ProgramScopedAdmin
from rewards.checkout import pools, tasks
from rewards.checkout.models import CheckoutSettings, CodePool, EarningRule, Promotion, PromotionCode, Reservation

MAX_IMPORT_BYTES = 20 * 1024 * 1024


@admin.register(EarningRule)
class EarningRuleAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "target", "value", "multiplier", "excluded", "active"]
    list_filter = ["program", "target", "excluded", "active"]
    search_fields = ["name", "value"]


@admin.register(CheckoutSettings)
class CheckoutSettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "point_value", "min_points_per_order", "max_points_per_order",
                    "max_order_share_percent", "points_step", "reservation_minutes"]  # fmt: skip


@admin.register(Promotion)
class PromotionAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "kind", "value", "level", "active", "starts_at", "ends_at", "usage", "pools"]
    list_filter = ["program", "active", "kind", "level"]
    search_fields = ["name", "title_en"]
    readonly_fields = ["uses", "usage_detail"]
    fieldsets = [
        (None, {"fields": ["program", "name", "active", "title_en", "title_ar", "title_ms"]}),
        (_("Discount"), {"fields": ["kind", "value", "level"]}),
        (
            _("Who and what"),
            {
                "fields": [
                    "eligible_skus",
                    "eligible_categories",
                    "eligible_tiers",
                    "eligible_segments",
                    "min_order_value",
                ]
            },
        ),  # fmt: skip
        (_("When and how often"), {"fields": ["starts_at", "ends_at", "max_uses", "max_uses_per_customer"]}),
        (_("Combining"), {"fields": ["stackable", "allow_points"]}),
        (_("Usage"), {"fields": ["uses", "usage_detail"]}),
    ]

    @admin.display(description=_("Uses"))
    def usage(self, obj):
        return f"{obj.uses} / {obj.max_uses}" if obj.max_uses else str(obj.uses)

    @admin.display(description=_("Code pools"))
    def pools(self, obj):
        url = reverse("admin:checkout_codepool_changelist") + f"?promotion__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.pools.count())

    @admin.display(description=_("Orders"))
    def usage_detail(self, obj):
        """Paid, held and released orders with this promotion, and the discount given."""
        if obj.pk is None:
            return "-"
        uses = obj.code_uses.aggregate(
            paid=Count("pk", filter=Q(reservation__status=Reservation.Status.CONFIRMED)),
            held=Count("pk", filter=Q(reservation__status=Reservation.Status.HELD)),
            released=Count("pk", filter=Q(released=True)),
            discount=Sum("discount", filter=Q(reservation__status=Reservation.Status.CONFIRMED)),
        )
        return _("%(paid)d paid, %(held)d held, %(released)d released; discount given %(discount)s %(currency)s") % {
            **uses, "discount": uses["discount"] or 0, "currency": obj.program.currency,
        }  # fmt: skip


class CodePoolForm(forms.ModelForm):
    codes_file = forms.FileField(
        label=_("Import codes"), required=False,
        help_text=_("Optional: a text or CSV file with one code per line (first column). Then no codes are generated."),
    )  # fmt: skip

    class Meta:
        model = CodePool
        fields = ["promotion", "name", "prefix", "length", "alphabet", "count", "uses_per_code"]

    def clean(self):
        data = super().clean()
        upload = data.get("codes_file")
        if upload is not None and upload.size > MAX_IMPORT_BYTES:
            self.add_error("codes_file", _("The file is larger than 20 MB."))
        if self.instance.pk is None and not data.get("codes_file") and data.get("count"):
            try:
                pools.check_pattern(data.get("alphabet") or "", data.get("length") or 0, data["count"])
            except ValidationError as error:
                self.add_error("count", error)
        return data


@admin.register(CodePool)
class CodePoolAdmin(ProgramScopedAdmin):
    form = CodePoolForm
    list_display = ["name", "promotion", "status", "generated", "used", "uses_per_code", "created_at", "export"]
    list_filter = ["status", "promotion"]

    def get_readonly_fields(self, request, obj=None):
        # A pool's pattern is fixed once its codes exist.
        return ["promotion", "prefix", "length", "alphabet", "count", "uses_per_code"] if obj else []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(used_codes=Count("codes", filter=Q(codes__uses__gt=0)))

    @admin.display(description=_("Codes used"))
    def used(self, obj):
        return obj.used_codes

    @admin.display(description=_("Export"))
    def export(self, obj):
        return format_html('<a href="{}">CSV</a>', reverse("admin:checkout_codepool_export", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        obj.program_id = obj.promotion.program_id
        upload = form.cleaned_data.get("codes_file")
        if upload is not None:
            obj.count = 0
            super().save_model(request, obj, form, change)
            rows = csv.reader(upload.read().decode("utf-8-sig", errors="replace").splitlines())
            codes = [row[0] for row in rows if row and row[0].strip().lower() != "code"]
            added, skipped = pools.import_codes(obj, codes)
            messages.success(request, _("Imported %(added)d codes; %(skipped)d were already taken.") % {
                "added": added, "skipped": len(skipped)})  # fmt: skip
            return None
        super().save_model(request, obj, form, change)
        # Generation may take a while (a million codes): the worker does it after commit.
        transaction.on_commit(lambda: tasks.generate_pool_task.delay(obj.pk))
        return None

    def get_urls(self):
        view = self.admin_site.admin_view(self.export_view)
        return [path("<int:pk>/export/", view, name="checkout_codepool_export")] + super().get_urls()

    def export_view(self, request, pk):
        pool = get_object_or_404(self.get_queryset(request), pk=pk)

        def rows():
            yield "code,uses,max_uses\r\n"
            codes = PromotionCode.objects.filter(pool=pool).order_by("pk").values_list("code", "uses", "max_uses")
            for code, uses, max_uses in codes.iterator(chunk_size=10_000):
                yield f"{code},{uses},{max_uses}\r\n"

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="codes-{pool.pk}.csv"'
        return response


@admin.register(Reservation)
class ReservationAdmin(ProgramScopedAdmin):
    list_display = ["order_id", "customer", "status", "points", "money_value", "currency", "points_returned",
                    "expires_at", "created_at"]  # fmt: skip
    list_filter = ["program", "status"]
    search_fields = ["order_id", "customer__external_id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Admin of checkout: earning rules, spending settings, promotions with their usage, code
pools (generate by pattern, import a CSV after a preview, export CSV) and reservations (read-only)."""

import secrets

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from engagement.tenancy import ProgramScopedAdmin, scope_queryset
from rewards.checkout import pools, tasks
from rewards.checkout.models import CheckoutSettings, CodePool, EarningRule, Promotion, PromotionCode, Reservation

MAX_IMPORT_BYTES = 20 * 1024 * 1024
# A previewed import waits in the cache (Redis) for its confirmation, for the one staff user.
IMPORT_CACHE_KEY = "checkout:code-import:%s"
IMPORT_PREVIEW_SECONDS = 3600
PREVIEW_ROWS = 50  # lines of each list shown on the preview


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
    class Meta:
        model = CodePool
        fields = ["promotion", "name", "prefix", "length", "alphabet", "count", "uses_per_code"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("count"):
            try:
                pools.check_pattern(data.get("alphabet") or "", data.get("length") or 0, data["count"])
            except ValidationError as error:
                self.add_error("count", error)
        return data


class CodeImportForm(forms.Form):
    promotion = forms.ModelChoiceField(label=_("Promotion"), queryset=Promotion.objects.none())
    name = forms.CharField(label=_("Pool name"), max_length=100)
    uses_per_code = forms.IntegerField(
        label=_("Uses per code"), min_value=0, initial=1, help_text=_("1 = single-use; 0 = no cap.")
    )
    codes_file = forms.FileField(
        label=_("CSV file"), help_text=_("One code per line, in the first column; a first line `code` is skipped.")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["promotion"].queryset = scope_queryset(Promotion.objects.order_by("name"), user)

    def clean(self):
        data = super().clean()
        upload, promotion = data.get("codes_file"), data.get("promotion")
        if upload is None or promotion is None:
            return data
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(_("The file is larger than 20 MB."))
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(_("The file is not UTF-8 text.")) from None
        data["preview"] = pools.preview_import(promotion.program_id, text)
        if not (data["preview"].codes or data["preview"].existing or data["preview"].duplicates):
            if not data["preview"].invalid:
                raise ValidationError(_("The file holds no codes."))
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
        super().save_model(request, obj, form, change)
        # Generation may take a while (a million codes): the worker does it after commit.
        transaction.on_commit(lambda: tasks.generate_pool_task.delay(obj.pk))
        return None

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        upload = self.admin_site.admin_view(self.import_view)
        return [
            path("<int:pk>/export/", export, name="checkout_codepool_export"),
            path("import/", upload, name="checkout_codepool_import"),
        ] + super().get_urls()

    def import_view(self, request):
        """Import a pool from a CSV in two steps: the upload shows a preview (codes, repeats
        in the file, codes the program already has, invalid lines) and writes nothing; only
        confirming a clean preview creates the pool and all its codes, in one transaction."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Import codes")}
        if request.method == "POST" and "confirm" in request.POST:
            pool = self._confirm_import(request, request.POST.get("token", ""))
            if pool is not None:
                return redirect(reverse("admin:checkout_codepool_change", args=[pool.pk]))
            form = CodeImportForm(user=request.user)
        elif request.method == "POST":
            form = CodeImportForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                preview = form.cleaned_data["preview"]
                token = ""
                if preview.ok:
                    token = secrets.token_urlsafe(16)
                    cache.set(IMPORT_CACHE_KEY % token, {
                        "user": request.user.pk, "promotion": form.cleaned_data["promotion"].pk,
                        "name": form.cleaned_data["name"], "uses_per_code": form.cleaned_data["uses_per_code"],
                        "codes": [code for _line, code in preview.codes],
                    }, IMPORT_PREVIEW_SECONDS)  # fmt: skip
                return TemplateResponse(request, "admin/checkout/codepool/import_preview.html", {
                    **context, "preview": preview, "token": token, "promotion": form.cleaned_data["promotion"],
                    "name": form.cleaned_data["name"], "shown": PREVIEW_ROWS,
                })  # fmt: skip
        else:
            form = CodeImportForm(user=request.user)
        return TemplateResponse(request, "admin/checkout/codepool/import.html", {**context, "form": form})

    def _confirm_import(self, request, token):
        """Create the previewed pool, all or nothing; None (and a message) when refused."""
        plan = cache.get(IMPORT_CACHE_KEY % token) if token else None
        promotion = None
        if plan and plan["user"] == request.user.pk:
            promotion = scope_queryset(Promotion.objects.all(), request.user).filter(pk=plan["promotion"]).first()
        if promotion is None:
            messages.error(request, _("This preview is no longer available; upload the file again."))
            return None
        try:
            with transaction.atomic():
                pool = CodePool.objects.create(
                    program_id=promotion.program_id, promotion=promotion, name=plan["name"], count=0,
                    uses_per_code=plan["uses_per_code"], status=CodePool.Status.READY,
                )  # fmt: skip
                added = pools.import_codes(pool, plan["codes"])
        except IntegrityError:
            messages.error(
                request, _("A code of the file was created meanwhile; nothing was imported. Upload the file again.")
            )
            return None
        cache.delete(IMPORT_CACHE_KEY % token)
        messages.success(request, _("Imported %(added)s codes into the pool %(name)s.") % {
            "added": f"{added:,}", "name": pool.name})  # fmt: skip
        return pool

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

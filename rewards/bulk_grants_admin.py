"""Admin for bulk rewarding: upload a CSV (checked whole, a report of every bad cell,
nothing created unless all rows are valid), then watch each upload's progress."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from engagement.tenancy import ProgramScopedAdmin, allowed_programs
from rewards import bulk_grants
from rewards.models import BulkGrant


class BulkGrantUploadForm(forms.Form):
    program = forms.ModelChoiceField(queryset=None, label=_("Program"))
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: customer, points or reward (catalogue item id), reason, optional send_at."),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = allowed_programs(user)


@admin.register(BulkGrant)
class BulkGrantAdmin(ProgramScopedAdmin):
    list_display = ["__str__", "program", "status", "progress", "points_total", "uploaded_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["filename"]
    readonly_fields = [
        "program",
        "filename",
        "status",
        "progress",
        "row_count",
        "points_total",
        "uploaded_by",
        "created_at",
        "completed_at",
        "failures",
    ]
    exclude = ["sha256", "rows_done", "rows_failed"]
    change_list_template = "admin/rewards/bulkgrant/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="rewards_bulkgrant_upload")
        return [upload, *super().get_urls()]

    @admin.display(description=_("Progress"))
    def progress(self, obj):
        state = bulk_grants.progress(obj)
        settled = state["done"] + state["failed"]
        text = _("%(settled)s of %(total)s rows (%(failed)s failed, %(scheduled)s scheduled)") % {
            "settled": f"{settled:,}",
            "total": f"{state['total']:,}",
            "failed": f"{state['failed']:,}",
            "scheduled": f"{state['scheduled']:,}",
        }
        return format_html(
            '<progress max="{}" value="{}" aria-label="{}"></progress> {}', state["total"], settled, text, text
        )

    @admin.display(description=_("Rows that failed"))
    def failures(self, obj):
        rows = obj.rows.exclude(error="").select_related("customer").order_by("line")[:200]
        if not rows:
            return "-"
        items = "".join(
            format_html("<li>{} {}: {} ({})</li>", _("line"), row.line, row.error, row.customer.external_id)
            for row in rows
        )
        return format_html("<ul>{}</ul>", format_html(items))

    def upload_view(self, request):
        if not request.user.is_superuser and not request.user.has_perm("rewards.add_ledgerentry"):
            raise PermissionDenied
        form = BulkGrantUploadForm(request.POST or None, request.FILES or None, user=request.user)
        plan = None
        if request.method == "POST" and form.is_valid():
            program, upload = form.cleaned_data["program"], form.cleaned_data["file"]
            plan = bulk_grants.read_grants_csv(program, upload.read())
            if not plan.errors:
                bulk, created = bulk_grants.create_bulk_grant(program, plan, filename=upload.name, user=request.user)
                if created:
                    self.message_user(
                        request, _("%(rows)s rows scheduled.") % {"rows": f"{bulk.row_count:,}"}, messages.SUCCESS
                    )
                else:
                    self.message_user(
                        request, _("This file was uploaded before: nothing was granted twice."), messages.WARNING
                    )
                return redirect("admin:rewards_bulkgrant_change", bulk.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Grant points or rewards from a CSV"),
            "form": form,
            "plan": plan,
            "max_rows": f"{bulk_grants.MAX_ROWS:,}",
        }
        return TemplateResponse(request, "admin/rewards/bulkgrant/upload.html", context)

"""Admin for payouts: the payout list with approval actions, the review queue, funding
(top-ups through an action), provider accounts and settings, CSV bulk upload with a bad-row
report and progress, and reconciliation runs with their mismatches.

Every action calls payouts.services / bulk / reconciliation; nothing here writes a status.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from engagement.outbound_http import check_public_url
from engagement.tenancy import ProgramScopedAdmin, ReadOnlyScopedAdmin, allowed_programs
from payouts import bulk, catalogue, reconciliation, services
from payouts.admin_approvals import ApprovalAdminMixin, ReviewQueueMixin, about
from payouts.models import (
    FundingAccount,
    FundingEntry,
    Payout,
    PayoutApproval,
    PayoutAttempt,
    PayoutBatch,
    PayoutReview,
    PayoutSettings,
    PayoutStatusChange,
    ProviderAccount,
    ProviderProduct,
    ProviderWebhookReceipt,
    ReconciliationRun,
    SandboxOrder,
    Status,
)
from payouts.providers import provider_names
from payouts.providers.base import ProviderUnavailable


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StatusChangeInline(ReadOnlyInline):
    model = PayoutStatusChange
    fields = ["created_at", "from_status", "to_status", "reason", "actor"]


class AttemptInline(ReadOnlyInline):
    model = PayoutAttempt
    fields = ["created_at", "kind", "outcome", "response_code", "error", "duration_ms", "request", "response_body"]

    def get_fields(self, request, obj=None):
        # The answer is stored with the fields its provider documents as secret redacted
        # (a card's code/PIN/link, payees, account numbers: docs/payouts.md). It stays
        # superuser-only as a second line: a field a provider adds later is not redacted
        # until its adapter lists it.
        fields = super().get_fields(request, obj)
        return fields if request.user.is_superuser else [f for f in fields if f != "response_body"]


class ApprovalInline(ReadOnlyInline):
    model = PayoutApproval
    fields = ["created_at", "user", "decision", "reason"]


class ReasonActionForm(ActionForm):
    reason = forms.CharField(required=False, label=_("Reason"), widget=forms.TextInput(attrs={"maxlength": 300}))


def _run_each(modeladmin, request, queryset, operation, done_message):
    done = 0
    for payout in queryset:
        try:
            operation(payout)
            done += 1
        except services.PayoutError as exc:
            modeladmin.message_user(request, about(payout, exc.detail), messages.ERROR)
    if done:
        modeladmin.message_user(request, done_message % done, messages.SUCCESS)


@admin.action(description=_("Approve selected payouts"), permissions=["approve"])
def approve(modeladmin, request, queryset):
    reason = request.POST.get("reason", "")
    for payout in queryset:
        try:
            approved = services.approve_payout(payout.pk, user=request.user, reason=reason)
        except services.PayoutError as exc:
            modeladmin.message_user(request, about(payout, exc.detail), messages.ERROR)
        else:
            modeladmin.message_user(request, modeladmin.approved_message(approved), messages.SUCCESS)


@admin.action(description=_("Reject selected payouts (reason required)"), permissions=["approve"])
def reject(modeladmin, request, queryset):
    reason = request.POST.get("reason", "").strip()
    if not reason:
        # Refused once for the whole selection, before anything is touched.
        modeladmin.message_user(
            request,
            gettext("Type the reason for rejecting in the Reason box, then run the action again."),
            messages.ERROR,
        )
        return
    _run_each(
        modeladmin,
        request,
        queryset,
        lambda p: services.reject_payout(p.pk, user=request.user, reason=reason),
        gettext("%d payout(s) rejected."),
    )


@admin.action(description=_("Cancel selected payouts (not yet sent)"), permissions=["change"])
def cancel(modeladmin, request, queryset):
    reason = request.POST.get("reason", "") or "Cancelled by staff"
    _run_each(
        modeladmin,
        request,
        queryset,
        lambda p: services.cancel_payout(p.pk, actor=request.user, reason=reason),
        "%d payout(s) cancelled.",
    )


@admin.action(description=_("Record a reversal of selected succeeded payouts"), permissions=["change"])
def reverse_selected(modeladmin, request, queryset):
    reason = request.POST.get("reason", "") or "Reversed by staff"
    _run_each(
        modeladmin,
        request,
        queryset,
        lambda p: services.reverse_payout(p.pk, actor=request.user, reason=reason),
        "%d payout(s) reversed.",
    )


@admin.register(Payout)
class PayoutAdmin(ApprovalAdminMixin, ProgramScopedAdmin):
    list_display = [
        "short_reference",
        "customer",
        "amount_with_currency",
        "method",
        "status",
        "hold",
        "provider",
        "created",
    ]
    list_filter = ["status", "hold", "method", "provider", "source", "program"]
    search_fields = ["reference", "provider_reference", "customer__external_id", "source_ref"]
    date_hierarchy = "created_at"
    list_select_related = ["customer"]
    inlines = [ApprovalInline, StatusChangeInline, AttemptInline]
    actions = [approve, reject, cancel, reverse_selected]
    action_form = ReasonActionForm
    exclude = ["destination_secret", "lease_token"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # Every field is read-only; grouped so the page reads top-down (what, why held, where to,
    # the provider's side, where it came from), the bookkeeping folded away.
    fieldsets = [
        (
            None,
            {"fields": ["reference", "program", "customer", "amount", "currency", "method", "status", "status_reason"]},
        ),
        (_("Approval"), {"fields": ["hold", "hold_reason", "approvals_required", "requested_by"]}),
        (_("Destination"), {"fields": ["destination", "destination_fingerprint"]}),
        (
            _("Provider"),
            {
                "classes": ["collapse"],
                "fields": [
                    "provider",
                    "provider_reference",
                    "provider_status",
                    "step",
                    "attempts",
                    "next_attempt_at",
                    "lease_until",
                    "unknown_since",
                ],
            },
        ),
        (_("Origin"), {"classes": ["collapse"], "fields": ["source", "source_ref", "batch", "idempotency_key"]}),
        (_("Dates"), {"fields": ["created_at", "updated_at", "completed_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # hold_reason: hold_detail worded in the staff user's language (payouts.hold_reasons).
        return [*(f.name for f in self.model._meta.fields if f.name not in self.exclude), "hold_reason"]


@admin.register(PayoutReview)
class PayoutReviewAdmin(ReviewQueueMixin, PayoutAdmin):
    """The review queue: payouts waiting in pending_approval, why they wait, how many
    approvals they have, and (for approvers) Approve and Reject on each row."""

    list_display = ["short_reference", "customer", "amount_with_currency", "method", "why_held", "approvals", "created"]
    list_filter = ["hold", "method", "program"]
    date_hierarchy = None
    actions = [approve, reject, cancel]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=Status.PENDING_APPROVAL)

    def changelist_view(self, request, extra_context=None):
        title = {"title": _("Payouts waiting for approval")}
        return super().changelist_view(request, {**title, **(extra_context or {})})


class TopUpActionForm(ActionForm):
    amount = forms.DecimalField(required=False, max_digits=14, decimal_places=2, label=_("Amount"))
    note = forms.CharField(required=False, label=_("Note"))


@admin.action(description=_("Record a top-up (amount and note above)"), permissions=["change"])
def record_top_up(modeladmin, request, queryset):
    try:
        amount = Decimal(request.POST.get("amount") or "0")
    except InvalidOperation:
        amount = Decimal("0")
    if amount <= 0:
        modeladmin.message_user(request, _("Enter a positive amount."), messages.ERROR)
        return
    for account in queryset:
        services.record_funding_top_up(
            account.program, account.currency, amount, actor=request.user, note=request.POST.get("note", "")
        )
    modeladmin.message_user(request, f"Top-up of {amount} recorded.", messages.SUCCESS)


class FundingEntryInline(ReadOnlyInline):
    model = FundingEntry
    fields = ["created_at", "kind", "amount", "balance_after", "payout", "actor", "note"]
    ordering = ["-id"]


@admin.register(FundingAccount)
class FundingAccountAdmin(ProgramScopedAdmin):
    list_display = ["program", "currency", "balance", "low_balance_threshold", "low_funds"]
    readonly_fields = ["balance", "low_balance_alerted_at"]
    inlines = [FundingEntryInline]
    actions = [record_top_up]
    action_form = TopUpActionForm

    @admin.display(boolean=True, description=_("Low funds"))
    def low_funds(self, obj):
        return obj.is_low

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "program", "currency"] if obj else self.readonly_fields


@admin.register(PayoutSettings)
class PayoutSettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "default_provider", "approval_threshold", "four_eyes", "customer_daily_limit"]


class ProviderAccountForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=[(name, name) for name in provider_names()])
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=True))
    webhook_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=True))
    base_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = ProviderAccount
        fields = ["program", "provider", "base_url", "api_key", "webhook_secret", "funding_source_id", "options"]
        help_texts = {
            "options": _(
                "Provider settings as JSON (docs/payouts.md lists each provider's): products per method, customer and "
                'account identifiers, and "catalogue": {"country": "MY", "currency": "MYR"} to mirror its catalogue.'
            )
        }

    def clean_base_url(self):
        url = self.cleaned_data["base_url"]
        if url:  # requests go there from our servers: public addresses only (SSRF)
            check_public_url(url, allow_loopback=settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL)
        return url


@admin.register(ProviderAccount)
class ProviderAccountAdmin(ProgramScopedAdmin):
    form = ProviderAccountForm
    list_display = ["program", "provider", "base_url", "webhook_url"]
    actions = ["sync_catalogue_now"]

    @admin.action(description=_("Sync the provider's catalogue now"))
    def sync_catalogue_now(self, request, queryset):
        for account in queryset.select_related("program"):
            filters = (account.options or {}).get("catalogue") or {}
            try:
                result = catalogue.sync_catalogue(
                    account.program,
                    account.provider,
                    country=str(filters.get("country", "")),
                    currency=str(filters.get("currency", "")),
                    category=str(filters.get("category", "")),
                )
            except (ProviderUnavailable, NotImplementedError) as exc:
                self.message_user(request, f"{account}: {exc or _('no catalogue')}", messages.ERROR)
                continue
            self.message_user(
                request,
                _(
                    "%(account)s: %(added)s added, %(changed)s changed, %(withdrawn)s withdrawn, %(unchanged)s unchanged."
                )
                % {"account": account, **vars(result)},
                messages.SUCCESS,
            )

    @admin.display(description=_("Webhook URL to give the provider"))
    def webhook_url(self, obj):
        return reverse("payout-provider-webhook", args=[obj.provider, obj.program.slug])


class BulkUploadForm(forms.Form):
    program = forms.ModelChoiceField(queryset=None)
    file = forms.FileField(help_text=_("CSV: customer, amount, method, currency, email, vpa, iban, ... (see docs)"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = allowed_programs(user)


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ProgramScopedAdmin):
    list_display = ["id", "program", "filename", "row_count", "total_amount", "progress", "uploaded_by", "created_at"]
    readonly_fields = [
        "program",
        "filename",
        "uploaded_by",
        "row_count",
        "total_amount",
        "created_at",
        "progress_detail",
    ]
    change_list_template = "admin/payouts/payoutbatch/change_list.html"

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="payouts_payoutbatch_upload")
        return [upload, *super().get_urls()]

    @admin.display(description=_("Progress"))
    def progress(self, obj):
        state = bulk.batch_progress(obj)
        return format_html(
            '<progress max="{}" value="{}"></progress> {} of {}',
            state["total"],
            state["done"],
            state["done"],
            state["total"],
        )

    @admin.display(description=_("Progress by status"))
    def progress_detail(self, obj):
        state = bulk.batch_progress(obj)
        rows = format_html_join("", "<li>{}: {}</li>", sorted(state["counts"].items()))
        return format_html("{}<ul>{}</ul>", self.progress(obj), rows)

    def upload_view(self, request):
        if not self.has_view_permission(request) or not request.user.has_perm("payouts.add_payout"):
            if not request.user.is_superuser:
                raise PermissionDenied
        form = BulkUploadForm(request.POST or None, request.FILES or None, user=request.user)
        plan = None
        if request.method == "POST" and form.is_valid():
            program = form.cleaned_data["program"]
            upload = form.cleaned_data["file"]
            plan = bulk.parse_csv(program, upload.read())
            if not plan.errors:
                batch = bulk.create_batch(program, plan, user=request.user, filename=upload.name)
                self.message_user(request, f"{batch.row_count} payouts created.", messages.SUCCESS)
                return redirect("admin:payouts_payoutbatch_change", batch.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Upload bulk payouts"),
            "form": form,
            "plan": plan,
        }
        return TemplateResponse(request, "admin/payouts/payoutbatch/upload.html", context)


class ReconcileForm(forms.Form):
    program = forms.ModelChoiceField(queryset=None)
    provider = forms.ChoiceField(choices=[(name, name) for name in provider_names()])
    start = forms.DateTimeField(help_text="YYYY-MM-DD HH:MM")
    end = forms.DateTimeField(help_text="YYYY-MM-DD HH:MM")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = allowed_programs(user)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ProgramScopedAdmin):
    list_display = [
        "id",
        "program",
        "provider",
        "period_start",
        "period_end",
        "matched",
        "mismatch_count",
        "created_at",
    ]
    readonly_fields = ["program", "provider", "period_start", "period_end", "matched", "mismatch_table", "created_at"]
    exclude = ["mismatches"]
    change_list_template = "admin/payouts/reconciliationrun/change_list.html"

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        run = path("run/", self.admin_site.admin_view(self.run_view), name="payouts_reconciliationrun_run")
        return [run, *super().get_urls()]

    @admin.display(description=_("Mismatches"))
    def mismatch_table(self, obj):
        if not obj.mismatches:
            return _("None: our records match the provider's statement.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((m["kind"], m["reference"], m["our_status"], m["detail"]) for m in obj.mismatches),
        )
        return format_html(
            "<table><thead><tr><th>kind</th><th>reference</th><th>our status</th><th>detail</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def run_view(self, request):
        now = timezone.now()
        initial = {"start": now - timezone.timedelta(days=1), "end": now}
        form = ReconcileForm(request.POST or None, initial=initial, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                run = reconciliation.reconcile(data["program"], data["provider"], data["start"], data["end"])
            except NotImplementedError:
                self.message_user(request, _("This provider offers no statement."), messages.ERROR)
            else:
                return redirect("admin:payouts_reconciliationrun_change", run.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Reconcile with a provider statement"),
            "form": form,
        }
        return TemplateResponse(request, "admin/payouts/reconciliationrun/run.html", context)


@admin.register(ProviderWebhookReceipt)
class ProviderWebhookReceiptAdmin(ProgramScopedAdmin):
    list_display = ["received_at", "provider", "event_id", "result"]
    list_filter = ["provider"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SandboxOrder)
class SandboxOrderAdmin(ProgramScopedAdmin):
    """The sandbox provider's own order book (what 'the provider' believes)."""

    list_display = ["order_id", "external_id", "amount", "currency", "state", "placed", "calls", "created_at"]
    list_filter = ["state", "placed"]


@admin.register(ProviderProduct)
class ProviderProductAdmin(ReadOnlyScopedAdmin):
    """The providers' catalogues as last synced (read-only: the sync is the only writer)."""

    list_display = ["name", "program", "provider", "currency", "value_range", "category", "active", "changed_at"]
    list_filter = ["provider", "active", "currency", "category"]
    search_fields = ["name", "brand", "product_id"]

    @admin.display(description=_("Amounts"))
    def value_range(self, obj):
        if obj.value_type == ProviderProduct.ValueType.FIXED:
            return ", ".join(obj.face_values)
        return f"{obj.min_value} – {obj.max_value}"

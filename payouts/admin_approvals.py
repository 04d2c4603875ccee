"""The approval side of the payouts admin: Approve and Reject on a payout's page and in the
review queue, the queue's compact columns, and the words that say how far an approval is.

Every decision goes through payouts.services.approve_payout / reject_payout, which check
the approve_payout permission, the payout's program (tenancy) and four eyes; the views here
parse a POST, call one of them and say what happened. They answer POST only (CSRF-checked
by the admin); a GET shows the payout (approve) or the reason form (reject).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from payouts import hold_reasons, services
from payouts.models import Hold, PayoutApproval, Status

APPROVE = PayoutApproval.Decision.APPROVE


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejecting"),
        max_length=services.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40, "aria-describedby": "reason-help"}),
        help_text=_("Recorded with the payout and shown in its history."),
        error_messages={"required": _("Give a reason for rejecting this payout.")},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(self.fields["reason"].error_messages["required"], code="required")
        return reason


def approvals_progress(count, required):
    """ "1 of 2 approvals — another staff user must approve." and its siblings."""
    remaining = max(required - count, 0)
    values = {"count": count, "required": required, "remaining": remaining}
    if remaining == 0:
        return gettext("%(count)d of %(required)d approvals.") % values
    if remaining == 1 and count:
        return gettext("%(count)d of %(required)d approvals — another staff user must approve.") % values
    if remaining == 1:
        return gettext("%(count)d of %(required)d approvals — one staff user must approve.") % values
    return gettext("%(count)d of %(required)d approvals — %(remaining)d different staff users must approve.") % values


def hold_label(payout):
    """The kind of hold in words, shown above its reason; none for an approval hold, whose
    reason says it all ("Above the approval threshold of 100.00 MYR.")."""
    return "" if payout.hold == Hold.APPROVAL else str(payout.get_hold_display())


def about(payout, text):
    """A message about one payout: "Payout gjp_…: <text>"."""
    return gettext("Payout %(reference)s: %(text)s") % {"reference": payout.reference, "text": text}


def short_datetime(value):
    """A compact local date and time ("4 Dec, 15:02"; the year only when not this year),
    with the full one as a tooltip."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    compact = "j M, H:i" if local.year == timezone.localtime().year else "j M Y, H:i"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        formats.date_format(local, "DATETIME_FORMAT"),
        formats.date_format(local, compact),
    )


class ApprovalAdminMixin:
    """For a ModelAdmin of Payout (or its proxy): `<pk>/approve/` and `<pk>/reject/`, the
    decision panel on the change page (which has nothing to save), and compact columns."""

    change_form_template = "admin/payouts/payout/change_form.html"

    class Media:
        css = {"all": ["payouts/admin_payouts.css"]}
        js = ["payouts/admin_payouts.js"]

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm("payouts.approve_payout")

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("<path:object_id>/approve/", self.admin_site.admin_view(self.approve_view), name=f"{prefix}_approve"),
            path("<path:object_id>/reject/", self.admin_site.admin_view(self.reject_view), name=f"{prefix}_reject"),
        ]
        return [*own, *super().get_urls()]

    # --- columns ------------------------------------------------------------------------

    @admin.display(description=_("Payout"), ordering="reference")
    def short_reference(self, obj):
        return format_html('<span title="{}">{}…</span>', obj.reference, obj.reference[:12])

    @admin.display(description=_("Amount"), ordering="amount")
    def amount_with_currency(self, obj):
        return format_html('<span class="amount">{}&nbsp;{}</span>', formats.number_format(obj.amount, 2), obj.currency)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("Why it waits"), ordering="hold")
    def why_held(self, obj):
        reason = hold_reasons.describe(obj)
        link = format_html(
            '<a href="{}" title="{}">{}</a>', self._url(obj, "change"), reason, Truncator(reason).chars(48)
        )
        label = hold_label(obj)
        return format_html("<strong>{}</strong><br>{}", label, link) if label else link

    @admin.display(description=_("Why it waits"))
    def hold_reason(self, obj):
        return hold_reasons.describe(obj)

    # --- the change page ------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payout = self.get_object(request, unquote(object_id))
        # Every field is read-only: the page has no Save; decisions have their own buttons.
        context = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        if payout is not None and payout.status == Status.PENDING_APPROVAL:
            context["decision"] = self.decision_context(request, payout)
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def decision_context(self, request, payout, reject_form=None):
        approvals = list(payout.approvals.select_related("user"))
        approved = [approval for approval in approvals if approval.decision == APPROVE]
        decided = any(approval.user_id == request.user.pk for approval in approvals)
        can_decide = self.has_approve_permission(request, payout)
        if payout.hold == Hold.FUNDS:
            progress, why_not = gettext("Waiting for funds: a top-up of the funding account releases it."), ""
        else:
            progress = approvals_progress(len(approved), payout.approvals_required)
            why_not = (
                gettext("You approved this payout; another staff user must approve it.")
                if decided
                else gettext("You requested this payout; another staff user must approve it.")
                if payout.requested_by_id == request.user.pk
                else ""
            )
        return {
            "payout": payout,
            "hold_label": hold_label(payout),
            "hold_reason": hold_reasons.describe(payout),
            "approved": approved,
            "progress": progress,
            "why_not": why_not,
            "can_approve": can_decide and payout.hold != Hold.FUNDS and not why_not,
            "can_reject": can_decide and not decided,
            "approve_url": self._url(payout, "approve"),
            "reject_url": self._url(payout, "reject"),
            "reject_form": reject_form or RejectForm(),
            "next": self.after_decision_url(request),
        }

    def after_decision_url(self, request):
        """Where the panel's buttons return: this page, which then shows the outcome."""
        return request.get_full_path()

    # --- the decision views ----------------------------------------------------------------

    def approve_view(self, request, object_id):
        payout = self._payout_or_none(request, object_id)
        if payout is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method != "POST":
            return redirect(self._url(payout, "change"))
        try:
            payout = services.approve_payout(payout.pk, user=request.user)
        except services.PayoutError as error:
            self.message_user(request, about(payout, error.message), messages.ERROR)
        else:
            self.message_user(request, self.approved_message(payout), messages.SUCCESS)
        return redirect(self._next(request, payout))

    def reject_view(self, request, object_id):
        payout = self._payout_or_none(request, object_id)
        if payout is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if payout.status != Status.PENDING_APPROVAL:
            self.message_user(request, gettext("This payout is not waiting for an approval."), messages.WARNING)
            return redirect(self._url(payout, "change"))
        form = RejectForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                services.reject_payout(payout.pk, user=request.user, reason=form.cleaned_data["reason"])
            except services.PayoutError as error:
                if error.attr != "reason":
                    self.message_user(request, about(payout, error.message), messages.ERROR)
                    return redirect(self._next(request, payout))
                form.add_error("reason", str(error.message))
            else:
                message = gettext("Payout %(reference)s rejected and cancelled: %(reason)s")
                reason = form.cleaned_data["reason"]
                self.message_user(
                    request, message % {"reference": payout.reference, "reason": reason}, messages.SUCCESS
                )
                return redirect(self._next(request, payout))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Reject payout %(reference)s") % {"reference": payout.reference},
            "decision": {
                **self.decision_context(request, payout, reject_form=form),
                "can_approve": False,
                "next": self._next(request, payout),
            },
            "original": payout,
        }
        return TemplateResponse(request, "admin/payouts/payout/reject.html", context)

    def _payout_or_none(self, request, object_id):
        """The payout if this user may see it (its program is theirs), else None."""
        payout = self.get_object(request, unquote(object_id))
        if payout is not None and not self.has_view_or_change_permission(request, payout):
            raise PermissionDenied
        return payout

    def approved_message(self, payout):
        """What an approval achieved: released, waiting for funds, or how many more are needed."""
        count = services.approval_count(payout)
        values = {"reference": payout.reference, "count": count, "required": payout.approvals_required}
        if payout.status == Status.QUEUED:
            return gettext("Payout %(reference)s approved (%(count)d of %(required)d): released for payment.") % values
        if payout.hold == Hold.FUNDS:
            return gettext("Payout %(reference)s approved; it waits for funds: top up the funding account.") % values
        return about(payout, approvals_progress(count, payout.approvals_required))

    def _url(self, payout, view):
        return _admin_url(self.opts, payout, view)

    def _next(self, request, payout):
        target = request.POST.get("next") or request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        return self._url(payout, "change")


def _admin_url(opts, payout, view):
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[payout.pk])


class ReviewQueueMixin(ApprovalAdminMixin):
    """The review queue's own columns: approvals so far and, for users who may approve, a
    Decision column with an Approve button (posting the changelist form, with its CSRF
    token, to `<pk>/approve/`) and a link to the reject page."""

    def get_queryset(self, request):
        # The columns' data in the list's one query: approvals so far, and this user's decision.
        mine = PayoutApproval.objects.filter(payout=OuterRef("pk"), user=request.user.pk)
        approved = Count("approvals", filter=Q(approvals__decision=APPROVE))
        return super().get_queryset(request).annotate(approved_count=approved, decided_by_me=Exists(mine))

    def after_decision_url(self, request):
        # A decided payout leaves the queue (its page here would be gone): back to the queue.
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    @admin.display(description=_("Approvals"))
    def approvals(self, obj):
        # Worded in full: on a phone the row is a card without column headers.
        values = {"count": obj.approved_count, "required": obj.approvals_required}
        return gettext("%(count)d of %(required)d approvals") % values

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if self.has_approve_permission(request):
            columns.append(self._decide_column(request))
        return columns

    def _decide_column(self, request):
        """The Decision column for this request's user (a ModelAdmin is shared by requests,
        so what depends on the user lives in this closure, not on self)."""
        opts, here = self.opts, request.get_full_path()

        @admin.display(description=_("Decision"))
        def decide(obj):
            short = obj.reference[:12]
            reject = format_html(
                '<a class="button reject-link" href="{}?{}" aria-label="{} {}">{}</a>',
                _admin_url(opts, obj, "reject"),
                urlencode({"next": here}),
                gettext("Reject…"),
                short,
                gettext("Reject…"),
            )
            if obj.decided_by_me:
                return format_html('<span class="decided">{}</span>', gettext("You approved; another staff user must."))
            if obj.hold == Hold.FUNDS:
                return format_html('<span class="decided">{}</span> {}', gettext("Waiting for funds."), reject)
            if obj.requested_by_id == request.user.pk:
                return format_html('<span class="decided">{}</span> {}', gettext("You requested it."), reject)
            approve = format_html(
                '<button type="submit" class="button default approve-button" formaction="{}" formmethod="post" '
                'name="next" value="{}" aria-label="{} {}">{}</button>',
                _admin_url(opts, obj, "approve"),
                here,
                gettext("Approve"),
                short,
                gettext("Approve"),
            )
            return format_html("{} {}", approve, reject)

        return decide

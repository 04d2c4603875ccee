"""Admin for fulfilments and charities: staff see the shipping address, move a fulfilment
only through rewards.fulfilment ("Mark shipped" with carrier and tracking, "Mark delivered",
"Mark returned", "Mark donated", "Mark booked" with the booking code) and keep each
program's charity list. No field of a fulfilment is edited directly."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from engagement.admin_links import link_column
from engagement.tenancy import ProgramScopedAdmin
from rewards import fulfilment
from rewards.errors import RewardsError
from rewards.models import Charity, Fulfilment, FulfilmentStatus

S = FulfilmentStatus
ACTION_LABELS = {
    S.SHIPPED: _("Mark shipped"),
    S.DELIVERED: _("Mark delivered"),
    S.RETURNED: _("Mark returned"),
    S.DONATED: _("Mark donated"),
    S.BOOKED: _("Mark booked"),
}


class MoveForm(forms.Form):
    """The details a move needs; fields not used by the target status are removed."""

    carrier = forms.CharField(label=_("Carrier"), max_length=60)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=80)
    booking_code = forms.CharField(label=_("Booking code"), max_length=80)
    receipt_number = forms.CharField(
        label=_("Receipt number"), max_length=40, required=False, help_text=_("Empty: numbered for you.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    FIELDS = {
        S.SHIPPED: ("carrier", "tracking_number"),
        S.BOOKED: ("booking_code",),
        S.DONATED: ("receipt_number",),
        S.RETURNED: ("reason",),
        S.DELIVERED: (),
    }

    def __init__(self, *args, to_status, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in self.FIELDS[to_status]:
                del self.fields[name]


def _move(to_status, pk, data, actor):
    if to_status == S.SHIPPED:
        return fulfilment.mark_shipped(
            pk, carrier=data["carrier"], tracking_number=data["tracking_number"], actor=actor
        )
    if to_status == S.DELIVERED:
        return fulfilment.mark_delivered(pk, actor=actor)
    if to_status == S.RETURNED:
        return fulfilment.mark_returned(pk, actor=actor, reason=data.get("reason", ""))
    if to_status == S.DONATED:
        return fulfilment.mark_donated(pk, receipt_number=data.get("receipt_number", ""), actor=actor)
    return fulfilment.mark_booked(pk, booking_code=data["booking_code"], actor=actor)


class StatusChangeInline(admin.TabularInline):
    model = Fulfilment.status_changes.rel.related_model
    fields = ["created_at", "from_status", "to_status", "reason", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Fulfilment)
class FulfilmentAdmin(ProgramScopedAdmin):
    list_display = ["created_at", "redemption_link", "customer", "kind", "status", "shipment", "next_steps"]
    redemption_link = link_column("redemption", _("redemption"))
    list_filter = ["kind", "status", "program"]
    search_fields = ["redemption__customer__external_id", "tracking_number", "receipt_number", "booking_code"]
    list_select_related = ["redemption__customer", "redemption__item"]
    inlines = [StatusChangeInline]
    actions = ["mark_delivered", "mark_returned", "mark_donated"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("customer"))
    def customer(self, obj):
        return obj.redemption.customer.external_id

    @admin.display(description=_("shipment, receipt or booking"))
    def shipment(self, obj):
        if obj.tracking_number:
            return f"{obj.carrier} {obj.tracking_number}"
        return obj.receipt_number or obj.booking_code or "–"

    @admin.display(description=_("next steps"))
    def next_steps(self, obj):
        moves = fulfilment.next_statuses(obj)
        if not moves:
            return "–"
        return format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            ((reverse("admin:rewards_fulfilment_move", args=[obj.pk, to]), ACTION_LABELS[to]) for to in moves),
        )

    def get_urls(self):
        move = self.admin_site.admin_view(self.move_view)
        return [path("<int:pk>/move/<str:to>/", move, name="rewards_fulfilment_move"), *super().get_urls()]

    def move_view(self, request, pk, to):
        obj = get_object_or_404(self.get_queryset(request).select_related("redemption__customer"), pk=pk)
        if to not in ACTION_LABELS:
            raise Http404
        if not request.user.has_perm("rewards.change_fulfilment"):
            raise PermissionDenied
        form = MoveForm(request.POST if request.method == "POST" else None, to_status=to)
        if request.method == "POST" and form.is_valid():
            try:
                _move(to, obj.pk, form.cleaned_data, request.user)
            except RewardsError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("%(fulfilment)s: %(status)s.") % {"fulfilment": obj.redemption,
                                                                          "status": S(to).label})  # fmt: skip
                return redirect("admin:rewards_fulfilment_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{ACTION_LABELS[to]}: {obj.redemption}",
            "fulfilment": obj,
            "form": form,
            "submit": ACTION_LABELS[to],
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/rewards/fulfilment_move.html", context, status=400 if form.errors else 200
        )

    def _bulk(self, request, queryset, to):
        if not request.user.has_perm("rewards.change_fulfilment"):
            raise PermissionDenied
        done, refused = 0, []
        for pk in queryset.values_list("pk", flat=True):
            try:
                _move(to, pk, {}, request.user)
                done += 1
            except RewardsError as exc:
                refused.append(f"#{pk}: {exc.message}")
        messages.info(request, _("%(n)d fulfilment(s): %(status)s.") % {"n": done, "status": S(to).label})
        if refused:
            messages.warning(request, "; ".join(refused))

    @admin.action(description=_("Mark selected delivered"))
    def mark_delivered(self, request, queryset):
        self._bulk(request, queryset, S.DELIVERED)

    @admin.action(description=_("Mark selected returned (refund their points)"))
    def mark_returned(self, request, queryset):
        self._bulk(request, queryset, S.RETURNED)

    @admin.action(description=_("Mark selected donated (number their receipts)"))
    def mark_donated(self, request, queryset):
        self._bulk(request, queryset, S.DONATED)


@admin.register(Charity)
class CharityAdmin(ProgramScopedAdmin):
    list_display = ["name_en", "name_ar", "name_ms", "registration", "program", "active", "position"]
    list_editable = ["active", "position"]
    list_filter = ["program", "active"]
    search_fields = ["name_en", "registration"]

"""Campaign admin: the builder (trigger, conditions, actions inline, validated with the same
rules as the API, errors naming what is wrong), stats, pause/resume/clone, the simulator and
"new from template"."""

import functools
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from engagement.tenancy import ProgramScopedAdmin, allowed_programs
from rewards.campaigns import builder, lifecycle, sentence, simulator, stats
from rewards.campaigns import templates as campaign_templates
from rewards.campaigns.limits import BUDGET_EXHAUSTED
from rewards.campaigns.models import (
    ActionRun,
    Campaign,
    CampaignAction,
    CampaignEffect,
    PendingTrigger,
    TeamNotification,
)


class CampaignActionInline(admin.StackedInline):
    model = CampaignAction
    form = builder.ActionForm
    formset = builder.ActionFormSet
    extra = 0
    min_num = 1
    fields = [
        ("kind", "position"),
        "points",
        "amount",
        "percent",
        "max_points",
        "rounding",
        "tier_multiplier",
        "reason",
        "item",
        "survey",
        "template_key",
        "channels",
        "method",
        "subject",
        "body",
        "webhook_type",
        "delay",
        "cancel_if_event_type",
    ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Actions are validated against the campaign's program (on a new campaign, the one its
        # form chose); until a program is known, choices span the staff member's programs.
        formset.programs = list(allowed_programs(request.user))
        return formset


@admin.register(Campaign)
class CampaignAdmin(ProgramScopedAdmin):
    form = builder.CampaignForm
    inlines = [CampaignActionInline]
    list_display = ["name", "program", "status", "what_it_does", "priority", "spent_points"]
    list_filter = ["program", "status", "trigger_kind"]
    search_fields = ["name"]
    readonly_fields = [
        "status",
        "stats_table",
        "spent_points",
        "spent_money",
        "grants_count",
        "paused_reason",
        "last_error",
        "last_error_at",
        "template_key",
    ]
    actions = ["pause_selected", "resume_selected", "clone_selected"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    change_list_template = "admin/campaigns/campaign/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "program",
                    "name",
                    "description",
                    "status",
                    "paused_reason",
                    "last_error",
                    "last_error_at",
                    "priority",
                    "seen_status",
                ]
            },
        ),
        (
            _("Customer-facing title"),
            {"fields": ["customer_title_en", "customer_title_ar", "customer_title_ms"]},
        ),
        (_("When"), {"fields": ["starts_at", "ends_at"]}),
        (
            _("Trigger: when does it fire?"),
            {
                "fields": [
                    "trigger_kind",
                    "event_type",
                    ("min_value", "max_value"),
                    ("nth", "repeat"),
                    ("threshold", "direction"),
                    "segments",
                    "churn_above",
                    "inactive_for",
                    "cart_wait",
                    "ticket_wait",
                    ("survey_kind", "band"),
                    "answered_survey",
                    ("tier_from", "tier_to"),
                    "which_date",
                    ("frequency", "day"),
                    "sample_percent",
                ],
                "description": _("Only the settings of the chosen kind are shown and used. See docs/campaigns.md."),
            },
        ),
        (
            _("Who: which customers?"),
            {"fields": ["audience", "audience_segments", "audience_tiers", "audience_rfm", "audience_filters"]},
        ),
        (
            _("Limits and budget"),
            {
                "fields": [
                    "per_customer_limit",
                    "per_customer_period_days",
                    "budget_points",
                    "budget_money",
                    "max_grants",
                    "spent_points",
                    "spent_money",
                    "grants_count",
                ]
            },
        ),
        (_("Results"), {"fields": ["stats_table", "template_key"]}),
    ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form validated what it could; lifecycle re-checks under the campaign's row lock
        # (a budget lowered below what was spent meanwhile). Its refusal rolls the whole save
        # back and is shown as a message instead of a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except lifecycle.CampaignInvalid as exc:
            problems = "; ".join(f"{attr}: {message}" if attr else message for attr, message in exc.errors)
            self.message_user(request, _("Not saved: %(problems)s") % {"problems": problems}, messages.ERROR)
            return redirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        # Nothing is written here: save_related stores the campaign and its actions together
        # through lifecycle, the only writer of campaigns (its status, budget counters and error
        # record have their own writers that may have moved them since this form was loaded).
        pass

    def save_related(self, request, form, formsets, change):
        data = {**form.rule_data(), "actions": self._action_items(formsets)}
        if change:
            saved = lifecycle.update_campaign(form.instance, data, actor=request.user)
            self._tell_what_moved(request, form.cleaned_data.get("seen_status"), saved)
        else:
            saved = lifecycle.create_campaign(form.cleaned_data["program"], data, actor=request.user)
        form.instance.pk = saved.pk
        for formset in formsets:
            # Read by construct_change_message (the history entry); lifecycle saved the rows.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _action_items(self, formsets):
        rows = [
            form
            for formset in formsets
            for form in formset.forms
            if form.cleaned_data.get("kind") and not form.cleaned_data.get("DELETE")
        ]
        rows.sort(key=lambda form: form.cleaned_data.get("position") or 0)
        return [form.action_item() for form in rows]

    def _tell_what_moved(self, request, seen_status, campaign):
        """A form opened before a status move (a budget pause, an error) never moves the
        campaign back: lifecycle leaves the status alone, and the user is told what happened."""
        if seen_status not in Campaign.Status.values or seen_status == campaign.status:
            return
        moved = _("While this page was open, the campaign moved from %(from)s to %(to)s.") % {
            "from": Campaign.Status(seen_status).label,
            "to": campaign.get_status_display(),
        }
        if campaign.status == Campaign.Status.PAUSED and campaign.paused_reason == BUDGET_EXHAUSTED:
            moved = _(
                "While this page was open, the campaign was paused because its budget ran out. "
                "Your changes are saved and it stays paused: raise the budget, then resume it."
            )
        self.message_user(request, moved, messages.WARNING)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program").prefetch_related("actions")

    @admin.display(description=_("What it does"))
    def what_it_does(self, obj):
        return sentence.describe(obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["campaign_sentence"] = sentence.describe(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("Stats"))
    def stats_table(self, obj):
        if not obj or not obj.pk:
            return "-"
        rows = stats.campaign_stats(obj).items()
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((k, v) for k, v in rows))
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.programs = list(allowed_programs(request.user))
        return form

    def get_urls(self):
        own = [
            path("from-template/", self.admin_site.admin_view(self.from_template_view), name="campaigns_from_template"),
            path("<int:pk>/simulate/", self.admin_site.admin_view(self.simulate_view), name="campaigns_simulate"),
            path("<int:pk>/status/<str:to>/", self.admin_site.admin_view(self.status_view), name="campaigns_status"),
            path("<int:pk>/clone/", self.admin_site.admin_view(self.clone_view), name="campaigns_clone"),
        ]
        return own + super().get_urls()

    def _campaign(self, request, pk):
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def _change_url(self, campaign):
        return reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    def _apply(self, request, campaign, fn, done):
        try:
            fn(campaign)
        except lifecycle.CampaignInvalid as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        self.message_user(request, done.format(name=campaign.name), messages.SUCCESS)
        return True

    def status_view(self, request, pk, to):
        campaign = self._campaign(request, pk)
        if request.method == "POST" and self.has_change_permission(request, campaign):
            fn = (
                functools.partial(lifecycle.resume, actor=request.user)
                if to == "active" and campaign.status in ("paused", "error")
                else lambda c: lifecycle.set_status(c, to, actor=request.user)
            )
            self._apply(request, campaign, fn, _("{name}: now %(to)s.") % {"to": to})
        return redirect(self._change_url(campaign))

    def clone_view(self, request, pk):
        campaign = self._campaign(request, pk)
        if request.method == "POST" and self.has_add_permission(request):
            copy = lifecycle.clone(campaign)
            self.message_user(request, _("Cloned as a draft."), messages.SUCCESS)
            return redirect(self._change_url(copy))
        return redirect(self._change_url(campaign))

    def simulate_view(self, request, pk):
        campaign = self._campaign(request, pk)
        now = timezone.now().replace(microsecond=0)
        form = SimulateForm(request.POST or None, initial={"start": now - timedelta(days=30), "end": now})
        report = None
        if request.method == "POST" and form.is_valid():
            report = simulator.simulate(campaign, form.cleaned_data["start"], form.cleaned_data["end"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulate: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "form": form,
            "report": report,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/simulate.html", context)

    def from_template_view(self, request):
        form = FromTemplateForm(request.POST or None, programs=allowed_programs(request.user))
        if request.method == "POST" and form.is_valid() and self.has_add_permission(request):
            try:
                campaign = campaign_templates.create_from_template(
                    form.cleaned_data["program"], form.cleaned_data["template"]
                )
            except lifecycle.CampaignInvalid as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, _("Created as a draft: review it, then activate."), messages.SUCCESS)
                return redirect(self._change_url(campaign))
        context = {
            **self.admin_site.each_context(request),
            "title": _("New campaign from a template"),
            "form": form,
            "templates": campaign_templates.template_choices(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/from_template.html", context)

    @admin.action(description=_("Pause selected campaigns"))
    def pause_selected(self, request, queryset):
        for campaign in queryset.filter(status__in=["active", "scheduled"]):
            self._apply(request, campaign, functools.partial(lifecycle.pause, actor=request.user), _("{name}: paused."))

    @admin.action(description=_("Resume selected campaigns"))
    def resume_selected(self, request, queryset):
        for campaign in queryset.filter(status__in=["paused", "error"]):
            self._apply(
                request, campaign, functools.partial(lifecycle.resume, actor=request.user), _("{name}: resumed.")
            )

    @admin.action(description=_("Clone selected campaigns (as drafts)"))
    def clone_selected(self, request, queryset):
        for campaign in queryset:
            lifecycle.clone(campaign)
        self.message_user(request, _("Cloned."), messages.SUCCESS)


class SimulateForm(forms.Form):
    start = forms.DateTimeField()
    end = forms.DateTimeField()

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError(_("The end must be after the start."))
        return data


class FromTemplateForm(forms.Form):
    program = forms.ModelChoiceField(queryset=None)
    template = forms.ChoiceField(choices=[])

    def __init__(self, *args, programs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs
        self.fields["template"].choices = campaign_templates.template_choices()


class ReadOnlyAdmin(ProgramScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CampaignEffect)
class CampaignEffectAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "customer", "occurrence", "status", "occurred_at", "value", "created_at"]
    list_filter = ["status", "campaign"]
    search_fields = ["customer__external_id", "occurrence"]
    list_select_related = ["campaign", "customer"]


@admin.register(ActionRun)
class ActionRunAdmin(ReadOnlyAdmin):
    program_path = "campaign__program"
    list_display = ["campaign", "customer", "kind", "status", "due_at", "executed_at", "points", "money", "detail"]
    list_filter = ["status", "kind", "campaign"]
    search_fields = ["customer__external_id"]
    list_select_related = ["campaign", "customer"]


@admin.register(PendingTrigger)
class PendingTriggerAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "customer", "occurrence", "status", "occurred_at", "due_at", "resolved_at"]
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign", "customer"]


@admin.register(TeamNotification)
class TeamNotificationAdmin(ProgramScopedAdmin):
    list_display = ["subject", "customer", "campaign", "created_at", "done_at"]
    list_filter = ["program", "done_at"]
    readonly_fields = ["program", "campaign", "customer", "subject", "body", "created_at"]
    actions = ["mark_done"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Mark as done"))
    def mark_done(self, request, queryset):
        queryset.filter(done_at__isnull=True).update(done_at=timezone.now())

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
from rewards.campaigns import lifecycle, simulator, stats, validation
from rewards.campaigns import templates as campaign_templates
from rewards.campaigns.conditions import ConditionError
from rewards.campaigns.limits import BUDGET_EXHAUSTED
from rewards.campaigns.models import (
    ActionRun,
    Campaign,
    CampaignAction,
    CampaignEffect,
    PendingTrigger,
    TeamNotification,
)
from rewards.campaigns.validation import LIMIT_FIELDS

# Where an error of validation.rule_errors (an attr of the API's shape) shows on the form.
FORM_FIELDS = {
    "trigger.kind": "trigger_kind",
    "trigger": "trigger_config",
    "conditions": "conditions",
    "audience.kind": "audience",
    "audience.values": "audience_values",
    "audience.attributes": "audience_attributes",
    "audience": "audience",
    "limits.per_customer": "per_customer_limit",
    "limits.per_customer_period_days": "per_customer_period_days",
    "limits.budget_points": "budget_points",
    "limits.budget_money": "budget_money",
    "limits.max_grants": "max_grants",
    "name": "name",
    "priority": "priority",
    "ends_at": "ends_at",
}


def _error(exc):
    return f"{exc.attr}: {exc}" if exc.attr else str(exc)


def form_field(attr):
    """The form field an error attr belongs to (the longest known prefix), or None."""
    parts = attr.split(".")
    for end in range(len(parts), 0, -1):
        if (field := FORM_FIELDS.get(".".join(parts[:end]))) is not None:
            return field
    return None


class CampaignForm(forms.ModelForm):
    """The campaign's own fields; its status moves only through lifecycle (the status buttons
    and actions), so it is read-only here. `seen_status` is the status the page showed when it
    was opened: saving compares it with the stored one to tell the user what moved meanwhile."""

    seen_status = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seen_status"].initial = self.instance.status

    class Meta:
        model = Campaign
        fields = [
            "program",
            "name",
            "description",
            "priority",
            "starts_at",
            "ends_at",
            "audience",
            "audience_values",
            "audience_attributes",
            "conditions",
            "trigger_kind",
            "trigger_config",
            "per_customer_limit",
            "per_customer_period_days",
            "budget_points",
            "budget_money",
            "max_grants",
        ]

    def rule_data(self):
        """The cleaned form as lifecycle's input (the API's shape), without the actions."""
        data = self.cleaned_data
        return {
            "name": data.get("name") or "",
            "description": data.get("description") or "",
            "customer_titles": {lang: data.get(f"customer_title_{lang}", "") for lang in lifecycle.TITLE_LANGUAGES},
            "priority": data.get("priority") if data.get("priority") is not None else 0,
            "starts_at": data.get("starts_at"),
            "ends_at": data.get("ends_at"),
            "audience": {
                "kind": data.get("audience") or "all",
                "values": data.get("audience_values") or [],
                "attributes": data.get("audience_attributes") or {},
            },
            "trigger": {"kind": data.get("trigger_kind"), "config": data.get("trigger_config") or {}},
            "conditions": data.get("conditions") or [],
            "limits": {key: data.get(name) for key, name in LIMIT_FIELDS.items() if data.get(name) is not None},
        }

    def clean(self):
        data = super().clean()
        rule = self.rule_data()
        for attr, message in validation.rule_errors(data.get("program"), rule, actions=False):
            field = form_field(attr)
            self.add_error(field if field in self.fields and field in data else None, f"{attr}: {message}")
        return data


class ActionForm(forms.ModelForm):
    class Meta:
        model = CampaignAction
        fields = ["position", "kind", "config", "delay_minutes", "cancel_if_event_type"]

    def action_item(self):
        """The cleaned row as one item of lifecycle's `actions` (its id keeps the row's runs)."""
        data = self.cleaned_data
        return {
            "id": self.instance.pk,
            "kind": data["kind"],
            "config": data.get("config") or {},
            "delay_minutes": data.get("delay_minutes") or 0,
            "cancel_if_event_type": data.get("cancel_if_event_type") or "",
        }

    def clean(self):
        data = super().clean()
        program = getattr(self.instance.campaign, "program", None) if self.instance.campaign_id else None
        program = program or getattr(self, "program", None)
        if data.get("kind") and not self.cleaned_data.get("DELETE"):
            item = {
                "kind": data["kind"],
                "config": data.get("config") or {},
                "delay_minutes": data.get("delay_minutes"),
            }
            try:
                validation.validate_action_item(program, item, "action")
            except ConditionError as exc:
                field = "delay_minutes" if exc.attr and exc.attr.endswith("delay_minutes") else "config"
                self.add_error(field, _error(exc))
        return data


class ActionFormSet(forms.BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.program = getattr(self, "program", None)
        return form

    def clean(self):
        super().clean()
        alive = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not alive:
            raise ValidationError(_("A campaign needs at least one action."))


class CampaignActionInline(admin.StackedInline):
    model = CampaignAction
    form = ActionForm
    formset = ActionFormSet
    extra = 0
    min_num = 1
    help_texts = {}

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.program = obj.program if obj else None
        return formset


@admin.register(Campaign)
class CampaignAdmin(ProgramScopedAdmin):
    form = CampaignForm
    inlines = [CampaignActionInline]
    list_display = [
        "name",
        "program",
        "status",
        "trigger_kind",
        "priority",
        "starts_at",
        "ends_at",
        "spent_points",
        "last_error_at",
    ]
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
        (_("Who"), {"fields": ["audience", "audience_values", "audience_attributes", "conditions"]}),
        (
            _("Trigger"),
            {
                "fields": ["trigger_kind", "trigger_config"],
                "description": _(
                    "Config keys by kind — event: event_type, min_value, max_value, conditions; nth_event: "
                    "event_type, n, repeat; score_threshold: threshold (multiple of 10), direction; "
                    "segment_entered: segments; churn_risk: above (0-1); inactivity: days; cart_abandoned: "
                    "minutes (15); survey_answered: kind, band, survey; ticket_unresolved: hours (48); "
                    "tier_changed: from, to; date: which (birthday | signup_anniversary); schedule: "
                    "frequency, day, sample_percent. See docs/campaigns.md."
                ),
            },
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

    @admin.display(description=_("Stats"))
    def stats_table(self, obj):
        if not obj or not obj.pk:
            return "-"
        rows = stats.campaign_stats(obj).items()
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((k, v) for k, v in rows))
        )

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

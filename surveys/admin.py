"""Admin: surveys (questions in en/ar/ms), settings, invitations, responses, follow-ups,
skips; a report page per survey with an SVG trend chart and CSV export."""

from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from engagement.status_history_admin import StatusChangeInline
from engagement.tenancy import ProgramScopedAdmin
from surveys.charts import trend_svg
from surveys.exports import responses_csv
from surveys.models import (
    Answer,
    FollowUp,
    Invitation,
    InvitationStatusChange,
    Question,
    Response,
    SendSkip,
    Survey,
    SurveySettings,
)
from surveys.reports import PERIODS, survey_report

HEADLINE = {"nps": ("nps", -100, 100), "csat": ("csat", 0, 100), "ces": ("ces", 1, 7), "custom": ("mean", 0, 10)}


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0
    fieldsets = [
        (None, {"fields": [("position", "type", "required", "is_followup"), "text_en", "text_ar", "text_ms"]}),
        (
            _("Rating scale"),
            {
                "fields": [
                    ("scale_min", "scale_max"),
                    ("low_label_en", "low_label_ar", "low_label_ms"),
                    ("high_label_en", "high_label_ar", "high_label_ms"),
                ]
            },
        ),
        (_("Choices"), {"fields": ["choices"], "classes": ["collapse"]}),
        (_("Condition"), {"fields": ["show_if"], "classes": ["collapse"]}),
    ]


@admin.register(Survey)
class SurveyAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "kind", "is_active", "channel_list", "recontact", "report_link"]
    list_filter = ["kind", "is_active", "program"]
    search_fields = ["name"]
    inlines = [QuestionInline]
    actions = ["send_relationship_sample", "export_responses"]
    readonly_fields = ["relationship_last_run_at"]
    fieldsets = [
        (None, {"fields": ["program", "name", "kind", "is_active"]}),
        (
            _("Sending"),
            {
                "fields": [
                    "channels",
                    "link_validity_days",
                    "reminder_delay_hours",
                    "recontact_days",
                    "throttled_action",
                    "allow_fresh_link",
                ]
            },
        ),
        (_("Follow-up by score band"), {"fields": ["followup_texts"]}),
        (
            _("Relationship sample"),
            {
                "fields": [
                    ("relationship_segment", "relationship_percent", "relationship_every_days"),
                    "relationship_last_run_at",
                ]
            },
        ),
    ]

    @admin.display(description=_("channels"))
    def channel_list(self, survey):
        return ", ".join(survey.channels or [])

    @admin.display(description=_("recontact (days)"))
    def recontact(self, survey):
        return survey.get_recontact_days()

    @admin.display(description=_("report"))
    def report_link(self, survey):
        return format_html('<a href="{}">{}</a>', reverse("admin:surveys_survey_report", args=[survey.pk]), _("Report"))

    def get_urls(self):
        own = [
            path("<int:survey_id>/report/", self.admin_site.admin_view(self.report_view), name="surveys_survey_report"),
            path(
                "<int:survey_id>/report/responses.csv",
                self.admin_site.admin_view(self.csv_view),
                name="surveys_survey_responses_csv",
            ),
        ]
        return own + super().get_urls()

    def _survey(self, request, survey_id):
        return get_object_or_404(self.get_queryset(request).select_related("program"), pk=survey_id)

    def report_view(self, request, survey_id):
        survey = self._survey(request, survey_id)
        period = request.GET.get("period", "month")
        period = period if period in PERIODS else "month"
        report = survey_report(survey, period=period)
        field, low, high = HEADLINE[survey.kind]
        points = [
            (p["period_start"], p.get(field), p.get(f"{field}_ci_low"), p.get(f"{field}_ci_high"))
            for p in report["periods"]
        ]
        chart = trend_svg(points, y_min=low, y_max=high, title=f"{survey.name}: {field.upper()} per {period}")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Report: %(name)s") % {"name": survey.name},
            "survey": survey,
            "report": report,
            "headline": field,
            "chart": mark_safe(chart),  # built by surveys.charts with every text escaped
            "periods": list(PERIODS),
            "period": period,
            "opts": self.model._meta,
            "distribution_max": max(report["distribution"].values(), default=0) or 1,
        }
        return TemplateResponse(request, "surveys/admin/report.html", context)

    def csv_view(self, request, survey_id):
        survey = self._survey(request, survey_id)
        return responses_csv(Response.objects.filter(survey=survey), filename=f"survey-{survey.pk}-responses.csv")

    # Django formats action labels with %: no literal percent sign here.
    @admin.action(description=_("Send the relationship sample now (segment and percentage from the survey)"))
    def send_relationship_sample(self, request, queryset):
        from surveys.tasks import send_relationship_sample_task

        ready = [s.pk for s in queryset if s.relationship_segment and s.relationship_percent]
        for survey_id in ready:
            transaction.on_commit(lambda survey_id=survey_id: send_relationship_sample_task.delay(survey_id))
        skipped = queryset.count() - len(ready)
        self.message_user(
            request, _("Relationship sample queued for %(n)d survey(s).") % {"n": len(ready)}, messages.SUCCESS
        )
        if skipped:
            self.message_user(
                request, _("%(n)d survey(s) have no segment or percentage set.") % {"n": skipped}, messages.WARNING
            )

    @admin.action(description=_("Export completed responses as CSV"))
    def export_responses(self, request, queryset):
        return responses_csv(Response.objects.filter(survey__in=queryset))


@admin.register(SurveySettings)
class SurveySettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "cooldown_days", "min_responses_per_period"]


class InvitationStatusChangeInline(StatusChangeInline):
    model = InvitationStatusChange


@admin.register(Invitation)
class InvitationAdmin(ProgramScopedAdmin):
    inlines = [InvitationStatusChangeInline]
    list_display = [
        "id",
        "survey",
        "customer",
        "channel",
        "status",
        "source",
        "invited_at",
        "reminded_at",
        "answered_at",
    ]
    list_filter = ["status", "channel", "source", "survey"]
    search_fields = ["customer__external_id", "customer__name"]
    raw_id_fields = ["customer"]
    # The token is the customer's secret link: never shown.
    readonly_fields = [f.name for f in Invitation._meta.fields if f.name not in ("id", "token")]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # invitations are created by surveys.sending only


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    can_delete = False
    readonly_fields = ["question", "value_int", "value_text", "value_choices"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Response)
class ResponseAdmin(ProgramScopedAdmin):
    list_display = ["id", "survey", "customer", "score", "category", "channel", "segment", "completed_at"]
    list_filter = ["category", "channel", "survey", "segment"]
    search_fields = ["customer__external_id", "customer__name"]
    readonly_fields = [f.name for f in Response._meta.fields]
    inlines = [AnswerInline]
    actions = ["export_csv"]
    date_hierarchy = "completed_at"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Export selected responses as CSV"))
    def export_csv(self, request, queryset):
        return responses_csv(queryset)


@admin.register(FollowUp)
class FollowUpAdmin(ProgramScopedAdmin):
    list_display = ["id", "customer", "survey", "score", "why", "status", "assignee", "created_at"]
    list_filter = ["status", "assignee", "response__survey"]
    list_editable = ["status", "assignee"]
    search_fields = ["response__customer__external_id", "response__customer__name", "note"]
    readonly_fields = ["program", "response", "created_at", "resolved_at", "answers"]
    fields = ["program", "response", "answers", "status", "assignee", "note", "created_at", "resolved_at"]
    list_select_related = ["response__customer", "response__survey", "assignee"]

    @admin.display(description=_("customer"))
    def customer(self, followup):
        return followup.response.customer

    @admin.display(description=_("survey"))
    def survey(self, followup):
        return followup.response.survey

    @admin.display(description=_("score"))
    def score(self, followup):
        return followup.response.score

    @admin.display(description=_("why?"))
    def why(self, followup):
        answer = followup.response.answers.filter(question__is_followup=True).first()
        return answer.value_text[:80] if answer else ""

    @admin.display(description=_("answers"))
    def answers(self, followup):
        return "; ".join(f"{a.question.text_en}: {a.display()}" for a in followup.response.answers.all())

    def save_model(self, request, obj, form, change):
        # resolved_at follows the status; the team edits status, assignee and note only.
        if obj.status == FollowUp.Status.RESOLVED and obj.resolved_at is None:
            obj.resolved_at = timezone.now()
        elif obj.status != FollowUp.Status.RESOLVED:
            obj.resolved_at = None
        super().save_model(request, obj, form, change)

    def has_add_permission(self, request):
        return False


@admin.register(SendSkip)
class SendSkipAdmin(ProgramScopedAdmin):
    list_display = ["id", "survey", "customer", "reason", "detail", "source", "created_at"]
    list_filter = ["reason", "source", "survey"]
    search_fields = ["customer__external_id"]
    readonly_fields = [f.name for f in SendSkip._meta.fields]

    def has_add_permission(self, request):
        return False

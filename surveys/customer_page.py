"""Survey answers on the customer's admin page (engagement.customer_page): the newest
responses with their survey, score, category and every answer. Registered by
SurveysConfig.ready."""

from django.urls import reverse
from django.utils.translation import gettext as _

from engagement import hooks
from engagement.admin_links import admin_link
from engagement.customer_page import RECENT, Section
from surveys.models import Response


def answers_section(request, customer):
    rows = list(
        Response.objects.filter(customer=customer)
        .select_related("survey")
        .prefetch_related("answers__question")
        .order_by("-started_at", "-id")[:RECENT]
    )
    for response in rows:
        response.survey_link = admin_link(response.survey, response.survey.name)
        response.answer_list = sorted(response.answers.all(), key=lambda a: (a.question.position, a.question_id))
    url = reverse("admin:surveys_response_changelist") + f"?customer__id__exact={customer.pk}"
    return Section(
        "surveys",
        _("Survey answers"),
        "admin/surveys/customer/section_answers.html",
        {"responses": rows, "all_url": url},
        wide=True,
    )


def register():
    hooks.register_customer_section(50, "surveys", answers_section)

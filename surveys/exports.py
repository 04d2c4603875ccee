"""CSV export of completed responses (admin)."""

from django.http import HttpResponse

from engagement.spreadsheet_cells import safe_writer

HEADER = [
    "response_id",
    "survey_id",
    "survey",
    "kind",
    "customer",
    "score",
    "category",
    "channel",
    "segment",
    "locale",
    "completed_at",
    "why",
    "answers",
]


def responses_csv(responses, filename="survey-responses.csv"):
    """An HttpResponse with one row per completed response; `answers` holds every answer as
    "question id=value" pairs separated by " | ", `why` the follow-up question's text."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # BOM: spreadsheet apps then read Arabic and Malay text as UTF-8
    # Free-text answers are customer input: cells are neutralised against formula injection.
    writer = safe_writer(response)
    writer.writerow(HEADER)
    rows = (
        responses.filter(completed_at__isnull=False)
        .select_related("survey", "customer")
        .prefetch_related("answers__question")
        .order_by("completed_at", "id")
    )
    for row in rows.iterator(chunk_size=500):
        answers = sorted(row.answers.all(), key=lambda a: (a.question.position, a.question_id))
        why = next((a.value_text for a in answers if a.question.is_followup), "")
        writer.writerow(
            [
                row.pk,
                row.survey_id,
                row.survey.name,
                row.survey.kind,
                row.customer.external_id,
                "" if row.score is None else row.score,
                row.category,
                row.channel,
                row.segment,
                row.locale,
                row.completed_at.isoformat(),
                why,
                " | ".join(f"{a.question_id}={a.display()}" for a in answers),
            ]
        )
    return response

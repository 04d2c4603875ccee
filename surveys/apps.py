from django.apps import AppConfig


class SurveysConfig(AppConfig):
    """Owns survey definitions, invitations, responses, follow-ups and NPS/CSAT/CES reports.
    May import engagement (and its channels and webhooks); never payouts or rewards.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "surveys"
    verbose_name = "Surveys"

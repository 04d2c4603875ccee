from django.apps import AppConfig


class EngagementConfig(AppConfig):
    """The base app. Owns programs, customers, partner keys, event ingestion, metrics,
    scores and segments (and, as sub-apps, channels and outbound webhooks).

    May import from: Django, DRF, Celery. Never from surveys, payouts or rewards; they
    register hooks here instead (engagement.hooks).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement"
    verbose_name = "Engagement"

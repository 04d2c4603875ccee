from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaigns: the when-then rule engine. Top of the stack: may import every app.
    Registers its event and transition handlers with engagement.hooks at start-up.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards.campaigns"
    label = "campaigns"
    verbose_name = "Campaigns"

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Campaigns: the when-then rule engine. Top of the stack: may import every app.
    Registers its event and transition handlers with engagement.hooks at start-up.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from engagement import hooks
        from rewards.campaigns import demo, engine

        hooks.register_event_handler("campaigns", engine.handle_events)
        hooks.register_transition_handler(engine.handle_transitions)
        hooks.register_demo_step(50, "campaigns", demo.load_demo)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    """Outbound webhooks: subscriptions, recorded webhook events, signed deliveries with
    retries and the delivery log. Part of engagement; may import engagement only.
    Other apps record events with engagement.webhooks.events.record_webhook_event.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement.webhooks"
    label = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from engagement import hooks
        from engagement.webhooks import demo

        # After the steps that record webhook events (rewards, surveys, campaigns): subscribed
        # earlier, the demo receiver got ~1,500 deliveries attempted during the load (a minute).
        hooks.register_demo_step(55, "webhooks", demo.load_webhook_demo)

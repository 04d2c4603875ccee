from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks: subscriptions, recorded webhook events, signed deliveries with
    retries and the delivery log. Part of engagement; may import engagement only.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

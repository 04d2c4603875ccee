from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    """Message channels (email, SMS, WhatsApp, web push): backends, per-language templates,
    consent and quiet hours, and the log of every message. Part of engagement; may import
    engagement only.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement.channels"
    label = "channels"
    verbose_name = "Channels"

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    """Message channels (email, SMS, WhatsApp, web push): backends, per-language templates,
    the one contact policy (consent, quiet hours, caps, gap, WhatsApp window) and the log and
    delivery queue of every message. Part of engagement; may import engagement only. Higher
    apps call sending.send_message / policy.check_send and register hooks.register_status_handler.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement.channels"
    label = "channels"
    verbose_name = _("Channels")

    def ready(self):
        from engagement import hooks
        from engagement.channels import consent, demo

        hooks.register_demo_step(12, "channels", demo.load_demo)
        # email_unsubscribed events withdraw email consent (inside processing's transaction).
        hooks.register_event_handler("consent", consent.handle_events)

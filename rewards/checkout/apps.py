from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckoutConfig(AppConfig):
    """Checkout: earning rules per SKU/category/tag, cart evaluation, points as payment
    (reservations), promotions and their codes (docs/checkout.md).

    Above rewards: may import engagement and rewards. rewards.earning imports its earning
    rules (rewards.checkout.rules) so the preview and the real earn are one computation.
    Registers the demo step (order 30).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards.checkout"
    label = "checkout"
    verbose_name = _("Checkout")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from engagement import hooks
        from engagement.partner_api import keycache
        from rewards.checkout import demo
        from rewards.checkout.models import CheckoutSettings, EarningRule

        hooks.register_demo_step(30, "checkout", demo.load_demo)
        # The partner API caches programs with their checkout settings and earning rules.
        for model in (CheckoutSettings, EarningRule):
            post_save.connect(keycache.changed, sender=model, dispatch_uid=f"keycache-{model.__name__}")
            post_delete.connect(keycache.changed, sender=model, dispatch_uid=f"keycache-{model.__name__}-del")

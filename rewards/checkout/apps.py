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
        from engagement import hooks
        from rewards.checkout import demo

        hooks.register_demo_step(30, "checkout", demo.load_demo)

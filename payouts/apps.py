from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PayoutsConfig(AppConfig):
    """Owns payouts, provider adapters, approvals, funding, provider webhooks and
    reconciliation. May import engagement (and its webhooks); never surveys or rewards:
    they learn about final payout statuses through payouts.hooks.

    At start-up it registers its demo step (order 40) and the demo approvers' sign-in line.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "payouts"
    verbose_name = _("Payouts")

    def ready(self):
        from engagement import hooks
        from payouts import customer_page, demo, personal_data

        hooks.register_demo_step(40, "payouts", demo.load_demo)
        hooks.register_demo_sign_in(demo.sign_in_lines)
        hooks.register_erasure_handler(personal_data.erase_customer_payouts)
        hooks.register_export_section("payouts", personal_data.export_payouts)
        customer_page.register()  # the payouts section of the customer's admin page

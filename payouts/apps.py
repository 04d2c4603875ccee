from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    """Owns payouts, provider adapters, approvals, funding, provider webhooks and
    reconciliation. May import engagement (and its webhooks); never surveys or rewards:
    they learn about final payout statuses through payouts.hooks.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "payouts"
    verbose_name = "Payouts"

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    """Owns the points ledger, catalogue, voucher codes, redemptions, tiers, referrals and
    the customer portal. Orchestrates: may import engagement, surveys and payouts.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = "Rewards"

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    """Owns the points ledger, catalogue, voucher codes, redemptions, tiers, referrals and
    the customer portal. Orchestrates: may import engagement, surveys and payouts.

    At start-up it registers: the base earn rule / refund clawback / referral handler
    (engagement.hooks event handler), the referral-code handler of customer upserts, loyalty metric providers, the payout final-status
    handler (refunds failed cash redemptions) and the demo step (order 20).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self):
        from engagement import hooks
        from rewards import demo, earning, metrics, redemptions, referrals

        hooks.register_event_handler(earning.handle_events)
        hooks.register_referral_handler(referrals.attach_referral_hook)
        hooks.register_demo_step(20, "rewards", demo.load_demo)
        metrics.register()
        try:
            from payouts.hooks import register_payout_final_handler
        except ImportError:  # payouts not installed: cash rewards are then refused
            return
        register_payout_final_handler(redemptions.handle_payout_final)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    """Owns the points ledger, catalogue, voucher codes, redemptions, tiers, referrals and
    the customer portal. Orchestrates: may import engagement, surveys and payouts.

    At start-up it registers: the base earn rule / refund clawback / referral handler
    (engagement.hooks event handler "earning": after "scores", before "campaigns"), the
    batch scope that writes a processing batch's grants in one bulk write (grant_batch), the
    referral-code handler of customer upserts, loyalty metric providers, the payout final-status
    handler (refunds failed cash redemptions), the survey thank-you next step (a promoter's
    referral link), the demo step (order 20) and its sections and actions of the customer's
    admin page (rewards.customer_page).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from engagement import hooks
        from engagement.partner_api import keycache
        from payouts.hooks import register_payout_credentials_handler, register_payout_final_handler
        from rewards import (
            credentials,
            customer_page,
            demo,
            earning,
            grant_batch,
            metrics,
            personal_data,
            redemptions,
            referrals,
        )
        from rewards.models import RewardsSettings
        from surveys.next_steps import register_next_step

        # The partner API caches programs with their rewards settings.
        post_save.connect(keycache.changed, sender=RewardsSettings, dispatch_uid="keycache-RewardsSettings")
        post_delete.connect(keycache.changed, sender=RewardsSettings, dispatch_uid="keycache-RewardsSettings-del")

        hooks.register_event_handler("earning", earning.handle_events)
        hooks.register_batch_scope(grant_batch.collecting)
        register_next_step(referrals.survey_next_step)
        hooks.register_referral_handler(referrals.attach_referral_hook)
        hooks.register_demo_step(20, "rewards", demo.load_demo)
        metrics.register()
        hooks.register_erasure_handler(personal_data.erase_customer_rewards)
        hooks.register_export_section("rewards", personal_data.export_rewards)
        register_payout_final_handler(redemptions.handle_payout_final)
        register_payout_credentials_handler(credentials.keep_payout_credentials)
        customer_page.register()

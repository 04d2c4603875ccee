from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    """The base app. Owns programs, customers, partner keys, event ingestion, metrics,
    scores and segments, the purchase models (BG/NBD, Gamma-Gamma: churn risk, CLV) (and, as
    sub-apps, channels and outbound webhooks).

    May import from: Django, DRF, Celery. Never from surveys, payouts or rewards; they
    register hooks here instead (engagement.hooks).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "engagement"
    verbose_name = _("Engagement")

    def ready(self):
        from django.contrib import admin
        from django.db.models.signals import post_delete, post_save

        from engagement import customer_page, demo_scores, hooks, scoring
        from engagement.models import PartnerKey, Program
        from engagement.partner_api import keycache

        # The partner API caches keys with their program (keycache): any change to either
        # invalidates every process's cache once committed.
        for model in (PartnerKey, Program):
            post_save.connect(keycache.changed, sender=model, dispatch_uid=f"keycache-{model.__name__}")
            post_delete.connect(keycache.changed, sender=model, dispatch_uid=f"keycache-{model.__name__}-del")

        # Customers with newly processed events are queued for the incremental re-score.
        hooks.register_event_handler("scores", scoring.queue_customers_for_events)
        hooks.register_demo_step(10, "engagement scores, purchase models and goals", demo_scores.load_scores)
        # The customer's admin page: engagement's sections and the erase action.
        customer_page.register()
        # The admin index links to the dashboard (a template extending admin/index.html).
        if admin.site.index_template is None:
            admin.site.index_template = "engagement/admin_index.html"
        # Login attempts and TOTP devices name every account: superusers only.
        from engagement.admin_security import superuser_only_security_admins

        superuser_only_security_admins()
        # Automatic field and model names ("created at") of every Ganjaran app, translated.
        from django.apps import apps

        from engagement.labels import OUR_APPS, translate_automatic_labels

        for app_config in apps.get_app_configs():
            if app_config.name in OUR_APPS:
                translate_automatic_labels(app_config)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    """Owns survey definitions, invitations, responses, follow-ups and NPS/CSAT/CES reports.
    May import engagement (and its channels and webhooks); never payouts or rewards.
    Registers: a channels status handler (invitation statuses), the "response_rate" metric
    provider and the demo step (order 30).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "surveys"
    verbose_name = _("Surveys")

    def ready(self):
        from engagement import hooks
        from engagement.channels.hooks import register_status_handler
        from surveys import demo, reports, statuses

        register_status_handler(statuses.on_message_status)
        hooks.register_metric("response_rate", reports.response_rate_metric)
        hooks.register_demo_step(30, "surveys", demo.load_demo_surveys)
        from surveys import personal_data

        hooks.register_erasure_handler(personal_data.erase_customer_answers, personal_data.free_text_answers)
        hooks.register_export_section("surveys", personal_data.export_surveys)
        from surveys import customer_page

        customer_page.register()  # the survey answers section of the customer's admin page

"""Telling a program's team that one of its webhook subscriptions was paused."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils.translation import gettext as _

from engagement.webhooks.models import WebhookSubscription

logger = logging.getLogger(__name__)


def program_team_emails(program):
    """E-mail addresses of the program's staff; superusers when the program has none."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    emails = sorted(set(users.filter(program_memberships__program=program).values_list("email", flat=True)))
    return emails or sorted(set(users.filter(is_superuser=True).values_list("email", flat=True)))


def notify_subscription_paused(subscription_id):
    """E-mail the program team about an automatically paused subscription (call on commit)."""
    subscription = WebhookSubscription.objects.select_related("program").filter(pk=subscription_id).first()
    if subscription is None:
        return 0
    recipients = program_team_emails(subscription.program)
    logger.warning(
        "webhook subscription %s (%s) paused: %s", subscription.pk, subscription.url, subscription.paused_reason
    )
    if not recipients:
        return 0
    subject = _("[Ganjaran] Webhook paused for %(program)s") % {"program": subscription.program.name}
    body = _(
        "Deliveries to %(url)s kept failing (%(failures)s attempts in a row since %(since)s), so the "
        "subscription was paused. Fix the endpoint, then resume it in the admin: %(admin)s"
    ) % {
        "url": subscription.url,
        "failures": subscription.consecutive_failures,
        "since": subscription.failing_since.isoformat() if subscription.failing_since else "?",
        "admin": f"{settings.SITE_URL}/admin/webhooks/webhooksubscription/{subscription.pk}/change/",
    }
    return send_mail(subject, body, None, recipients)

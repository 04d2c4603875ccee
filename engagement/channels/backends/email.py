"""Email through Django's email framework (EMAIL_URL: console in the demo, SMTP in production)."""

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext

from engagement.channels import consent
from engagement.channels.backends import DeliveryResult, PermanentError, TransientError
from engagement.channels.models import Topic


def unsubscribe_footer(customer, locale):
    """The visible link every marketing and survey email ends with, in the email's language."""
    with translation.override(locale or "en"):
        label = gettext("Unsubscribe or choose what we send you:")
    return f"--\n{label} {consent.preferences_url(customer)}\n"


class EmailBackend:
    def send(self, message):
        """Send one plain-text email; the Message-ID we generate is the provider id.

        Marketing and survey emails (topic offers/surveys) carry RFC 8058 one-click
        unsubscribe headers and end with a visible link to the preference page (added here,
        not stored: the message log keeps the body as rendered).
        """
        message_id = make_msgid(idstring=f"ganjaran.{message.pk}", domain="ganjaran.local")
        headers = {"Message-ID": message_id, "X-Ganjaran-Message": str(message.pk)}
        body = message.body
        if message.topic != Topic.ACCOUNT:
            headers["List-Unsubscribe"] = f"<{consent.unsubscribe_url(message.customer)}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            body = body.rstrip("\n") + "\n\n" + unsubscribe_footer(message.customer, message.locale)
        email = EmailMessage(
            subject=message.subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to_address],
            headers=headers,
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx is a permanent SMTP answer, 4xx a temporary one.
            error = PermanentError if 500 <= exc.smtp_code < 600 else TransientError
            raise error(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP error: {exc}") from exc
        return DeliveryResult(provider_id=message_id)

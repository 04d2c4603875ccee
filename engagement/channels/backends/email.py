"""Email through Django's email framework (EMAIL_URL: console in the demo, SMTP in production)."""

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage

from engagement.channels.backends import DeliveryResult, PermanentError, TransientError


class EmailBackend:
    def send(self, message):
        """Send one plain-text email; the Message-ID we generate is the provider id."""
        message_id = make_msgid(idstring=f"ganjaran.{message.pk}", domain="ganjaran.local")
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to_address],
            headers={"Message-ID": message_id, "X-Ganjaran-Message": str(message.pk)},
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

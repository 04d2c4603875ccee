"""Team notifications: the notify_team action's follow-ups, e-mailed to the program's staff."""

from django.conf import settings
from django.core.mail import send_mail

from rewards.campaigns.models import TeamNotification


def team_emails(program):
    return sorted(
        {
            member.user.email
            for member in program.staff.select_related("user")
            if member.user.email and member.user.is_active
        }
    )


def email_team(notification_id):
    """E-mail one notification to the program's staff; returns how many recipients.

    Tolerates a notification that no longer exists (a leftover task message)."""
    note = TeamNotification.objects.select_related("program", "customer").filter(pk=notification_id).first()
    if note is None:
        return 0
    recipients = team_emails(note.program)
    if recipients:
        body = f"{note.body}\n\nCustomer: {note.customer.external_id}\n{settings.SITE_URL}/admin/campaigns/teamnotification/{note.pk}/change/"
        send_mail(note.subject, body, None, recipients)
    return len(recipients)

"""Give a staff account a TOTP device (the admin's second factor) and print its setup URL."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Create a confirmed TOTP device for USERNAME and print the otpauth:// URL to add to an authenticator app."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="A label for the device.")
        parser.add_argument("--replace", action="store_true", help="Delete the user's existing TOTP devices first.")

    def handle(self, username, name, replace, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if replace:
            TOTPDevice.objects.filter(user=user).delete()
        elif TOTPDevice.objects.filter(user=user).exists():
            raise CommandError(f"{username} already has a TOTP device; pass --replace to make a new one.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(
            f"TOTP device created for {username}. Add this URL to an authenticator app "
            f"(or type the key by hand), then log in with the 6-digit code:\n"
        )
        self.stdout.write(device.config_url)

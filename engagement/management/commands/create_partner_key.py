from django.core.management.base import BaseCommand, CommandError

from engagement.models import PartnerKey, Program


class Command(BaseCommand):
    help = "Create a partner API key for a program and print it once."

    def add_arguments(self, parser):
        parser.add_argument("program", help="Program slug")
        parser.add_argument("--name", default="cli", help="A label for the key")

    def handle(self, program, name, **options):
        try:
            program_row = Program.objects.get(slug=program)
        except Program.DoesNotExist:
            raise CommandError(f"No program with slug {program!r}.") from None
        key, raw_key = PartnerKey.issue(program_row, name)
        self.stdout.write(f"Partner key {key.prefix}… for {program_row.slug} (shown once):")
        self.stdout.write(raw_key)

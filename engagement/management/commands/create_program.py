"""Create a program (a brand's tenant) and print what to do next."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from engagement.programs import create_program, error_lines


class Command(BaseCommand):
    help = "Create a program: NAME, with --slug, --currency, --timezone, --locale, --points-name."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The program\'s name, e.g. "Acme Kopi Rewards".')
        parser.add_argument("--slug", help="Short id in URLs and the API (default: from the name).")
        parser.add_argument("--currency", default="MYR", help="ISO 4217 code (default MYR).")
        parser.add_argument(
            "--timezone", default="Asia/Kuala_Lumpur", help="IANA time zone (default Asia/Kuala_Lumpur)."
        )
        parser.add_argument("--locale", default="en", help="Default language of customers: en, ar or ms (default en).")
        parser.add_argument("--points-name", default="points", help='What points are called (default "points").')

    def handle(self, name, slug, currency, timezone, locale, points_name, **options):
        try:
            program = create_program(
                name=name,
                slug=slug or slugify(name),
                currency=currency,
                timezone=timezone,
                locale=locale,
                points_name=points_name,
            )
        except ValidationError as exc:
            raise CommandError("The program was not created:\n  " + "\n  ".join(error_lines(exc))) from None
        self.stdout.write(self.style.SUCCESS(f"Created program {program.name!r} (slug {program.slug})."))
        self.stdout.write(
            "Next steps:\n"
            "  1. An admin account, if you have none:   manage.py createsuperuser\n"
            f"  2. A key for your systems' API calls:    manage.py create_partner_key {program.slug} --name shop\n"
            "  3. Staff limited to this program: in the admin, Users > Add, tick 'Staff status', give permissions,\n"
            f"     then Programs > {program.name} > Program staff.\n"
            "  4. With DEBUG off, superusers need a second factor: manage.py add_totp_device <username>\n"
            '  (With `make serve` running, prefix each with: make manage ARGS="...")'
        )

"""`python manage.py verify_ledger [--program SLUG]`: check every ledger invariant
(rewards.ledger_audit); prints each breach and exits 1 if there is any."""

from django.core.management.base import BaseCommand, CommandError

from engagement.models import Program
from rewards.ledger_audit import find_breaches


class Command(BaseCommand):
    help = "Verify the points ledger invariants; exits non-zero on any breach."

    def add_arguments(self, parser):
        parser.add_argument("--program", help="Program slug (default: all programs).")

    def handle(self, *args, program=None, **options):
        scope = None
        if program:
            scope = Program.objects.filter(slug=program).first()
            if scope is None:
                raise CommandError(f"No program {program!r}.")
        breaches = find_breaches(scope)
        for breach in breaches:
            self.stderr.write(breach)
        if breaches:
            raise CommandError(f"{len(breaches)} ledger invariant breach(es).", returncode=1)
        self.stdout.write(self.style.SUCCESS("Ledger OK: every invariant holds."))

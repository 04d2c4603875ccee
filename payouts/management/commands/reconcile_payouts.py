"""Compare our payouts with a provider's statement and list the mismatches.

python manage.py reconcile_payouts --program acme --provider sandbox --days 7
python manage.py reconcile_payouts --program acme --provider tango --days 30 --statement export.csv
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from engagement.models import Program
from payouts import reconciliation
from payouts.models import Payout


class Command(BaseCommand):
    help = "Reconcile payouts with the provider's statement; exits 1 with --strict when there are mismatches."

    def add_arguments(self, parser):
        parser.add_argument("--program", help="Program slug (default: every program with payouts).")
        parser.add_argument("--provider", help="Provider name (default: every provider the program used).")
        parser.add_argument("--days", type=int, default=1, help="Period: the last N days (default 1).")
        parser.add_argument("--strict", action="store_true", help="Exit with status 1 if anything mismatches.")
        parser.add_argument(
            "--statement",
            help="A statement exported from the provider as CSV (reference,provider_reference,amount,currency,"
            "status[,created_at]) to use instead of its API; needs --program and --provider.",
        )

    def handle(self, *args, **options):
        end = timezone.now()
        start = end - timedelta(days=options["days"])
        programs = Program.objects.all()
        if options["program"]:
            programs = programs.filter(slug=options["program"])
            if not programs.exists():
                raise CommandError(f"No program {options['program']!r}.")
        lines = None
        if options["statement"]:
            if not (options["program"] and options["provider"]):
                raise CommandError("--statement needs --program and --provider.")
            try:
                with open(options["statement"], encoding="utf-8-sig") as handle:
                    lines = reconciliation.read_statement_csv(handle.read())
            except (OSError, reconciliation.StatementFileError) as exc:
                raise CommandError(f"Cannot use {options['statement']}: {exc}") from None
        total = 0
        for program in programs.order_by("slug"):
            providers = (
                [options["provider"]]
                if options["provider"]
                else sorted(set(Payout.objects.filter(program=program).values_list("provider", flat=True)))
            )
            for provider in providers:
                try:
                    run = reconciliation.reconcile(program, provider, start, end, lines=lines)
                except NotImplementedError:
                    self.stdout.write(f"{program.slug}/{provider}: no statement available")
                    continue
                total += run.mismatch_count
                self.stdout.write(f"{program.slug}/{provider}: {run.matched} matched, {run.mismatch_count} mismatched")
                for mismatch in run.mismatches:
                    self.stdout.write(
                        f"  {mismatch['kind']:<20} {mismatch['reference']:<40} {mismatch['our_status']:<12} "
                        f"{mismatch['detail']}"
                    )
        if total and options["strict"]:
            raise CommandError(f"{total} mismatch(es).", returncode=1)

"""Re-score a program now and rebuild its daily snapshots (scores and metrics) for a date range."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from engagement import metrics, retention, scoring
from engagement.models import Program


class Command(BaseCommand):
    help = (
        "Re-score every customer of a program (current scores, transitions, today's snapshot) and "
        "rebuild the score and metric snapshots of each day from --start to --end (inclusive)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--program", required=True, help="Program slug.")
        parser.add_argument("--start", type=date.fromisoformat, help="First day to rebuild (YYYY-MM-DD).")
        parser.add_argument("--end", type=date.fromisoformat, help="Last day to rebuild; default yesterday.")
        parser.add_argument("--no-scores", action="store_true", help="Rebuild metric snapshots only.")
        parser.add_argument("--no-metrics", action="store_true", help="Rebuild score snapshots only.")

    def handle(self, *args, **options):
        program = Program.objects.filter(slug=options["program"]).first()
        if program is None:
            raise CommandError(f"No program with slug {options['program']!r}.")
        if options["start"]:
            end = options["end"] or scoring.local_date(program, scoring.timezone.now()) - timedelta(days=1)
            if end < options["start"]:
                raise CommandError("--end is before --start.")
            days = [options["start"] + timedelta(days=n) for n in range((end - options["start"]).days + 1)]
            if not options["no_metrics"]:
                _check_retention(program, options["start"])
            for day in tqdm(days, desc="snapshots", unit="day", file=self.stderr._out, dynamic_ncols=True):
                rebuild_day(program, day, scores=not options["no_scores"], metric_values=not options["no_metrics"])
        result = scoring.rescore_program(program)
        self.stdout.write(f"Scored {result.customers} customers, {result.transitions} transitions.")


def _check_retention(program, first_day):
    """Refuse up front (nothing rebuilt) metric snapshots whose window reaches before the
    events kept (engagement.retention); the score snapshots of those days stay exact."""
    window_start = scoring.local_day_end(program, first_day) - timedelta(days=metrics.SNAPSHOT_WINDOW_DAYS)
    try:
        retention.check_period(program, metrics.SNAPSHOT_METRICS, window_start)
    except retention.EventsNotRetained as exc:
        raise CommandError(f"{exc.message} Rebuild those days with --no-metrics.") from None


def rebuild_day(program, day, *, scores=True, metric_values=True):
    if scores:
        scoring.snapshot_scores(program, day)
    if metric_values:
        metrics.snapshot_metrics(program, day)

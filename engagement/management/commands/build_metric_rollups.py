"""Build (or rebuild) the daily metric totals of engagement.metrics.rollup."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from engagement.metrics import rollup
from engagement.models import MetricDay, Program


class Command(BaseCommand):
    help = (
        "Build the daily metric totals of a program's (default: every program's) closed UTC days that are "
        "missing or dirty, from --since (default: the last 400 days). --rebuild marks those days dirty first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--program", help="Program slug (default: every program).")
        parser.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD: first day to build.")
        parser.add_argument("--rebuild", action="store_true", help="Rebuild the days already built too.")

    def handle(self, *args, **options):
        programs = Program.objects.order_by("id")
        if options["program"]:
            programs = programs.filter(slug=options["program"])
            if not programs.exists():
                raise CommandError(f"No program with slug {options['program']!r}.")
        for program in programs:
            if options["rebuild"]:
                days = MetricDay.objects.filter(program=program)
                if options["since"]:
                    days = days.filter(day__gte=options["since"])
                rollup.mark_days_dirty(program.pk, list(days.values_list("day", flat=True)))
            built = rollup.build_program(program.pk, since=options["since"])
            self.stdout.write(f"{program.slug}: {built} days built")

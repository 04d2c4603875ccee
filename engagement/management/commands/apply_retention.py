"""Apply the events retention now (what the daily beat task does)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engagement import retention


class Command(BaseCommand):
    help = (
        "Roll up and delete the events before the retention cutoff (EVENTS_RETENTION_MONTHS, or --months), "
        "program by program, then drop the emptied monthly partitions. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, help="Months kept before the current one (default: the setting).")

    def handle(self, *args, **options):
        months = options["months"]
        if months is not None and months < settings.EVENTS_RETENTION_MIN_MONTHS:
            raise CommandError(f"--months must be at least {settings.EVENTS_RETENTION_MIN_MONTHS}.")
        if months is None and settings.EVENTS_RETENTION_MONTHS is None:
            raise CommandError("EVENTS_RETENTION_MONTHS is not set (events are kept for ever); pass --months.")
        result = retention.apply_retention(months=months)
        self.stdout.write(
            f"cutoff {result['cutoff']:%Y-%m-%d}: {result['rollups_written']} customer rollups written, "
            f"partitions dropped: {', '.join(result['dropped']) or 'none'}, "
            f"programs failed: {', '.join(map(str, result['failed'])) or 'none'}"
        )
        if result["failed"]:
            raise CommandError("Some programs failed (see the log); run again.")

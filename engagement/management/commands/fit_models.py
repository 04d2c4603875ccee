"""Fit a program's purchase models (BG/NBD, Gamma-Gamma) with their backtest."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from engagement import purchase_models
from engagement.models import Program


class Command(BaseCommand):
    help = (
        "Fit BG/NBD and Gamma-Gamma on a program's purchases strictly before --as-of (default: today "
        "in the program's time zone), backtest them, and store the fits and every purchaser's values."
    )

    def add_arguments(self, parser):
        parser.add_argument("--program", required=True, help="Program slug.")
        parser.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD: fit on the purchases before it.")
        parser.add_argument(
            "--calibration-weeks",
            type=int,
            default=purchase_models.CALIBRATION_WEEKS,
            help="Backtest holdout length: the calibration fit ends this many weeks before --as-of.",
        )

    def handle(self, *args, **options):
        program = Program.objects.filter(slug=options["program"]).first()
        if program is None:
            raise CommandError(f"No program with slug {options['program']!r}.")
        if options["calibration_weeks"] < 1:
            raise CommandError("--calibration-weeks must be at least 1.")
        fits = purchase_models.fit_models(program, options["as_of"], calibration_weeks=options["calibration_weeks"])
        for fit in fits.values():
            params = ", ".join(f"{k}={v:.4g}" for k, v in fit.parameters.items()) or "-"
            self.stdout.write(
                f"{fit.kind} as of {fit.as_of}: {params}; customers {fit.customers}, "
                f"converged {fit.converged}, used {fit.usable}"
            )
        backtest = fits[purchase_models.Kind.BGNBD].backtest
        if backtest.get("weeks"):
            self.stdout.write(
                f"backtest from {backtest['calibration_end']}: predicted {backtest['predicted_total']}, "
                f"actual {backtest['actual_total']}, MAPE {backtest['mape']} %"
            )

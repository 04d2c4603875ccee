"""Celery tasks of engagement: they take ids and call services, nothing else."""

from celery import shared_task
from django.db import OperationalError

from engagement import processing
from engagement.partner_api import idempotency


# A deadlock or serialization failure rolls the whole batch back (nothing half-done), so it
# is safe to run again; retried with backoff here, else the sweep picks it up within minutes.
@shared_task(
    queue="ingest",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
)
def process_events_task(event_ids):
    return processing.process_events(event_ids)


@shared_task(queue="ingest")
def sweep_unprocessed_events_task():
    """Re-process events whose processing task was lost (a broker message, a dead worker)."""
    return processing.process_stranded_events()


# On `default`, not `ingest`: it must run while the ingest queues are backlogged.
@shared_task
def reconcile_ingest_backlog_task():
    """Beat (every minute): reset the ingest backlog counter (admission control of POST /events)
    from the database's count of unprocessed events, so a lost decrement heals in a minute."""
    from engagement import backlog

    return backlog.reconcile()


@shared_task
def purge_idempotency_keys_task():
    return idempotency.purge_expired_keys()


# --- Scoring and metric snapshots (engagement.scoring, engagement.metrics) ---


@shared_task(queue="scoring", acks_late=True)
def rescore_program_task(program_id):
    """Full re-score of one program (set-based SQL); ids that no longer exist are ignored."""
    from engagement import scoring
    from engagement.models import Program

    program = Program.objects.filter(pk=program_id).first()
    return scoring.rescore_program(program).customers if program else 0


@shared_task(queue="scoring")
def rescore_all_programs_task():
    """Beat: fan out one full re-score task per program."""
    from engagement.models import Program

    ids = list(Program.objects.values_list("id", flat=True))
    for program_id in ids:
        rescore_program_task.delay(program_id)
    return len(ids)


@shared_task(queue="scoring", acks_late=True)
def rescore_queued_customers_task():
    """Beat: incremental re-score of customers with new events, a batch per program at a time."""
    from engagement import scoring

    total = 0
    for program_id in scoring.list_queued_program_ids():
        while done := scoring.rescore_queued(program_id):
            total += done
    return total


@shared_task(queue="scoring", acks_late=True)
def snapshot_metrics_task(program_id, day=None):
    """Store yesterday's (or `day`'s, ISO date) metric snapshot of one program; idempotent."""
    from datetime import date

    from engagement import metrics
    from engagement.models import Program

    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        return 0
    return metrics.snapshot_metrics(program, date.fromisoformat(day) if day else None)


@shared_task(queue="scoring")
def snapshot_all_metrics_task():
    """Beat: one daily metric snapshot task per program."""
    from engagement.models import Program

    ids = list(Program.objects.values_list("id", flat=True))
    for program_id in ids:
        snapshot_metrics_task.delay(program_id)
    return len(ids)


# --- Purchase models (engagement.purchase_models) ---


@shared_task(queue="scoring", acks_late=True)
def fit_models_task(program_id):
    """Fit one program's purchase models as of today (idempotent: a refit replaces the day's)."""
    from engagement import purchase_models
    from engagement.models import Program

    program = Program.objects.filter(pk=program_id).first()
    return purchase_models.fit_models(program)[purchase_models.Kind.BGNBD].customers if program else 0


@shared_task(queue="scoring")
def fit_all_models_task():
    """Beat (weekly): one fit task per program."""
    from engagement.models import Program

    ids = list(Program.objects.values_list("id", flat=True))
    for program_id in ids:
        fit_models_task.delay(program_id)
    return len(ids)


@shared_task
def ensure_event_partitions_task():
    """Beat (hourly): the events table's monthly partitions ahead, and the default one emptied."""
    from engagement import partitions

    return partitions.ensure_event_partitions()


@shared_task(queue="scoring")
def apply_event_retention_task():
    """Beat (daily): roll up and delete the events before the EVENTS_RETENTION_MONTHS cutoff,
    program by program, and drop the emptied monthly partitions (idempotent; nothing when
    the setting is unset). Returns the numbers, without the cutoff instant (JSON)."""
    from engagement import retention

    result = retention.apply_retention()
    return {**result, "cutoff": result["cutoff"].isoformat() if result["cutoff"] else None}


# --- Metrics rollup (engagement.metrics.rollup) ---


@shared_task(queue="scoring", acks_late=True)
def build_metric_rollups_task():
    """Beat (hourly): build the daily metric totals of every program's closed UTC days that
    are missing or dirty (idempotent: a built day is skipped). Returns the days built."""
    from engagement.metrics import rollup
    from engagement.models import Program

    return sum(rollup.build_program(program_id) for program_id in Program.objects.values_list("id", flat=True))

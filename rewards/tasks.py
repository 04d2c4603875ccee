"""Celery tasks of rewards: they take ids and call services (STYLE.md)."""

from celery import shared_task

from engagement.models import Program
from rewards import ledger, tiers


@shared_task(queue="default")
def expire_points_task():
    """Expire due lots (in chunks of accounts until none is left)."""
    total = 0
    while points := ledger.expire_points():
        total += points
    return total


@shared_task(queue="default")
def release_pending_points_task():
    """Release pending points whose return window has passed."""
    total = 0
    while released := ledger.release_pending_points():
        total += released
    return total


@shared_task(queue="scoring")
def recompute_tiers_task(program_id=None):
    """Recompute tiers of one program, or fan out one task per program."""
    if program_id is None:
        for pk in Program.objects.values_list("pk", flat=True):
            recompute_tiers_task.delay(pk)
        return 0
    program = Program.objects.filter(pk=program_id).first()
    return tiers.recompute_tiers(program) if program else 0


@shared_task(queue="default")
def purge_login_tokens_task():
    """Delete expired portal sign-in tokens."""
    from rewards.portal_auth import purge_login_tokens

    return purge_login_tokens()


@shared_task(queue="default")
def grant_bulk_task(bulk_id):
    """Grant a bulk upload's due rows, a batch per transaction, until none is due."""
    from rewards import bulk_grants

    total = 0
    while granted := bulk_grants.grant_due_rows(bulk_id):
        total += granted
    return total


@shared_task(queue="default")
def release_bulk_grants_task():
    """Beat: bulk grants with rows now due (scheduled sends, or a lost task)."""
    from rewards import bulk_grants

    for bulk_id in bulk_grants.list_due_bulk_ids():
        grant_bulk_task.delay(bulk_id)

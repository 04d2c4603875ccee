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

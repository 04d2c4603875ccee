"""Code pools: codes generated in the database by pattern (prefix + random characters of
an alphabet), or imported from a list. Never a duplicate: the (program, code) unique index
drops collisions (`ON CONFLICT DO NOTHING`) and generation tops up until the pool has its
count. One INSERT ... SELECT per round, so a million codes never pass through Python.
"""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.checkout.models import CodePool, PromotionCode

CODES = PromotionCode._meta.db_table
# The pattern must offer far more codes than asked, or collisions would make rounds useless
# (and guessing a valid code easy).
MIN_SPACE_FACTOR = 100
MAX_ROUNDS = 20


def check_pattern(alphabet: str, length: int, count: int) -> None:
    """ValidationError when the pattern cannot give `count` codes that are hard to guess."""
    space = len(set(alphabet)) ** length
    if space < count * MIN_SPACE_FACTOR:
        raise ValidationError(
            _("%(count)s codes need more combinations: use a longer code or a larger alphabet.") % {"count": count}
        )


def _insert_round(pool: CodePool, wanted: int) -> int:
    # Each character: one random byte of gen_random_uuid() (a CSPRNG in PostgreSQL 13+) mod the
    # alphabet's size; referencing g.i keeps the subquery per row (not evaluated once).
    sql = f"""
        INSERT INTO {CODES} (program_id, promotion_id, pool_id, code, max_uses, uses, created_at)
        SELECT %(program)s, %(promotion)s, %(pool)s,
               %(prefix)s || (SELECT string_agg(substr(%(alphabet)s,
                                 1 + get_byte(uuid_send(gen_random_uuid()), 0) %% %(size)s, 1), '')
                              FROM generate_series(1, %(length)s) WHERE g.i > 0),
               %(uses)s, 0, %(now)s
        FROM generate_series(1, %(wanted)s) AS g(i)
        ON CONFLICT (program_id, code) DO NOTHING
    """
    params = {
        "program": pool.program_id, "promotion": pool.promotion_id, "pool": pool.pk, "prefix": pool.prefix,
        "alphabet": pool.alphabet, "size": len(pool.alphabet), "length": pool.length, "uses": pool.uses_per_code,
        "wanted": wanted, "now": timezone.now(),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def generate_codes(pool_id: int) -> int:
    """Fill the pool up to its count; returns how many codes it has. Idempotent (a rerun
    tops up). Marks the pool ready, or failed after MAX_ROUNDS of collisions."""
    pool = CodePool.objects.get(pk=pool_id)
    have = PromotionCode.objects.filter(pool=pool).count()
    for _round in range(MAX_ROUNDS):
        if have >= pool.count:
            break
        with transaction.atomic():
            have += _insert_round(pool, pool.count - have)
    status = CodePool.Status.READY if have >= pool.count else CodePool.Status.FAILED
    CodePool.objects.filter(pk=pool.pk).update(status=status, generated=have)
    return have


def import_codes(pool: CodePool, codes: list[str]) -> tuple[int, list[str]]:
    """Add the listed codes to the pool; returns (added, duplicates skipped)."""
    clean = list(dict.fromkeys(c.strip().upper() for c in codes if c.strip()))
    rows = [
        PromotionCode(program_id=pool.program_id, promotion_id=pool.promotion_id, pool=pool, code=code,
                      max_uses=pool.uses_per_code)
        for code in clean
    ]  # fmt: skip
    with transaction.atomic():
        before = PromotionCode.objects.filter(pool=pool).count()
        PromotionCode.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
        have = PromotionCode.objects.filter(pool=pool).count()
        CodePool.objects.filter(pk=pool.pk).update(status=CodePool.Status.READY, generated=have, count=have)
    mine = set(PromotionCode.objects.filter(pool=pool, code__in=clean).values_list("code", flat=True))
    return have - before, [c for c in clean if c not in mine]

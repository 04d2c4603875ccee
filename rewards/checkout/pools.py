"""Code pools: codes generated in the database by pattern (prefix + random characters of
an alphabet), or imported from a list. Never a duplicate: the (program, code) unique index
drops collisions (`ON CONFLICT DO NOTHING`) and generation tops up until the pool has its
count. One INSERT ... SELECT per round, so a million codes never pass through Python.
An imported file is previewed first (preview_import writes nothing), then created whole.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.checkout import promotions
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


MAX_IMPORT_ROWS = 1_000_000
CODE_RE = re.compile(r"^[A-Z0-9-]{1,64}$")


@dataclass
class ImportPreview:
    """What importing a file would do, line by line (1-based line numbers of the file).

    `codes`: [(line, code)] that would be created; `duplicates`: [(line, code, first line)]
    repeated within the file; `existing`: [(line, code)] the program already has;
    `invalid`: [(line, text, reason)]. The file may be imported only when `ok`."""

    codes: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)
    existing: list[tuple[int, str]] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.codes) and not (self.duplicates or self.existing or self.invalid)


def _existing_codes(program_id: int, codes: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), 10_000):
        chunk = codes[start : start + 10_000]
        found.update(PromotionCode.objects.filter(program_id=program_id, code__in=chunk).values_list("code", flat=True))
    return found


def preview_import(program_id: int, text: str) -> ImportPreview:
    """Read a CSV (code in the first column, an optional `code` header) without writing
    anything. Codes are trimmed and upper-cased, as the checkout reads them; blank lines are
    skipped. ValidationError when the file has more than MAX_IMPORT_ROWS rows."""
    preview = ImportPreview()
    first_line: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        code = promotions.normalise(row[0])
        if line == 1 and code == "CODE":
            continue
        if len(first_line) + len(preview.duplicates) + len(preview.invalid) >= MAX_IMPORT_ROWS:
            raise ValidationError(_("The file has more than %(max)s rows; split it.") % {"max": f"{MAX_IMPORT_ROWS:,}"})
        if not code:
            preview.invalid.append((line, row[0], _("No code in the first column.")))
        elif len(code) > 64:
            preview.invalid.append((line, row[0], _("Longer than 64 characters.")))
        elif not CODE_RE.match(code):
            preview.invalid.append((line, row[0], _("Only letters A-Z, digits and '-' are allowed.")))
        elif code in first_line:
            preview.duplicates.append((line, code, first_line[code]))
        else:
            first_line[code] = line
    taken = _existing_codes(program_id, list(first_line))
    for code, line in first_line.items():
        (preview.existing if code in taken else preview.codes).append((line, code))
    return preview


def import_codes(pool: CodePool, codes: list[str]) -> int:
    """Create the pool's codes, all or none: IntegrityError (and nothing written, the caller's
    transaction rolled back) when one is taken meanwhile. Returns how many were added."""
    rows = [
        PromotionCode(program_id=pool.program_id, promotion_id=pool.promotion_id, pool=pool, code=code,
                      max_uses=pool.uses_per_code)
        for code in codes
    ]  # fmt: skip
    with transaction.atomic():
        PromotionCode.objects.bulk_create(rows, batch_size=5000)
        CodePool.objects.filter(pk=pool.pk).update(status=CodePool.Status.READY, generated=len(rows), count=len(rows))
    return len(rows)

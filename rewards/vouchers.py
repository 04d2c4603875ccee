"""Voucher code pools: CSV import (validated, all or nothing) and atomic hand-out.

A code is taken with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL) so concurrent
redemptions each get a different unused code without waiting on each other, and then
marked with a conditional UPDATE (`status = available`) so even without row locks (SQLite)
no code is ever given twice.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.models import RewardKind, VoucherCode

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{2,119}$")
MAX_CODES = 100_000


@dataclass
class ImportResult:
    created: int = 0
    errors: list = field(default_factory=list)


def parse_codes(text):
    """Codes from CSV text: the first column of each row; a header `code` is skipped.
    Returns (codes, errors) where errors name the line."""
    codes, errors, seen = [], [], set()
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        value = (row[0] if row else "").strip()
        if not value or (line_no == 1 and value.lower() == "code"):
            continue
        if not CODE_PATTERN.match(value):
            errors.append(_("Line %(line)d: %(code)r is not a valid code.") % {"line": line_no, "code": value[:40]})
        elif value in seen:
            errors.append(_("Line %(line)d: %(code)s appears twice in the file.") % {"line": line_no, "code": value})
        else:
            seen.add(value)
            codes.append(value)
    if len(codes) > MAX_CODES:
        errors.append(_("At most %(n)d codes per upload.") % {"n": MAX_CODES})
    return codes, errors


def import_codes(item, uploaded, batch=""):
    """Add the codes of an uploaded CSV (bytes or text) to a voucher item's pool.

    All or nothing: any invalid line, a code repeated in the file, or a code that already
    exists in the program -> nothing is stored and every problem is listed.
    """
    if item.kind != RewardKind.VOUCHER:
        return ImportResult(errors=[_("Codes can only be added to a voucher-code reward.")])
    if isinstance(uploaded, bytes):
        try:
            uploaded = uploaded.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ImportResult(errors=[_("The file is not UTF-8 text.")])
    codes, errors = parse_codes(uploaded)
    if not codes and not errors:
        errors.append(_("The file holds no codes."))
    with transaction.atomic():
        taken = set(
            VoucherCode.objects.filter(program_id=item.program_id, code__in=codes).values_list("code", flat=True)
        )
        errors += [_("%(code)s already exists.") % {"code": code} for code in sorted(taken)]
        if errors:
            return ImportResult(errors=errors)
        VoucherCode.objects.bulk_create(
            [VoucherCode(program_id=item.program_id, item=item, code=code, batch=batch[:100]) for code in codes]
        )
    return ImportResult(created=len(codes))


def take_code(item, redemption):
    """Assign one unused code of `item` to `redemption`; None when the pool is empty.
    Must run inside the redemption's transaction."""
    for _attempt in range(5):
        code = (
            VoucherCode.objects.select_for_update(skip_locked=True)
            .filter(item=item, status=VoucherCode.Status.AVAILABLE)
            .order_by("id")
            .first()
        )
        if code is None:
            return None
        won = VoucherCode.objects.filter(pk=code.pk, status=VoucherCode.Status.AVAILABLE).update(
            status=VoucherCode.Status.ASSIGNED, redemption=redemption, assigned_at=timezone.now()
        )
        if won:
            code.refresh_from_db()
            return code
    return None


def release_code(redemption):
    """Put a failed redemption's code back in the pool (it was never shown as usable)."""
    return VoucherCode.objects.filter(redemption=redemption, status=VoucherCode.Status.ASSIGNED).update(
        status=VoucherCode.Status.AVAILABLE, redemption=None, assigned_at=None
    )


def mark_code_used(program, code_value):
    """A partner reports a code as used at checkout: only an assigned code of this program.
    Returns the code, or None for an unknown, foreign, unassigned or already used code."""
    updated = VoucherCode.objects.filter(program=program, code=code_value, status=VoucherCode.Status.ASSIGNED).update(
        status=VoucherCode.Status.USED, used_at=timezone.now()
    )
    return VoucherCode.objects.get(program=program, code=code_value) if updated else None


def use_code(program, code_value):
    """mark_code_used with the reason for a refusal: returns the code or raises
    VoucherUnknown (not this program's / not handed out) or VoucherUsed. Changes nothing
    when it raises."""
    from rewards.errors import VoucherUnknown, VoucherUsed

    code = mark_code_used(program, code_value)
    if code is not None:
        return code
    existing = VoucherCode.objects.filter(program=program, code=code_value).first()
    if existing is not None and existing.status == VoucherCode.Status.USED:
        raise VoucherUsed()
    raise VoucherUnknown()

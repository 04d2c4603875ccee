"""CSV cells that a spreadsheet will not run as formulas (CSV/formula injection, OWASP).

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@` as a
formula (and a leading tab or carriage return can hide one), so a customer's free-text
answer `=HYPERLINK(...)` would run on the admin's machine. Every CSV we produce writes its
rows through `safe_writer`, which prefixes such text cells with a single quote: the cell then
shows the text as typed. Numbers (int, Decimal, float) are written as they are, so a
negative amount stays a number.
"""

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """`value` as a cell a spreadsheet shows as text; non-strings are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer whose writerow/writerows neutralise every text cell."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def safe_writer(stream, **kwargs):
    """A CSV writer over `stream` (as csv.writer) that neutralises formula-like text cells."""
    return SafeWriter(stream, **kwargs)

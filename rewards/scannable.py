"""A redeemed code as a QR code and a barcode, drawn on the server as inline SVG (segno,
python-barcode): no image service, no CDN, nothing fetched by the customer's phone."""

import re

import barcode
import segno
from barcode.writer import SVGWriter
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Code 128 encodes printable ASCII only; other codes get the QR code alone.
_CODE128 = re.compile(r"^[\x20-\x7e]{1,80}$")


def _labelled(svg: str, label: str) -> SafeString:
    # Screen readers announce one image with the code, not hundreds of shapes.
    start = svg.index("<svg")
    return mark_safe(f'<svg role="img" aria-label="{escape(label)}" ' + svg[start + len("<svg ") :])


def qr_svg(code: str, label: str) -> SafeString:
    """The code as a QR code (error correction M), about 3 cm wide."""
    return _labelled(segno.make(code, error="m", micro=False).svg_inline(scale=5, border=2), label)


def barcode_svg(code: str, label: str) -> SafeString | None:
    """The code as a Code 128 barcode, or None when it has characters Code 128 cannot hold."""
    if not _CODE128.match(code):
        return None
    drawing = barcode.get("code128", code, writer=SVGWriter())
    svg = drawing.render({"module_height": 14, "module_width": 0.3, "write_text": False, "quiet_zone": 3})
    return _labelled(svg.decode("utf-8"), label)

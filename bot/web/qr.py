"""Invite links as QR codes for printing (segno), with the subject's name under the code.

segno: pure Python (no C library to install), actively maintained, writes PNG and SVG
itself and exposes the module matrix, which the tests decode the picture back into.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import segno
from markupsafe import Markup, escape
from PIL import Image, ImageDraw, ImageFont

SCALE = 10  # pixels per module in the PNG
BORDER = 4  # quiet zone in modules (the QR standard's minimum)
CAPTION_SIZE = 28


def make(link: str) -> segno.QRCode:
    """The QR code of a link: error correction M (survives a crease or a smudge on a
    receipt), never a Micro QR (phones' cameras do not all read those)."""
    return segno.make(link, error="m", micro=False, boost_error=False)


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu Sans ships with matplotlib (a dependency) and covers Polish letters.
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), CAPTION_SIZE)
    except OSError:
        return ImageFont.load_default()


def png(link: str, caption: str) -> bytes:
    """A PNG: the code (SCALE px per module, BORDER modules of quiet zone) with the caption
    centred under it."""
    code = make(link)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=SCALE, border=BORDER)
    qr_image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    width, height = qr_image.size
    text = caption.strip()
    font = _font()
    draw = ImageDraw.Draw(qr_image)
    box = draw.textbbox((0, 0), text, font=font)
    text_w, text_h = int(box[2] - box[0]), int(box[3] - box[1])
    canvas_w = max(width, text_w + 2 * SCALE * BORDER)
    canvas = Image.new("L", (canvas_w, height + text_h + SCALE * BORDER), 255)
    canvas.paste(qr_image, ((canvas_w - width) // 2, 0))
    ImageDraw.Draw(canvas).text(
        ((canvas_w - text_w) // 2 - int(box[0]), height - int(box[1])), text, fill=0, font=font
    )
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def svg(link: str, caption: str, *, inline: bool = False) -> str:
    """An SVG: the code as paths (one unit per module) with the caption under it, as
    text (escaped). `inline`: without the XML declaration, to embed in a page."""
    code = make(link)
    size = code.symbol_size(scale=1, border=BORDER)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=1, border=BORDER, xmldecl=False, svgns=True, nl=False)
    inner = buffer.getvalue().decode()
    # segno's own <svg> becomes a nested one placed at the top of ours.
    inner = inner.replace("<svg ", '<svg x="0" y="0" ', 1)
    text_h = 4
    head = "" if inline else '<?xml version="1.0" encoding="utf-8"?>\n'
    return (
        f'{head}<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size + text_h}" '
        f'width="{size * SCALE}" height="{(size + text_h) * SCALE}" class="qr">'
        f'<rect width="{size}" height="{size + text_h}" fill="#fff"/>{inner}'
        f'<text x="{size / 2}" y="{size + 1.5}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="2.4" text-anchor="middle" fill="#000">{escape(caption.strip())}</text>'
        "</svg>"
    )


def write(path: Path, link: str, caption: str) -> None:
    """Write the QR code to `path`: PNG or SVG by its extension (ValueError otherwise)."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        path.write_bytes(png(link, caption))
    elif suffix == ".svg":
        path.write_text(svg(link, caption), encoding="utf-8")
    else:
        raise ValueError(f"{path.name}: the file name must end in .png or .svg")


def svg_markup(link: str, caption: str) -> Markup:
    """The QR code's SVG to embed in a page (built from escaped parts only)."""
    return Markup(svg(link, caption, inline=True))

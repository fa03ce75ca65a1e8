"""The invite QR code decodes back to its link: PNG pixels read back into the module matrix."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import segno
from PIL import Image

from bot.web import qr
from tests.web.support import is_dark

LINK = "https://t.me/feedbot_test_bot?start=Zq-3_abcDEFghiJKLmnoPQRstu"


def _matrix_from_png(data: bytes, size: int) -> list[list[bool]]:
    """The dark modules of the code in a PNG (the caption below it is not read)."""
    image = Image.open(io.BytesIO(data)).convert("L")
    offset = (image.width - (size + 2 * qr.BORDER) * qr.SCALE) // 2
    rows = []
    for r in range(size):
        y = (qr.BORDER + r) * qr.SCALE + qr.SCALE // 2
        row = []
        for c in range(size):
            x = offset + (qr.BORDER + c) * qr.SCALE + qr.SCALE // 2
            row.append(is_dark(image, (x, y)))
        rows.append(row)
    return rows


def _decode(matrix: list[list[bool]]) -> str:
    """The text a matrix encodes: the one whose QR code (segno, same options) is this matrix.
    segno reads no images, so the matrix is matched against the link's own encoding,
    and against a near miss that must not match."""
    code = qr.make(LINK)
    expected = [[bool(v) for v in row] for row in code.matrix]
    assert matrix == expected
    other = [[bool(v) for v in row] for row in qr.make(LINK + "x").matrix]
    assert matrix != other
    return LINK


def test_png_decodes_to_the_link_with_the_name_under_it(tmp_path: Path) -> None:
    path = tmp_path / "kettle.png"
    qr.write(path, LINK, "Czajnik")
    data = path.read_bytes()
    size = len(qr.make(LINK).matrix)
    assert _decode(_matrix_from_png(data, size)) == LINK
    image = Image.open(io.BytesIO(data)).convert("L")
    code_h = (size + 2 * qr.BORDER) * qr.SCALE
    caption = image.crop((0, code_h, image.width, image.height))
    darkest = caption.getextrema()[0]
    assert isinstance(darkest, int) and darkest < 128  # something is written under the code


def test_svg_holds_the_matrix_and_the_escaped_name(tmp_path: Path) -> None:
    path = tmp_path / "kettle.svg"
    qr.write(path, LINK, "Tea & <Kettle>")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "Tea &amp; &lt;Kettle&gt;" in text
    buffer = io.BytesIO()
    qr.make(LINK).save(
        buffer, kind="svg", scale=1, border=qr.BORDER, xmldecl=False, svgns=True, nl=False
    )
    path_data = re.search(r' d="([^"]+)"', buffer.getvalue().decode())
    assert path_data is not None and path_data.group(1) in text
    assert (
        segno.make(LINK, error="m", micro=False, boost_error=False).version == qr.make(LINK).version
    )


def test_other_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        qr.write(tmp_path / "kettle.jpg", LINK, "Kettle")

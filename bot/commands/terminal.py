"""What the CLI writes to a terminal: control characters shown as visible escapes."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TextIO, cast

# C0 controls but newline and tab, DEL, and C1 controls (U+009B is a CSI on some
# terminals): typed answers and names keep them as typed in the database, but on a
# terminal they would move the cursor, recolour, retitle the window or ring the bell.
_ESCAPES = {
    code: f"\\x{code:02x}"
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if code not in (0x09, 0x0A)
}


def terminal_text(text: str) -> str:
    """`text` with every control character but newline and tab written as `\\xNN`
    (a CR right before a newline, as in CSV line ends, is harmless and kept)."""
    return "\r\n".join(line.translate(_ESCAPES) for line in text.split("\r\n"))


class _TerminalBuffer:
    """The binary side of a terminal: bytes decoded, escaped and encoded again."""

    def __init__(self, raw: BinaryIO, encoding: str) -> None:
        self.raw = raw
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def write(self, data: bytes) -> int:
        text = terminal_text(self.decoder.decode(data))
        self.raw.write(text.encode(self.encoding, errors="replace"))
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class TerminalStream:
    """A text stream that escapes control characters in everything written to it.

    Binary output (`.buffer`, e.g. a CSV written to stdout) is escaped too when it goes
    to a terminal; a file or a pipe gets the bytes as typed.
    """

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    @property
    def buffer(self) -> BinaryIO:
        if not self.raw.isatty():
            return self.raw.buffer
        return cast(BinaryIO, _TerminalBuffer(self.raw.buffer, self.raw.encoding or "utf-8"))

    def write(self, text: str) -> int:
        self.raw.write(terminal_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        # flush, encoding, isatty, fileno...: the real stream's.
        return getattr(self.raw, name)


@contextmanager
def safe_output() -> Iterator[None]:
    """Within: sys.stdout and sys.stderr escape control characters (see TerminalStream)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, TerminalStream(saved[0]))
    sys.stderr = cast(TextIO, TerminalStream(saved[1]))
    try:
        yield
    finally:
        # A command may have replaced a stream itself (`try` swaps a broken pipe for
        # devnull); only what is still ours goes back.
        if isinstance(sys.stdout, TerminalStream):
            sys.stdout = saved[0]
        if isinstance(sys.stderr, TerminalStream):
            sys.stderr = saved[1]

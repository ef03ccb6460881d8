"""Reading files within a size limit, and decoding policy bytes: what every source needs before
any parsing (kept apart from the XML reader, so that reading and forking need not load lxml)."""

from __future__ import annotations

import os
from pathlib import Path

MAX_DOCUMENT_BYTES: int = 4 * 1024 * 1024
"""A policy larger than this (in UTF-8 bytes) is refused."""


class PolicyReadError(Exception):
    """A policy document that cannot be read. Has .message (str), .line (int | None, 1-based)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.message = message
        self.line = line


def too_big(size: int) -> PolicyReadError:
    limit = f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB"
    return PolicyReadError(f"document is {size} bytes, over the {limit} limit")


def decode_policy_bytes(data: bytes) -> str:
    """Decode bytes: strip UTF-8 BOM, also accept UTF-16 with BOM; reject NUL bytes / binary
    (PolicyReadError 'binary content' with the line of the first NUL), invalid UTF-8 gives
    PolicyReadError with the 1-based line of the first bad byte; size over MAX_DOCUMENT_BYTES
    gives PolicyReadError('document is N bytes, over the 4 MiB limit')."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise too_big(len(data))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise PolicyReadError(f"invalid UTF-16: {exc.reason}") from None
        if "\x00" in text:
            raise PolicyReadError("binary content", text.count("\n", 0, text.index("\x00")) + 1)
        return text
    data = data.removeprefix(b"\xef\xbb\xbf")
    if (nul := data.find(b"\x00")) >= 0:
        raise PolicyReadError("binary content", data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PolicyReadError(f"invalid UTF-8 (byte 0x{data[exc.start]:02x})", line) from None


def read_bounded(file: Path | str, limit: int | None = None) -> bytes:
    """Read at most ``limit`` bytes (+1 to detect overflow) so a huge file is never loaded whole."""
    cap = MAX_DOCUMENT_BYTES if limit is None else limit
    with open(file, "rb") as fh:
        # NOTE: read(cap + 1) allocates a buffer of that size (4 MiB) for every small policy
        # file, which tripled the time to read thousands of them; the size the file states is
        # read instead, and the rest only if there is more (a growing or special file).
        want = min(os.fstat(fh.fileno()).st_size, cap) + 1
        data = fh.read(want)
        if len(data) == want and want <= cap:
            data += fh.read(cap + 1 - want)
    if len(data) > cap:
        size = os.stat(file).st_size
        raise PolicyReadError(
            f"file is {size} bytes, over the {cap // (1024 * 1024)} MiB limit; not read", None
        )
    return data

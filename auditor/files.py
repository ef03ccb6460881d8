"""Report files: written atomically (a reader never sees a half-written report), and saved JSON
reports told from sources."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: Characters encoded and written at a time.
_PIECE = 1 << 20


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            # NOTE: in pieces, so a report of tens of megabytes is never held twice (as text and
            # as its UTF-8 bytes).
            for start in range(0, len(text), _PIECE):
                fh.write(text[start : start + _PIECE])
            fh.flush()
            os.fsync(fh.fileno())
        # NOTE: mkstemp creates 0600; a report is an ordinary file and follows the umask.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def saved_report(path: Path) -> dict[str, Any] | None:
    """The JSON report (schema_version 1) stored in ``path``; None for anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(data, dict) and data.get("schema_version") == 1 and "apis" in data:
        return data
    return None

"""The files of one IaC source: found, read within limits, shown relative to the scanned folder.

A file that cannot be read is a read error at its path (the scan goes on); a file is read once
per scan whichever reader or module asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from auditor.bounded import PolicyReadError, decode_policy_bytes, read_bounded
from auditor.errors import SourceError
from auditor.model import Location, ReadError
from auditor.sources import resources
from auditor.sources.iac.lower import Sink

#: The largest IaC file read (larger ones are reported and skipped).
MAX_IAC_BYTES = 8 * 1024 * 1024


def find_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Regular files whose names end with one of ``suffixes`` at or below ``path``, sorted;
    hidden folders, node_modules and links are skipped (a link may lead out of the source, or
    in a loop; a FIFO would block the read)."""
    if path.is_file():
        return [path]
    found = []
    for folder, dirs, names in os.walk(path):  # os.walk does not enter linked folders
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        for name in names:
            if name.lower().endswith(suffixes) and not name.startswith("."):
                file = Path(folder) / name
                if not file.is_symlink() and file.is_file():
                    found.append(file)
    return sorted(found)


def require(path: Path, found: list[Path], what: str) -> None:
    """Refuse a source that is not there, or holds none of the files a reader reads."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if not found:
        raise SourceError(f"{path}: no {what} found")


def _checkout_of(folder: Path) -> Path:
    """The top of the git checkout holding ``folder``, or ``folder`` when it is in none."""
    for up in (folder, *folder.parents):
        if (up / ".git").exists():
            return up
    return folder


@dataclass
class Files:
    """What every reader of a source shares: its root, what it found, and what failed."""

    root: Path
    sink: Sink = field(default_factory=Sink)
    errors: list[ReadError] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    boundary: Path = field(init=False)
    """What may be read: the git checkout the scanned folder is in (a lab's modules sit in a
    sibling folder), else the scanned folder itself; never anything outside it."""

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.boundary = _checkout_of(self.root)

    def shown(self, file: Path) -> str:
        """``file`` as users see it: relative to the scanned folder, with '/'."""
        file = file.resolve()
        if file.is_relative_to(self.root):
            return file.relative_to(self.root).as_posix()
        if file.is_relative_to(self.boundary):
            return Path(os.path.relpath(file, self.root)).as_posix()
        return file.name

    def inside(self, file: Path) -> bool:
        """True when ``file`` may be read (see :attr:`boundary`)."""
        return file.resolve().is_relative_to(self.boundary)

    def read(self, file: Path, limit: int = MAX_IAC_BYTES) -> str | None:
        """A file's text (None when it cannot be read: a read error says why)."""
        shown = self.shown(file)
        if shown in self.texts:
            return self.texts[shown]
        try:
            data = read_bounded(file, limit)
            text = (
                decode_policy_bytes(data)
                if len(data) <= 4 * 1024 * 1024
                else data.decode("utf-8-sig")
            )
        except PolicyReadError as exc:
            self.errors.append(ReadError(Location(shown, exc.line), exc.message))
            return None
        except UnicodeDecodeError as exc:
            self.errors.append(ReadError(Location(shown), f"not UTF-8 text: {exc.reason}"))
            return None
        except OSError as exc:
            self.errors.append(ReadError(Location(shown), f"cannot read: {exc.strerror or exc}"))
            return None
        self.texts[shown] = text.removeprefix("\ufeff")
        return self.texts[shown]

    def loaded(self, kind: str, location: str, notes: list[str]) -> resources.Loaded:
        """What was read, to be built into an estate (see :class:`resources.Loaded`)."""
        return resources.Loaded(
            self.sink.out, kind, location, self.errors, notes, partial=self.sink.partial
        )

    def partial(self, deployment: str, why: str) -> None:
        """Part of ``deployment`` was not read (its services may hold more than is seen)."""
        self.sink.partial.setdefault(deployment, []).append(why)

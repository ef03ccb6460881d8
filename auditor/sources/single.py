"""A single policy file as the source: the API-scope policy (or a fragment) of one LLM API.

Everything else (products, diagnostics, subscriptions, other fragments) is unseen, so rules that
need it are ``unknown``. A folder of loose policy files is each of them as such a source, in one
report; a file in it that cannot be read is a read error at its line, and the others are judged.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from auditor.errors import SourceError
from auditor.model import Api, Estate, Location, ReadError, Service
from auditor.policy import PolicyDoc, read_policy_file, read_policy_text

PROVIDES = frozenset({"policies"})
#: How far into a file the root of a policy must show (a comment or declaration may come first).
_HEAD = 64 * 1024
#: Loose policy files looked for below a folder (as deep as the IaC readers look).
_DEPTH = 8


def load(file: Path) -> Estate:
    """Load ``file`` as the policy of one API named after the file."""
    found = _service(file, file.name, file.name.split(".")[0] or "api")
    if isinstance(found, ReadError):
        # NOTE: the file is the whole source: nothing is left to judge, and an API that cannot
        # be read is not called an LLM API. Said as a source error (exit 2), at its line.
        raise SourceError(f"{found.location}: cannot be read: {found.message}")
    return Estate("file", str(file), (found,), PROVIDES, notes=_notes(file))


def _notes(file: Path) -> tuple[str, ...]:
    if _is_fragment_file(file):
        return (f"{file.name} is a fragment: judged as included at the top of <inbound>",)
    return ()


def _is_fragment_file(file: Path) -> bool:
    head = _head(file)
    return "<fragment" in head and "<policies" not in head


def _head(file: Path) -> str:
    try:
        with file.open("rb") as fh:
            return fh.read(_HEAD).decode("utf-8", errors="replace")
    except OSError:
        return ""


def policy_files(folder: Path) -> list[Path]:
    """The ``.xml`` files below ``folder`` whose start shows a policy or fragment root, in path
    order (hidden folders and links left out). Other XML (a project file, a spec) is not one."""
    out = []
    for path in _xml_below(folder, _DEPTH):
        head = _head(path)
        if "<policies" in head or "<fragment" in head:
            out.append(path)
    return out


def _xml_below(folder: Path, depth: int) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    out: list[Path] = []
    for entry in entries:
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            if depth > 0:
                out += _xml_below(entry, depth - 1)
        elif entry.suffix.lower() == ".xml" and entry.is_file():
            out.append(entry)
    return out


def load_folder(folder: Path, files: list[Path]) -> Estate:
    """Each of ``files`` (below ``folder``) as a single-file source, in one estate: an API named
    after its path, and a read error (not an API) for each file that cannot be read."""
    services: list[Service] = []
    errors: list[ReadError] = []
    notes: list[str] = []
    for file in files:
        shown = file.relative_to(folder).as_posix()
        found = _service(file, shown, shown.rsplit(".", 1)[0])
        if isinstance(found, ReadError):
            errors.append(found)
            continue
        services.append(found)
        if _is_fragment_file(file):
            notes.append(f"{shown} is a fragment: judged as included at the top of <inbound>")
    notes.append(
        f"{len(files)} loose policy file(s): each judged as the API-scope policy of one LLM API"
    )
    return Estate(
        "files", str(folder), tuple(services), PROVIDES, tuple(errors), notes=tuple(notes)
    )


def _service(file: Path, shown: str, name: str) -> Service | ReadError:
    """The service (and API) ``name`` of one policy file shown as ``shown``, or why it cannot
    be read."""
    doc = read_policy_file(file, scope="api", shown_as=shown)
    if doc.root is None:
        return ReadError(Location(shown, doc.error_line), doc.error or "cannot be read")
    fragments: dict[str, PolicyDoc] = {}
    if doc.is_fragment:
        # NOTE: a fragment is judged as if its API included it at the top of <inbound>.
        frag = PolicyDoc("fragment", doc.path, doc.root, text=doc.text)
        fragments[name] = frag
        doc = read_policy_text(
            f"<policies><inbound><base /><include-fragment fragment-id={quoteattr(name)} />"
            "</inbound>"
            "<backend><base /></backend><outbound><base /></outbound>"
            "<on-error><base /></on-error></policies>",
            scope="api",
            path=None,
        )
    api = Api(
        name=name,
        display_name=name,
        path=None,
        service_url=None,
        subscription_required=None,
        products=(),
        operations=(),
        policy=doc,
        diagnostics=(),
        location=Location(shown),
    )
    return Service(name=name, policy=None, apis=(api,), fragments=fragments)

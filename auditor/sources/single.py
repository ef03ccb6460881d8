"""A single policy file as the source: the API-scope policy (or a fragment) of one LLM API.

Everything else (products, diagnostics, subscriptions, other fragments) is unseen, so rules that
need it are ``unknown``.
"""

from __future__ import annotations

from pathlib import Path

from auditor.errors import SourceError
from auditor.model import Api, Estate, Location, Service
from auditor.policy import PolicyDoc, read_policy_file, read_policy_text

PROVIDES = frozenset({"policies"})


def load(file: Path) -> Estate:
    """Load ``file`` as the policy of one API named after the file."""
    shown = file.name
    doc = read_policy_file(file, scope="api", shown_as=shown)
    if doc.root is None:
        # NOTE: the file is the whole source: nothing is left to judge, and an API that cannot
        # be read is not called an LLM API. Said as a source error (exit 2), at its line.
        where = f"{shown}:{doc.error_line}" if doc.error_line else shown
        raise SourceError(f"{where}: cannot be read: {doc.error}")
    name = file.name.split(".")[0] or "api"
    fragments: dict[str, PolicyDoc] = {}
    notes: list[str] = []
    if doc.is_fragment:
        # NOTE: a fragment is judged as if its API included it at the top of <inbound>.
        frag = PolicyDoc("fragment", doc.path, doc.root, text=doc.text)
        fragments[name] = frag
        doc = read_policy_text(
            f'<policies><inbound><base /><include-fragment fragment-id="{name}" /></inbound>'
            "<backend><base /></backend><outbound><base /></outbound>"
            "<on-error><base /></on-error></policies>",
            scope="api",
            path=None,
        )
        notes.append(f"{shown} is a fragment: judged as included at the top of <inbound>")
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
    service = Service(name=name, policy=None, apis=(api,), fragments=fragments)
    return Estate("file", str(file), (service,), PROVIDES, notes=tuple(notes))

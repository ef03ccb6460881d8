"""What the TUI shows, computed from the JSON report dict (schema_version 1) without Textual.

The widgets only draw what these functions return: filtering, sorting, counting, the estate tree
and the badges are all decided here, so they are unit-tested without a terminal and the view
stays thin. Nothing here imports ``textual``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.counts import is_gap, is_note, is_unreadable
from auditor.rules import SEVERITIES, SIGNALS

Finding = dict[str, Any]
Report = dict[str, Any]

SORT_KEYS = ("severity", "rule", "api", "status")
"""Columns the findings table sorts by, in the order the sort key cycles through them."""
STATUS_FILTERS = ("issues", "fail", "error", "skip", "pass", "suppressed", "all")
"""``issues`` is every unsuppressed fail, error or skip: what still needs a human."""
STATUS_ORDER = {"error": 0, "fail": 1, "skip": 2, "pass": 3}
"""Worst first; ``skip`` means a rule could not be evaluated (the verdict is unknown)."""
SUPPRESSION_LABEL = {"waiver": "waived", "baseline": "baselined", "inline": "ignored"}
BADGE = {"pass": "✓", "fail": "✗", "unknown": "?", "n/a": "·"}
PLAIN_BADGE = {"pass": "P", "fail": "F", "unknown": "?", "n/a": "-"}
"""Badges when NO_COLOR is set: letters, so a verdict never depends on a colour."""
LEGEND = ("pass", "fail", "unknown", "n/a")
"""The marks a legend explains, in its order; ``n/a`` marks an API that fronts no LLM."""
_DEFAULT_DESCENDING = {"severity": True, "rule": False, "api": False, "status": False}


def severity_rank(severity: str | None) -> int:
    """0 for info up to 4 for critical; unknown severities sort below info."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def is_suppressed(finding: Finding) -> bool:
    return bool(finding.get("suppression"))


def is_open(finding: Finding) -> bool:
    """A fail or error nobody has accepted: a gap."""
    return finding["status"] in ("fail", "error") and not is_suppressed(finding)


def status_label(finding: Finding) -> str:
    """``fail``, ``note`` (a low or info failure: no verdict changes), or ``fail (waived)`` /
    ``(baselined)`` / ``(ignored)`` when suppressed."""
    sup = finding.get("suppression")
    if not sup:
        return "note" if is_note(finding) else str(finding["status"])
    kind = SUPPRESSION_LABEL.get(str(sup.get("kind")), str(sup.get("kind")))
    return f"{finding['status']} ({kind})"


def location_text(finding: Finding) -> str:
    """``path:line`` of a finding, ``path`` without a line, or ``-`` without a file."""
    where = finding.get("location")
    if not where or not where.get("path"):
        return "-"
    return f"{where['path']}:{where['line']}" if where.get("line") else str(where["path"])


def suppression_text(finding: Finding) -> str:
    """One line saying who accepted the finding and why, or ``none``."""
    sup = finding.get("suppression")
    if not sup:
        return "none"
    kind = SUPPRESSION_LABEL.get(str(sup.get("kind")), str(sup.get("kind")))
    parts = [kind]
    if sup.get("owner"):
        parts.append(f"by {sup['owner']}")
    if sup.get("expires"):
        parts.append(f"until {sup['expires']}")
    text = " ".join(parts)
    return f"{text}: {sup['reason']}" if sup.get("reason") else text


def haystack(finding: Finding) -> str:
    """The lower-case text the incremental search looks in."""
    return (
        f"{finding.get('rule')}\n{finding.get('signal') or 'source'}\n{finding.get('severity')}"
        f"\n{status_label(finding)}\n{finding.get('service')}\n{finding.get('target')}"
        f"\n{finding.get('message')}\n{location_text(finding)}"
    ).lower()


@dataclass(frozen=True, slots=True)
class Filter:
    """The findings table's filters; ``None`` means any."""

    signal: str | None = None
    severity: str | None = None
    status: str = "issues"
    api: str | None = None
    text: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.text.lower().split())

    def matches(self, finding: Finding) -> bool:
        if self.signal is not None and (finding.get("signal") or "source") != self.signal:
            return False
        if self.severity is not None and finding.get("severity") != self.severity:
            return False
        if self.api is not None and finding.get("api") != self.api:
            return False
        if not _status_matches(self.status, finding):
            return False
        words = self.words
        if words:
            text = haystack(finding)
            return all(w in text for w in words)
        return True

    def refines(self, other: Filter) -> bool:
        """True when every finding this filter keeps is also kept by ``other``.

        Typing more search text only narrows the result, so the next result can be filtered from
        the previous one instead of from every finding.
        """
        return replace(self, text="") == replace(other, text="") and self.text.lower().startswith(
            other.text.lower()
        )

    def describe(self) -> str:
        """The active filters in a few words, for the status line."""
        parts = [f"status {self.status}"] if self.status != "all" else []
        parts += [
            f"{k} {v}"
            for k, v in (("signal", self.signal), ("severity", self.severity), ("API", self.api))
            if v
        ]
        if self.text.strip():
            parts.append(f"text '{self.text.strip()}'")
        return ", ".join(parts) or "no filter"


def _status_matches(wanted: str, finding: Finding) -> bool:
    status = finding["status"]
    if wanted == "all":
        return True
    if wanted == "issues":
        return status in ("fail", "error", "skip") and not is_suppressed(finding)
    if wanted == "suppressed":
        return is_suppressed(finding)
    return bool(status == wanted)


@dataclass(frozen=True, slots=True)
class Sort:
    key: str = "severity"
    descending: bool = True

    def toggled(self, key: str) -> Sort:
        """Clicking the sorted column flips it; another column sorts in its natural order."""
        if key == self.key:
            return Sort(key, not self.descending)
        return Sort(key, _DEFAULT_DESCENDING[key])

    def next(self) -> Sort:
        """The next column in :data:`SORT_KEYS`, in its natural order."""
        key = SORT_KEYS[(SORT_KEYS.index(self.key) + 1) % len(SORT_KEYS)]
        return Sort(key, _DEFAULT_DESCENDING[key])


def tiebreak_key(finding: Finding) -> str:
    """Rule, target, location: the order within equal sort keys (NUL-joined, so it compares
    like the tuple would)."""
    return f"{finding.get('rule')}\0{finding.get('target')}\0{location_text(finding)}"


def sort_key(key: str, finding: Finding) -> int | str:
    """The value ``key`` sorts by, as one int or str so a list of them sorts at C speed."""
    if key == "severity":
        # NOTE: severity first; within a severity, errors, fails, skips, passes (worst first).
        return (
            severity_rank(finding.get("severity")) * 100
            + 50
            - STATUS_ORDER.get(finding["status"], 9)
        )
    if key == "rule":
        return str(finding.get("rule"))
    if key == "api":
        return f"{finding.get('api') or ''}\0{finding.get('target')}"
    if key == "status":
        return STATUS_ORDER.get(finding["status"], 9) * 2 + int(is_suppressed(finding))
    raise ValueError(f"unknown sort key {key!r}")


def sort_findings(findings: Iterable[Finding], sort: Sort) -> list[Finding]:
    """Sorted by ``sort.key``; ties keep rule, target and location order in either direction."""
    out = sorted(findings, key=tiebreak_key)
    # NOTE: sort stability (also with reverse=True) keeps the tiebreak order within a key.
    out.sort(key=lambda f: sort_key(sort.key, f), reverse=sort.descending)
    return out


def filter_findings(findings: Iterable[Finding], flt: Filter) -> list[Finding]:
    return [f for f in findings if flt.matches(f)]


def _status_class(finding: Finding) -> tuple[str, ...]:
    """Every status filter a finding passes, besides ``all``."""
    status = str(finding["status"])
    if is_suppressed(finding):
        return (status, "suppressed")
    return (status, "issues") if status in ("fail", "error", "skip") else (status,)


class FindingIndex:
    """The findings of one report, indexed for filtering as you type.

    Each filter value maps to the set of findings it keeps (built on first use), each sort order
    is computed once, and the search text of every finding is built once. ``select`` intersects
    the sets, walks the sorted order once (or sorts a small result by rank), then narrows by the
    search words; when the search text only grew, it narrows the previous result instead. The
    result equals ``sort_findings(filter_findings(findings, flt), sort)``.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        self._lock = threading.Lock()
        self._hay: list[str] | None = None
        self._base: list[int] | None = None
        self._orders: dict[Sort, tuple[list[int], list[int]]] = {}
        self._sets: dict[str, dict[str, set[int]]] = {}
        self._last: tuple[Filter, Sort, list[int]] | None = None

    def prepare(self) -> None:
        """Build the search text, the default order and the filter sets now (a worker thread
        calls this so the first keystroke does not pay for it)."""
        self._haystacks()
        for key in SORT_KEYS:
            self.order(Sort(key, _DEFAULT_DESCENDING[key]))
        for name in ("signal", "severity", "api", "status"):
            self._field(name)

    def _haystacks(self) -> list[str]:
        with self._lock:
            if self._hay is None:
                self._hay = [haystack(f) for f in self.findings]
            return self._hay

    def _field(self, name: str) -> dict[str, set[int]]:
        with self._lock:
            if name not in self._sets:
                groups: dict[str, set[int]] = {}
                for i, f in enumerate(self.findings):
                    if name == "status":
                        for value in _status_class(f):
                            groups.setdefault(value, set()).add(i)
                        continue
                    value = f.get(name) or ("source" if name == "signal" else "")
                    groups.setdefault(str(value), set()).add(i)
                self._sets[name] = groups
            return self._sets[name]

    def order(self, sort: Sort) -> list[int]:
        return self._order(sort)[0]

    def _order(self, sort: Sort) -> tuple[list[int], list[int]]:
        """Positions in ``sort`` order, and each position's rank in it."""
        with self._lock:
            if sort not in self._orders:
                fs = self.findings
                if self._base is None:
                    ties = [tiebreak_key(f) for f in fs]
                    self._base = sorted(range(len(fs)), key=ties.__getitem__)
                keys = [sort_key(sort.key, f) for f in fs]
                order = sorted(self._base, key=keys.__getitem__, reverse=sort.descending)
                rank = [0] * len(fs)
                for r, i in enumerate(order):
                    rank[i] = r
                self._orders[sort] = (order, rank)
            return self._orders[sort]

    def select(self, flt: Filter, sort: Sort) -> list[Finding]:
        """The findings ``flt`` keeps, in ``sort`` order."""
        order, rank = self._order(sort)
        wanted = [
            self._field(name).get(value, set())
            for name, value in (
                ("signal", flt.signal),
                ("severity", flt.severity),
                ("api", flt.api),
                ("status", None if flt.status == "all" else flt.status),
            )
            if value is not None
        ]
        last = self._last
        if last is not None and last[1] == sort and flt.refines(last[0]):
            keep = last[2]  # already filtered by the same sets
        elif wanted:
            wanted.sort(key=len)
            chosen = wanted[0].intersection(*wanted[1:]) if len(wanted) > 1 else wanted[0]
            if len(chosen) * 8 < len(order):
                keep = sorted(chosen, key=rank.__getitem__)
            else:
                keep = [i for i in order if i in chosen]
        else:
            keep = order
        words = flt.words
        if words:
            hay = self._haystacks()
            for word in words:
                keep = [i for i in keep if word in hay[i]]
        self._last = (flt, sort, keep)
        fs = self.findings
        return [fs[i] for i in keep]


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One signal's standing, as the overview gauges draw it."""

    id: str
    status: str
    score: int
    passed: int
    failed: int
    unknown: int


@dataclass(frozen=True, slots=True)
class Summary:
    score: int
    llm_apis: int
    apis: int
    notes: int
    """Low and info failures: they change no verdict."""
    unreadable: int
    undecided: int
    """APIs that may front an LLM: their verdicts are all unknown."""
    limits: tuple[str, ...]
    """What the source does not show, one line per kind (count, kind)."""
    checks: int
    open: int
    suppressed: int
    unknown: int
    signals: tuple[SignalRow, ...]

    @property
    def score_text(self) -> str:
        if not (self.llm_apis or self.undecided):
            return "n/a (no API fronts an LLM)"
        if not any(s.passed + s.failed for s in self.signals):
            return "n/a (every verdict is unknown)"
        return f"{self.score}/100"


def summary(report: Report) -> Summary:
    findings = report["findings"]
    rows = tuple(
        SignalRow(
            str(s["id"]),
            str(s["status"]),
            int(s["score"]),
            int(s["passed"]),
            int(s["failed"]),
            int(s["unknown"]),
        )
        for s in report["signals"]
    )
    return Summary(
        score=int(report["score"]),
        llm_apis=sum(1 for a in report["apis"] if a["llm"]),
        apis=len(report["apis"]),
        undecided=sum(1 for a in report["apis"] if a.get("scope") == "undecided"),
        limits=tuple(
            f"{g['count']} x {g['kind']}" for g in report.get("limits", []) if g["limits"]
        ),
        checks=len(findings),
        open=sum(1 for f in findings if is_gap(f)),
        notes=sum(1 for f in findings if is_note(f)),
        unreadable=sum(1 for f in findings if is_unreadable(f)),
        suppressed=sum(1 for f in findings if is_suppressed(f)),
        unknown=sum(1 for f in findings if f["status"] == "skip"),
        signals=rows,
    )


def top_gaps(report: Report, limit: int | None = None) -> list[Finding]:
    """The open gaps and the unreadable inputs, worst first (severity, then errors before
    fails); notes (low, info) are not gaps."""
    found = (f for f in report["findings"] if is_gap(f) or is_unreadable(f))
    gaps = sort_findings(found, Sort())
    return gaps if limit is None else gaps[:limit]


def counts(findings: Iterable[Finding], key: str) -> dict[str, int]:
    """How many findings have each value of ``key`` (``status`` counts suppressed apart)."""
    out: dict[str, int] = {}
    for f in findings:
        value = "suppressed" if key == "status" and is_suppressed(f) else str(f.get(key))
        out[value] = out.get(value, 0) + 1
    return out


def badge(verdict: str | None, plain: bool = False) -> str:
    marks = PLAIN_BADGE if plain else BADGE
    return marks.get(verdict or "unknown", "?")


def badges(api: dict[str, Any], plain: bool = False) -> str:
    """One badge per signal in :data:`SIGNALS` order; blanks for an API that is not an LLM API
    (an undecided one, which may be, shows its unknown verdicts)."""
    if not api.get("llm") and api.get("scope") != "undecided":
        return " ".join(badge("n/a", plain) for _ in SIGNALS)
    return " ".join(badge(api["signals"].get(s), plain) for s in SIGNALS)


@dataclass(frozen=True, slots=True)
class OperationNode:
    name: str
    target: str
    open: int


@dataclass(frozen=True, slots=True)
class ApiNode:
    api: dict[str, Any]
    open: int
    operations: tuple[OperationNode, ...]

    @property
    def name(self) -> str:
        return str(self.api["name"])


@dataclass(frozen=True, slots=True)
class ServiceNode:
    name: str
    apis: tuple[ApiNode, ...]
    hidden: int = 0
    """APIs left out because they are not LLM APIs."""


@dataclass
class _ApiTally:
    open: int = 0
    ops: dict[str, int] = field(default_factory=dict)


def estate(report: Report, include_non_llm: bool = False) -> list[ServiceNode]:
    """service -> API -> operation. An API's operations are the ones the report lists for it,
    with those its findings name (``api/operation`` targets): an API whose findings are all at
    API level, or that has none (a non-LLM API), still opens onto its operations."""
    tally: dict[tuple[str, str], _ApiTally] = {}
    for f in report["findings"]:
        if not f.get("api"):
            continue
        t = tally.setdefault((str(f.get("service")), str(f["api"])), _ApiTally())
        bad = int(is_gap(f) or is_unreadable(f))
        t.open += bad
        target = str(f.get("target", ""))
        prefix = f"{f['api']}/"
        if target.startswith(prefix):
            op = target[len(prefix) :]
            t.ops[op] = t.ops.get(op, 0) + bad
    services: dict[str, list[ApiNode]] = {}
    hidden: dict[str, int] = {}
    for api in report["apis"]:
        svc = str(api.get("service"))
        services.setdefault(svc, [])
        if not api.get("llm") and api.get("scope") != "undecided" and not include_non_llm:
            hidden[svc] = hidden.get(svc, 0) + 1
            continue
        t = tally.get((svc, str(api["name"])), _ApiTally())
        # NOTE: a saved report from before `operations` was written lists none; the findings'
        # targets still give the operations that have findings.
        names = {str(op) for op in api.get("operations") or ()} | set(t.ops)
        ops = tuple(
            OperationNode(op, f"{api['name']}/{op}", t.ops.get(op, 0)) for op in sorted(names)
        )
        services[svc].append(ApiNode(api, t.open, ops))
    return [
        ServiceNode(name, tuple(sorted(apis, key=lambda a: a.name)), hidden.get(name, 0))
        for name, apis in sorted(services.items())
    ]


def api_names(report: Report) -> list[str]:
    """APIs that have findings, for the API filter."""
    return sorted({str(f["api"]) for f in report["findings"] if f.get("api")})


def rules_by_id(report: Report) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in report.get("rules", [])}


def cycle(values: Sequence[str | None], current: str | None) -> str | None:
    """The value after ``current`` (wrapping); the first one when ``current`` is unknown."""
    try:
        return values[(list(values).index(current) + 1) % len(values)]
    except ValueError:
        return values[0]

"""Accepted risks: waivers (file), inline ignores (policy comments) and baselines (fingerprints).

Nothing is dropped: a suppressed finding stays in every report, marked with why. Waived and
inline-ignored findings no longer count against verdicts or the gate (a human accepted them);
baselined findings still count in verdicts (the gap is real) but do not fail the gate, so only new
findings break a build. An expired waiver fails the gate; unused waivers and ignores are warned
about so the list does not rot.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from auditor.engine import Finding
from auditor.errors import AuditorError
from auditor.model import Estate
from auditor.policy import PolicyDoc, local_name

BASELINE_FORMAT = "attribution-auditor-baseline"
_WAIVER_KEYS = {"rule", "target", "reason", "owner", "expires"}
_IGNORE = re.compile(r"^\s*auditor:\s*ignore\[([A-Za-z0-9_,\s]+)\]\s*(.*?)\s*$", re.DOTALL)


class ConfigError(AuditorError):
    """A waivers or baseline file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted finding: rule, target pattern, why, who, until when."""

    rule: str
    target: str
    reason: str
    owner: str
    expires: dt.date
    line: int | None = None


@dataclass(frozen=True, slots=True)
class InlineIgnore:
    """``<!-- auditor: ignore[RULE,...] reason -->`` in a policy, and the lines it covers."""

    rules: frozenset[str]
    reason: str
    path: str
    first: int
    last: int
    """Inclusive line span; the whole document when the comment sits under the root."""
    comment_line: int


@dataclass
class Suppressor:
    """Marks findings; remembers what matched so the unused can be reported."""

    waivers: list[Waiver] = field(default_factory=list)
    ignores: list[InlineIgnore] = field(default_factory=list)
    baseline: frozenset[str] = frozenset()
    today: dt.date = field(default_factory=dt.date.today)
    used: set[int] = field(default_factory=set)

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings with ``suppression`` set where a waiver, ignore or baseline matches."""
        return [self._one(f) for f in findings]

    def _one(self, f: Finding) -> Finding:
        if f.status not in ("fail", "error"):
            return f
        for ig in self.ignores:
            loc = f.location
            if (
                f.rule in ig.rules
                and loc is not None
                and loc.path == ig.path
                and loc.line
                and ig.first <= loc.line <= ig.last
            ):
                self.used.add(id(ig))
                return replace(
                    f,
                    suppression={
                        "kind": "inline",
                        "reason": ig.reason,
                        "owner": None,
                        "expires": None,
                    },
                )
        for w in self.waivers:
            if f.rule == w.rule and _matches(w.target, f):
                self.used.add(id(w))
                if w.expires < self.today:
                    return f  # an expired waiver accepts nothing (and fails the gate)
                return replace(
                    f,
                    suppression={
                        "kind": "waiver",
                        "reason": w.reason,
                        "owner": w.owner,
                        "expires": w.expires.isoformat(),
                    },
                )
        if f.fingerprint in self.baseline:
            return replace(
                f,
                suppression={
                    "kind": "baseline",
                    "reason": "in the baseline",
                    "owner": None,
                    "expires": None,
                },
            )
        return f

    def expired(self) -> list[Waiver]:
        """Waivers past their expiry date (they fail the gate)."""
        return [w for w in self.waivers if w.expires < self.today]

    def warnings(self) -> list[str]:
        """Unused waivers and inline ignores."""
        out = [
            f"waiver {w.rule} '{w.target}' (line {w.line}) matched no finding"
            for w in self.waivers
            if id(w) not in self.used
        ]
        out += [
            f"{ig.path}:{ig.comment_line}: ignore[{','.join(sorted(ig.rules))}] matched no finding"
            for ig in self.ignores
            if id(ig) not in self.used
        ]
        return out


def _matches(pattern: str, f: Finding) -> bool:
    candidates = [f.target, f.api or "", f"{f.service}/{f.api}", f"{f.service}/{f.target}"]
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates if c)


def load_waivers(path: Path) -> list[Waiver]:
    """Read and validate a waivers file (YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read waivers: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}".split("\n")[0]) from exc
    entries = data.get("waivers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a mapping with a 'waivers' list")
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.lstrip().startswith("- ")]
    out = []
    for n, entry in enumerate(entries):
        where = f"{path}: waiver {n + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping")
        if unknown := set(entry) - _WAIVER_KEYS:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        if missing := sorted(k for k in _WAIVER_KEYS if not entry.get(k)):
            raise ConfigError(
                f"{where}: missing {', '.join(missing)} (every waiver needs a "
                "rule, a target pattern, a reason, an owner and an expiry)"
            )
        expires = entry["expires"]
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError as exc:
                raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD)") from exc
        if not isinstance(expires, dt.date):
            raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD)")
        out.append(
            Waiver(
                str(entry["rule"]).upper(),
                str(entry["target"]),
                str(entry["reason"]),
                str(entry["owner"]),
                expires,
                lines[n] if n < len(lines) else None,
            )
        )
    return out


def load_baseline(path: Path) -> frozenset[str]:
    """Fingerprints from a file written by ``--write-baseline``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read baseline: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid baseline JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise ConfigError(f"{path}: not an attribution-auditor baseline")
    prints = data.get("fingerprints")
    if not isinstance(prints, list):
        raise ConfigError(f"{path}: 'fingerprints' must be a list")
    return frozenset(str(p) for p in prints)


def baseline_text(findings: Iterable[dict[str, Any]]) -> str:
    """A baseline of every failing or error finding of a report (sorted, one per line)."""
    prints = sorted({f["fingerprint"] for f in findings if f["status"] in ("fail", "error")})
    body = ",\n".join(f'    "{p}"' for p in prints)
    return (
        f'{{\n  "format": "{BASELINE_FORMAT}",\n  "version": 1,\n  "fingerprints": [\n'
        f"{body}\n  ]\n}}\n"
    )


def inline_ignores(estate: Estate) -> list[InlineIgnore]:
    """Every ``auditor: ignore[...]`` comment in the estate's policy documents."""
    return ignores_in(d for s in estate.services for d in s.all_policy_docs())


def ignores_in(docs: Iterable[PolicyDoc]) -> list[InlineIgnore]:
    """The inline ignores of the documents, in order (each document once)."""
    out = []
    seen: set[int] = set()
    for doc in docs:
        if doc.root is None or id(doc) in seen:
            continue
        seen.add(id(doc))
        out += _doc_ignores(doc)
    return out


def _doc_ignores(doc: PolicyDoc) -> list[InlineIgnore]:
    assert doc.root is not None
    out = []
    for node in doc.root.iter():
        if local_name(node) or not isinstance(node.text, str):
            continue
        m = _IGNORE.match(node.text)
        if not m or doc.path is None:
            continue
        rules = frozenset(r.strip().upper() for r in m.group(1).split(",") if r.strip())
        here = doc.location(node).line or 1
        parent = node.getparent()
        if parent is None or parent is doc.root:
            first, last = 1, 10**9
        else:
            target = node.getnext()
            while target is not None and not local_name(target):
                target = target.getnext()
            if target is None:
                continue
            lines = [doc.location(e).line or 0 for e in target.iter()]
            first, last = min(lines), max(lines)
        out.append(InlineIgnore(rules, m.group(2) or "ignored inline", doc.path, first, last, here))
    return out

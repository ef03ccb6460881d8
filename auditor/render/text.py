"""The terminal summary: signal scores, the API x signal matrix, top gaps with file:line and fix."""

from __future__ import annotations

import os
import textwrap
from typing import Any

from auditor.counts import GAP_WORDS, counts, gaps, score_words, signal_score, signal_status
from auditor.limits import SHOWN
from auditor.rules import SIGNALS

TOP_GAPS = 12
MAX_MATRIX_ROWS = 40
MAX_UNDECIDED = 10
_MARK = {"pass": "pass", "fail": "FAIL", "unknown": "unknown"}


def loc(finding: dict[str, Any]) -> str:
    """``path:line`` of a finding, or its target when it has no file."""
    where = finding.get("location")
    if not where:
        return str(finding["target"])
    return f"{where['path']}:{where['line']}" if where.get("line") else str(where["path"])


def reason(finding: dict[str, Any]) -> str:
    """The message of a finding without its leading ``<target>: ``."""
    message = str(finding["message"])
    prefix = f"{finding['target']}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


_SUPPRESSED = {"waiver": "waived", "baseline": "baselined", "inline": "ignored inline"}


def suppression_label(suppression: dict[str, Any]) -> str:
    """``waived``, ``baselined`` or ``ignored inline``: how a report names an acceptance."""
    return _SUPPRESSED.get(str(suppression.get("kind")), "suppressed")


def failing(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The open gaps (see :mod:`auditor.counts`), worst first (stable order otherwise)."""
    return gaps(report["findings"])


def render(report: dict[str, Any], width: int | None = None) -> str:
    """Plain text for a terminal; no colour codes, so logs and NO_COLOR terminals read it.
    Every line fits ``width`` columns (default: ``$COLUMNS``, else 100): longer ones wrap."""
    width = max(40, width or terminal_width())
    return "\n".join(fit(line, width) for line in _lines(report, width)) + "\n"


def terminal_width() -> int:
    """``$COLUMNS`` when set (a terminal sets it), else 100 (logs and pipes)."""
    try:
        return int(os.environ.get("COLUMNS", "") or 100)
    except ValueError:
        return 100


def fit(line: str, width: int) -> str:
    """``line`` wrapped to ``width`` columns, continuation lines indented under its text."""
    if len(line) <= width:
        return line
    indent = len(line) - len(line.lstrip(" "))
    return "\n".join(
        textwrap.wrap(
            line,
            width,
            initial_indent="",
            subsequent_indent=" " * min(indent + 4, width // 2),
            break_on_hyphens=False,
        )
    )


def _lines(report: dict[str, Any], width: int) -> list[str]:
    out: list[str] = []
    if report.get("usage"):
        from auditor.render.money import money_line, text_block

        out += [money_line(report["usage"]), *text_block(report["usage"]), ""]
    src = report["source"]
    llm = [a for a in report["apis"] if a["llm"]]
    undecided = [a for a in report["apis"] if a.get("scope") == "undecided"]
    out.append(f"attribution-auditor {report['tool']['version']}  {src['kind']}: {src['location']}")
    score = score_words(report)
    maybe = f", {len(undecided)} undecided" if undecided else ""
    out.append(
        f"{len(report['apis'])} APIs, {len(llm)} judged as LLM APIs{maybe}.  "
        f"Attribution score: {score}"
    )
    out.append(counts(report["findings"]).words() + ".")
    out.append("")
    out.append(f"  {'signal':<12} {'status':<8} {'score':>5}  pass  fail  unknown")
    for s in report["signals"]:
        status, score = signal_status(s), f"{signal_score(s):>5}"
        out.append(
            f"  {s['id']:<12} {status:<8} {score}  {s['passed']:>4}  "
            f"{s['failed']:>4}  {s['unknown']:>7}"
        )
    if llm:
        shown = llm
        if len(llm) > MAX_MATRIX_ROWS:
            # NOTE: a terminal cannot show thousands of rows; failing APIs first, the rest counted.
            shown = [a for a in llm if "fail" in a["signals"].values()][:MAX_MATRIX_ROWS]
        # NOTE: the matrix is a table: its API column gives way so the row fits the terminal.
        room = max(12, width - 2 - 2 - 13 * len(SIGNALS))
        col = min(48, room, max(len(a["id"]) for a in shown or llm))
        out.append("")
        out.append("  " + "API".ljust(col) + "  " + "  ".join(f"{s:<11}" for s in SIGNALS))
        for a in shown:
            cells = "  ".join(f"{_MARK[a['signals'][s]]:<11}" for s in SIGNALS)
            name = a["id"] if len(a["id"]) <= col else a["id"][: col - 3] + "..."
            out.append(f"  {name.ljust(col)}  {cells}".rstrip())
        if len(shown) < len(llm):
            out.append(
                f"  ... {len(llm) - len(shown)} more APIs (all of them are in the report "
                "file: -o report.md / .json / .html)"
            )
    gaps = failing(report)
    if gaps:
        out.append("")
        out.append(f"Top gaps ({min(len(gaps), TOP_GAPS)} of {len(gaps)} open: {GAP_WORDS}):")
        for f in gaps[:TOP_GAPS]:
            out.append(f"  {f['severity'].upper():<8} {f['rule']}  {loc(f)}")
            out.extend(
                textwrap.wrap(
                    f["message"], 96, initial_indent="           ", subsequent_indent="           "
                )
            )
            out.extend(
                textwrap.wrap(
                    "fix: " + f["fix"],
                    96,
                    initial_indent="           ",
                    subsequent_indent="                ",
                )
            )
            if patch := f.get("patch"):
                out.append(
                    f"           patch: {patch['description']} in {patch['path']} "
                    "(auditor fix applies it)"
                )
    if undecided:
        out.append("")
        out.append(
            f"Undecided ({len(undecided)}): whether they front an LLM depends on values this "
            "source does not hold; every verdict is unknown:"
        )
        for a in undecided[:MAX_UNDECIDED]:
            out.append(f"  {a['id']}")
        if len(undecided) > MAX_UNDECIDED:
            out.append(f"  ... and {len(undecided) - MAX_UNDECIDED} more (see the report file)")
    errors = [f for f in report["findings"] if f["status"] == "error"]
    if errors:
        out.append("")
        out.append(f"Could not read or evaluate ({len(errors)}):")
        for f in errors:
            out.append(f"  {f['rule']}  {loc(f)}  {f['message']}")
    skips = sorted(
        {
            _short(f["message"].split(": ", 1)[-1])
            for f in report["findings"]
            if f["status"] == "skip" and f["rule"] != "AUD004"
        }
    )
    if skips:
        out.append("")
        out.append("Not evaluated (verdicts stay unknown):")
        out.extend(f"  - {s}" for s in skips[:10])
        if len(skips) > 10:
            out.append(f"  ... and {len(skips) - 10} more (see the report file)")
    limits = [g for g in report.get("limits", []) if g["limits"]]
    if limits:
        out.append("")
        out.append("What this source does not show (it limits the verdicts):")
        for g in limits:
            where = ", ".join(g["where"][:SHOWN])
            more = f" (+{len(g['where']) - SHOWN} more)" if len(g["where"]) > SHOWN else ""
            out.extend(
                textwrap.wrap(
                    f"{g['count']:>4} x {g['kind']}" + (f": {where}{more}" if where else ""),
                    100,
                    initial_indent="  ",
                    subsequent_indent="           ",
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )
    return out


def _short(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."

"""Scan the real-world regression set and compare the tool's verdicts with the hand verdicts.

The set is ``tests/realworld.md``: public repositories that deploy APIM in front of Azure OpenAI,
each judged by hand (its YAML block names the repositories, their commits, their LLM APIs and
the verdict on each signal). The repositories themselves are not in this project; check them out
at those commits into one folder (``owner__name`` each) and point ``--repos`` at it.

    python bench/realworld.py --repos /work/realworld/repos [--auditor "python -m auditor"]

Prints, per repository and in total: the APIs found and missed, the verdicts that agree, and
the disagreements by kind, worst first: a ``pass`` where the hand verdict is not (a wrong
all-clear), a ``fail`` where the hand verdict is ``unknown`` or ``pass``, an ``unknown`` where
the hand verdict is decided. Exit status 0; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

SIGNALS = ("coverage", "identity", "streaming", "correlation")
HERE = Path(__file__).resolve().parents[1]


def hand_verdicts(path: Path) -> list[dict[str, Any]]:
    """The repositories of the set, from the YAML block of the Markdown file."""
    text = path.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)\n```", text, re.S)
    if block is None:
        raise SystemExit(f"{path}: no ```yaml block")
    repos: list[dict[str, Any]] = yaml.safe_load(block.group(1))["repos"]
    return repos


def scan(auditor: list[str], folder: Path, timeout: float) -> tuple[dict[str, Any], float, int]:
    """The JSON report of a scan of ``folder``, its wall time and exit status (a scan that
    does not end in ``timeout`` seconds gives no report: a hang, as a user sees it)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [*auditor, "scan", str(folder), "--format", "json", "-o", str(out)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"apis": [], "error": "no result (hung)"}, timeout, -1
        elapsed = time.perf_counter() - start
        if not out.is_file():
            return {"apis": [], "error": proc.stderr.strip()[-500:]}, elapsed, proc.returncode
        return json.loads(out.read_text(encoding="utf-8")), elapsed, proc.returncode


def match(hand: dict[str, Any], apis: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The tool's API for a hand-judged one: same name, declared in the same file (or named in
    the same deployment)."""
    name = str(hand["api"]).lower()
    path = str(hand.get("declared_at") or "").rsplit(":", 1)[0]
    # A name only known at deployment reads ${param} in the report, the parameter by hand.
    same = [a for a in apis if a["name"].lower() in (name, "${" + name + "}")]
    deployment = str(hand.get("deployment") or "")
    # A template compiled from a Bicep file beside it is read from the Bicep file: its APIs
    # are that deployment's.
    twins = [deployment]
    if deployment.endswith(".json"):
        twins.append(deployment[: -len(".json")] + ".bicep")
    for a in same:
        if path and str(a.get("declared_at") or "").rsplit(":", 1)[0] == path:
            return a
    for twin in twins:
        for a in same:
            if twin and f"({twin})" in a["service"]:
                return a
    literal = [a for a in same if "(" not in a["service"]]
    return literal[0] if len(literal) == 1 else None


def compare(repo: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Counts of agreement and of each kind of disagreement for one repository."""
    counts = {"apis": 0, "found": 0, "missed": [], "agree": 0, "cells": 0, "wrong_pass": [],
              "wrong_fail": [], "unknown_instead": [], "decided_instead": [],
              "negatives_ok": 0, "negatives": 0}  # fmt: skip
    for hand in repo["apis"]:
        got = match(hand, report.get("apis", []))
        label = f"{hand['api']} ({hand.get('deployment')})"
        if hand.get("llm") is False:
            counts["negatives"] += 1
            if got is None or got.get("scope", "llm" if got["llm"] else "other") == "other":
                counts["negatives_ok"] += 1
            else:
                counts["decided_instead"].append(f"{label}: judged as an LLM API")
            continue
        counts["apis"] += 1
        scope = None if got is None else got.get("scope", "llm" if got["llm"] else "other")
        if got is None or scope == "other":
            counts["missed"].append(label + ("" if got else ": not found"))
            continue
        counts["found"] += 1
        want = hand.get("verdicts") or {}
        for signal in SIGNALS:
            if signal not in want:
                continue
            have = got["signals"].get(signal, "unknown")
            counts["cells"] += 1
            if have == want[signal]:
                counts["agree"] += 1
            elif have == "pass":
                counts["wrong_pass"].append(f"{label} {signal}: pass, by hand {want[signal]}")
            elif have == "fail":
                counts["wrong_fail"].append(f"{label} {signal}: fail, by hand {want[signal]}")
            else:
                counts["unknown_instead"].append(f"{label} {signal}: unknown, by hand "
                                                 f"{want[signal]}")  # fmt: skip
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=Path, required=True, help="folder of owner__name checkouts")
    parser.add_argument("--set", type=Path, default=HERE / "tests" / "realworld.md")
    parser.add_argument("--auditor", default=f"{sys.executable} -m auditor")
    parser.add_argument("--verbose", action="store_true", help="list every disagreement")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a scan may take")
    args = parser.parse_args(argv)
    auditor = shlex.split(args.auditor)
    total: dict[str, int] = {}
    print(f"{'repository':<48} {'time':>6} {'LLM APIs':>9} {'cells':>9} {'wrong pass':>10} "
          f"{'wrong fail':>10} {'unknown':>8}")  # fmt: skip
    for repo in hand_verdicts(args.set):
        folder = args.repos / repo["repo"].replace("/", "__")
        if not folder.is_dir():
            print(f"{repo['repo']:<48} not checked out at {folder}")
            continue
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()  # fmt: skip
        if head and head != repo["commit"]:
            print(f"  note: {folder} is at {head[:12]}, the set judged {repo['commit'][:12]}")
        report, elapsed, _rc = scan(auditor, folder, args.timeout)
        c = compare(repo, report)
        for key in ("apis", "found", "agree", "cells", "negatives", "negatives_ok"):
            total[key] = total.get(key, 0) + c[key]
        for key in ("wrong_pass", "wrong_fail", "unknown_instead", "missed", "decided_instead"):
            total[key] = total.get(key, 0) + len(c[key])
        print(
            f"{repo['repo']:<48} {elapsed:>5.1f}s {c['found']:>4}/{c['apis']:<4} "
            f"{c['agree']:>4}/{c['cells']:<4} {len(c['wrong_pass']):>10} {len(c['wrong_fail']):>10}"
            f" {len(c['unknown_instead']):>8}"
        )
        if args.verbose:
            for key in ("missed", "decided_instead", "wrong_pass", "wrong_fail", "unknown_instead"):
                for line in c[key]:
                    print(f"    {key}: {line}")
    print()
    print(
        f"LLM APIs found {total.get('found', 0)}/{total.get('apis', 0)}; non-LLM APIs kept out "
        f"{total.get('negatives_ok', 0)}/{total.get('negatives', 0)}; verdicts agreeing "
        f"{total.get('agree', 0)}/{total.get('cells', 0)}; wrong pass {total.get('wrong_pass', 0)}"
        f"; wrong fail {total.get('wrong_fail', 0)}; unknown where decided by hand "
        f"{total.get('unknown_instead', 0)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast real Bicep repositories scan: the parse alone, and the whole CLI scan.

    python bench/bench_bicep.py [--repos ../shared/corpus/repos] [--repeat 5]

For every repository folder under ``--repos``: the tree-sitter parse of all its ``.bicep``
files (once, in this process), then ``auditor scan`` of the whole repository as a user runs it
(a fresh interpreter each time, best and median of ``--repeat``), with the targets of issue 13:
AI-Gateway under 10 s, every other repository under 3 s on 2 cores. Figures, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TARGETS = {"AI-Gateway": 10.0}
DEFAULT_TARGET = 3.0


def parse_all(folder: Path) -> tuple[int, int, float]:
    """(files, files with a syntax note, seconds) for parsing every Bicep file of ``folder``."""
    from auditor.sources.bicep.parse import parse
    from auditor.sources.iac.files import find_files

    files = find_files(folder, (".bicep",))
    start = time.perf_counter()
    noted = 0
    for file in files:
        text = file.read_text(encoding="utf-8-sig", errors="replace")
        noted += bool(parse(text).errors)
    return len(files), noted, time.perf_counter() - start


def scan_once(folder: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "auditor", "scan", str(folder), "--format", "json", "-o",
             str(Path(tmp) / "r.json"), "--fail-on", "never"],
            capture_output=True, check=False, timeout=600,
        )  # fmt: skip
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=Path, default=HERE.parent / "shared" / "corpus" / "repos")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.repos.is_dir():
        print(f"no repositories at {args.repos}")
        return 0
    print(f"{'repository':<40} {'.bicep':>7} {'noted':>6} {'parse':>8} {'scan best':>10} "
          f"{'median':>8} {'target':>7}")  # fmt: skip
    for folder in sorted(p for p in args.repos.iterdir() if p.is_dir()):
        files, noted, parsed = parse_all(folder)
        runs = [scan_once(folder) for _ in range(args.repeat)]
        target = TARGETS.get(folder.name, DEFAULT_TARGET)
        best, median = min(runs), statistics.median(runs)
        verdict = "PASS" if median < target else "MISS"
        print(
            f"{folder.name:<40} {files:>7} {noted:>6} {parsed:>7.2f}s {best:>9.2f}s "
            f"{median:>7.2f}s {target:>5.0f} s {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

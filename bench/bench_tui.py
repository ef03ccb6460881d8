"""Benchmark the TUI: time to first frame, and filter latency on a 5,000-API report.

Usage::

    python bench/bench_tui.py [--apis 5000] [--repeat 5] [--size 120x40]

1. **Time to first frame** on the demo report (target <= 1 s), in a fresh interpreter each time
   (best and median of ``--repeat``), measured from before ``import auditor.tui`` (so Textual's
   import is included) to:

   a. the ``Ready`` event, which Textual sends once the first frame is on screen;
   b. the first frame that shows the report, on the path ``auditor tui report.json`` takes: the
      app starts empty and ``load()`` (reading the JSON) runs in a worker thread.

   The interpreter's own start-up (about 20 ms) is not included.

2. **Filter latency** on a report of ``--apis`` APIs (target <= 100 ms), built by copying the
   demo report's APIs and findings under new names (``chat-finance-0042`` ...). For each change
   the script records how long the handler took (filter + sort + table update) and the time
   from the key press (or select change) to the next frame Textual rendered after it; the
   headless driver discards the frame, but it is composed and rendered the same way. The same
   filters are also timed on ``model.FindingIndex.select`` alone.

Nothing is written to disk. Figures are printed as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Report = dict[str, Any]


def demo_report() -> Report:
    from auditor.cli import _report
    from auditor.sources import demo_path

    return _report(
        argparse.Namespace(
            source=demo_path(),
            source_type="auto",
            include_revisions=False,
            rules=None,
            waivers=None,
            baseline=None,
        )
    )


def big_report(demo: Report, apis: int) -> Report:
    """The demo report with its APIs (and their findings) copied until there are ``apis``."""
    out = copy.deepcopy(demo)
    by_api: dict[str, list[Report]] = {}
    for f in demo["findings"]:
        by_api.setdefault(str(f["api"]), []).append(f)
    out["apis"], out["findings"] = [], []
    copies = -(-apis // len(demo["apis"]))
    for i in range(copies):
        for api in demo["apis"]:
            if len(out["apis"]) == apis:
                break
            old, new = api["name"], f"{api['name']}-{i:04d}"
            a = copy.deepcopy(api)
            a.update(id=f"{a['service']}/{new}", name=new, display_name=new)
            out["apis"].append(a)
            for f in by_api.get(old, []):
                g = copy.deepcopy(f)
                g["api"] = new
                g["target"] = new + str(f["target"])[len(old) :]
                g["message"] = str(f["message"]).replace(old, new)
                if g["location"]:
                    g["location"]["path"] = str(g["location"]["path"]).replace(
                        f"apis/{old}/", f"apis/{new}/"
                    )
                g["fingerprint"] = f"{i:04d}{f['fingerprint']}"[:32]
                out["findings"].append(g)
    for s in out["signals"]:
        for k in ("passed", "failed", "unknown"):
            s[k] = s[k] * copies
    return out


# -- 1. time to first frame -------------------------------------------------------------------

CHILD = """
import json, sys, time
start = time.perf_counter()
from textual import events
from auditor.tui import make_app
report_path, mode = sys.argv[1], sys.argv[2]
marks = {}

def load():
    return json.loads(open(report_path, encoding="utf-8").read())

app = make_app(load, report_path, load() if mode == "given" else None)
display = app._display

def timed_display(screen, renderable):
    display(screen, renderable)
    if renderable is not None and app.report is not None and "report" not in marks:
        marks["report"] = time.perf_counter() - start

app._display = timed_display

def hook(message):
    if isinstance(message, events.Ready) and "ready" not in marks:
        marks["ready"] = time.perf_counter() - start

async def main():
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        while "report" not in marks:
            await pilot.pause(0.01)

import asyncio
asyncio.run(main())
print(json.dumps(marks))
"""


def first_frame(report_file: Path, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ready": [], "report": []}
    for _ in range(repeat):
        run = subprocess.run(
            [sys.executable, "-c", CHILD, str(report_file), "load"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        if run.returncode:
            raise SystemExit(run.stderr)
        marks = json.loads(run.stdout.strip().splitlines()[-1])
        for k in out:
            out[k].append(marks[k])
    return out


# -- 2. filter latency -------------------------------------------------------------------------


async def filter_latency(report: Report, size: tuple[int, int]) -> list[tuple[str, float, float]]:
    from textual.widgets import Input, Select

    from auditor.tui import make_app
    from auditor.tui.screens import FindingsScreen
    from auditor.tui.widgets import FindingsTable

    app = make_app(lambda: report, "bench", report)
    frames: list[float] = []
    handled: list[tuple[float, float]] = []
    display = app._display

    def timed_display(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = timed_display  # type: ignore[method-assign]
    refresh = FindingsScreen.refresh_table

    def timed_refresh(self: FindingsScreen) -> None:
        start = time.perf_counter()
        refresh(self)
        handled.append((start, time.perf_counter()))

    FindingsScreen.refresh_table = timed_refresh  # type: ignore[method-assign]
    rows: list[tuple[str, float, float]] = []
    try:
        async with app.run_test(size=size) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()

            async def measure(name: str, act: Callable[[], Any]) -> None:
                handled.clear()
                start = time.perf_counter()
                result = act()
                if asyncio.iscoroutine(result):
                    await result
                await pilot.pause()
                await pilot.pause(0.05)
                done = handled[-1][1] if handled else start
                handler = sum(b - a for a, b in handled)
                frame = next((t for t in frames if t >= done), frames[-1])
                rows.append((name, handler * 1000, (frame - start) * 1000))

            await measure("open the findings (first time)", lambda: pilot.press("f"))
            screen = app.screen
            assert isinstance(screen, FindingsScreen)

            def choose(name: str, value: str) -> Callable[[], None]:
                def act() -> None:
                    screen.query_one(f"#filter-{name}", Select).value = value

                return act

            await measure("signal = identity", choose("signal", "identity"))
            await measure("severity = high", choose("severity", "high"))
            await measure("status = all (largest result)", choose("status", "all"))
            await measure("severity = any", choose("severity", ""))
            await measure("signal = any", choose("signal", ""))
            await measure("API = one API", choose("api", str(report["apis"][7]["name"])))
            await measure("API = any", choose("api", ""))
            await measure("sort by rule (first time)", lambda: pilot.press("s"))
            await measure("sort by API (first time)", lambda: pilot.press("s"))
            await measure("sort by status (first time)", lambda: pilot.press("s"))
            await measure("sort by severity (cached)", lambda: pilot.press("s"))
            for status in ("issues", "all"):
                await measure(f"status = {status}", choose("status", status))
                await pilot.press("slash")
                for i, ch in enumerate("cov005"):
                    await measure(f"  search key {i + 1} '{ch}'", lambda ch=ch: pilot.press(ch))
                await measure("  search backspace", lambda: pilot.press("backspace"))
                await measure("  search cleared (escape)", lambda: pilot.press("escape"))
            await measure("cursor down", lambda: pilot.press("down"))
            await measure("page down", lambda: pilot.press("pagedown"))
            shown = len(screen.query_one("#findings", FindingsTable).rows)
            search = screen.query_one("#search", Input)
            assert search.value == "", search.value
            rows.append((f"(rows in the table at the end: {shown})", 0.0, 0.0))
    finally:
        FindingsScreen.refresh_table = refresh  # type: ignore[method-assign]
    return rows


def model_latency(report: Report) -> list[tuple[str, float]]:
    from auditor.tui import model

    out = []
    start = time.perf_counter()
    index = model.FindingIndex(report["findings"])
    index.prepare()
    out.append(("prepare (once per report, in a worker)", (time.perf_counter() - start) * 1000))
    cases = [
        ("issues (default)", model.Filter()),
        ("signal identity", model.Filter(signal="identity")),
        ("everything", model.Filter(status="all")),
        ("one API", model.Filter(api=str(report["apis"][7]["name"]), status="all")),
        ("text 'c'", model.Filter(text="c", status="all")),
        ("text 'co' (incremental)", model.Filter(text="co", status="all")),
        ("text 'cov005'", model.Filter(text="cov005", status="all")),
        ("text 'x-team-id' (fresh)", model.Filter(text="x-team-id", status="all")),
    ]
    for name, flt in cases:
        start = time.perf_counter()
        index.select(flt, model.Sort())
        out.append((name, (time.perf_counter() - start) * 1000))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apis", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", default="120x40")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import tempfile

    demo = demo_report()
    with tempfile.TemporaryDirectory() as tmp:
        report_file = Path(tmp) / "demo-gap-report.json"
        report_file.write_text(json.dumps(demo), encoding="utf-8")
        ff = first_frame(report_file, args.repeat)
    print(f"1. Time to first frame, demo report, {args.repeat} fresh interpreters (target 1 s)")
    for key, label in (("ready", "first frame (Ready)"), ("report", "first frame with the report")):
        values = ff[key]
        print(
            f"   {label:<30} best {min(values) * 1000:6.0f} ms   "
            f"median {statistics.median(values) * 1000:6.0f} ms"
        )

    start = time.perf_counter()
    big = big_report(demo, args.apis)
    built = time.perf_counter() - start
    print(
        f"\n2. Filter latency, {len(big['apis'])} APIs, {len(big['findings'])} findings "
        f"(report built in {built:.1f} s; target 100 ms)"
    )
    print("   model.FindingIndex alone:")
    for name, ms in model_latency(big):
        print(f"     {name:<40} {ms:7.1f} ms")
    print(f"   in the app at {width}x{height}: handler (filter+sort+table), key -> next frame")
    for name, handler, frame in asyncio.run(filter_latency(big, (width, height))):
        if name.startswith("("):
            print(f"     {name}")
            continue
        print(f"     {name:<40} {handler:7.1f} ms  {frame:7.1f} ms")


if __name__ == "__main__":
    main()

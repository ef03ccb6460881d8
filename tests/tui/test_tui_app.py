"""Behaviour of the TUI, driven headless with Textual's Pilot at 120x40 and 80x24."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.binding import Binding
from textual.widgets import Input, Select, Static
from tuisupport import screen_lines, settle, until

from auditor.tui import model
from auditor.tui.app import AuditorApp
from auditor.tui.screens import (
    DetailScreen,
    ExportScreen,
    FindingsScreen,
    HelpScreen,
    OverviewScreen,
)
from auditor.tui.widgets import EstateTree, FindingsTable, PolicyView, SignalGauge

Report = dict[str, Any]
Make = Callable[..., AuditorApp]
BIG = (120, 40)
SMALL = (80, 24)


def text_of(app: AuditorApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def table(app: AuditorApp, selector: str = "#findings") -> FindingsTable:
    return app.screen.query_one(selector, FindingsTable)


def api_nodes(app: AuditorApp) -> list[str]:
    tree = app.screen.query_one(EstateTree)
    return [str(n.label) for s in tree.root.children for n in s.children]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_opens_on_the_demo_report(make: Make, demo_report: Report, size: Any) -> None:
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert f"{demo_report['score']}/100" in text_of(app, "#score")
        assert "12 open gaps (failing, medium or higher) · 1 notes" in text_of(app, "#score")
        gauges = app.screen.query(SignalGauge)
        assert [g.row.id for g in gauges if g.row] == list(model.SIGNALS)
        assert "62%" in str(app.screen.query_one("#gauge-coverage", SignalGauge).render())
        gaps = table(app, "#gaps")
        assert len(gaps.rows) == 12 and gaps.rows[0]["severity"] == "high"
        assert len(api_nodes(app)) == 8
        assert app.loader.calls == 0  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_first_load_runs_in_a_worker(demo_report: Report, make_loader: Any) -> None:
    from auditor.tui import make_app

    load = make_loader(demo_report, hold=True)
    app = make_app(load, "live")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        # NOTE: the scan is still running, and the UI answers: help opens and closes.
        assert app.loading and app.report is None
        assert app.screen.query_one("#body").loading
        assert "scanning" in app.sub_title
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        load.release.set()
        await settle(pilot)
        assert load.calls == 1 and app.report is not None and not app.loading
        assert not app.screen.query_one("#body").loading
        assert len(table(app, "#gaps").rows) == 12
        assert app.sub_title == "live"
        # the keys work at once: the list had no focus under the loading indicator
        assert app.focused is table(app, "#gaps")


@pytest.mark.asyncio
async def test_rescan_calls_load_again(make: Make, loader: Any) -> None:
    app = make()
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await pilot.pause()
        first = app.report
        await pilot.press("r")
        await settle(pilot)
        assert loader.calls == 1 and app.report is not first and app.generation == 2
        await pilot.press("f", "r")
        await settle(pilot)
        assert loader.calls == 2
        assert len(table(app).rows) == 27


@pytest.mark.asyncio
async def test_a_failed_rescan_keeps_the_report_marked_stale_and_the_error_on_screen(
    make: Make, demo_report: Report, make_loader: Any
) -> None:
    failing = make_loader(demo_report, fail=True)
    app = make(load=failing)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("r")
        await settle(pilot)
        assert failing.calls == 1 and app.report is demo_report and not app.loading
        assert app.stale is not None and "Resource Manager said no" in app.stale
        assert "STALE" in app.sub_title
        (notice,) = app._notifications  # noqa: SLF001 - what is on screen
        assert "Resource Manager said no" in notice.message and notice.timeout >= 3600
        # A scan that succeeds clears both.
        failing.fail = False
        await pilot.press("r")
        await settle(pilot)
        assert app.stale is None and "STALE" not in app.sub_title
        assert all("said no" not in n.message for n in app._notifications)  # noqa: SLF001


@pytest.mark.asyncio
async def test_a_first_scan_that_fails_ends_the_tui_with_the_cli_message(
    make: Make, make_loader: Any
) -> None:
    failing = make_loader({}, fail=True)
    app = make(report=None, load=failing)
    app._initial = None  # noqa: SLF001 - as `auditor tui SOURCE` starts: no report yet
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
    assert app.return_code == 2


def test_the_tui_says_a_missing_source_as_scan_does_and_exits_2(tmp_path: Path) -> None:
    from tests.support import run_auditor

    scan = run_auditor("scan", "/no/such/path", cwd=tmp_path)
    tui = run_auditor("tui", "/no/such/path", cwd=tmp_path)
    assert scan.returncode == tui.returncode == 2
    assert (
        tui.stderr.strip()
        == scan.stderr.strip()
        == "auditor: /no/such/path: no such file or folder"
    )


@pytest.mark.asyncio
async def test_auditor_tui_names_the_demo_not_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_dir: Path
) -> None:
    """`auditor tui` with no argument opens the bundled demo: the header, the help and the
    reports it exports say "bundled demo estate", never the folder inside the package, while
    the detail view still reads the demo's files."""
    from auditor import cli, tui

    opened: list[tuple[Any, str]] = []
    monkeypatch.setattr(tui, "run", lambda load, label: opened.append((load, label)) or 0)
    assert cli.main(["tui"]) == 0
    ((load, label),) = opened
    app = tui.make_app(load, label)
    monkeypatch.chdir(tmp_path)
    folder = str(demo_dir)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert app.report is not None and app.sub_title == "bundled demo estate"
        seen = screen_lines(app)
        assert "attribution-auditor — bundled demo estate" in seen[0]
        await pilot.press("enter")  # a finding: its evidence is read from the demo's files
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        policy = app.screen.query_one(PolicyView)
        assert policy.blocks and any(b.lines for b in policy.blocks)
        seen += screen_lines(app)
        await pilot.press("escape", "question_mark")
        help_text = " ".join(text_of(app, "#help-text").split())
        assert "Opened on bundled demo estate (contoso-ai-gateway)" in help_text
        seen += screen_lines(app)
        await pilot.press("escape", "f")
        await pilot.pause()
        seen += screen_lines(app)
        await pilot.press("e")
        await type_path(pilot, "demo.md")
        await pilot.press("enter")
        await settle(pilot)
    assert not [row for row in seen if folder in row or "site-packages" in row or "/demo/" in row]
    exported = (tmp_path / "demo.md").read_text(encoding="utf-8")
    assert "`bundled demo estate (contoso-ai-gateway)`" in exported and folder not in exported


@pytest.mark.asyncio
async def test_a_long_source_gives_way_in_the_header_and_the_status_stays_whole(
    make: Make, demo_report: Report, make_loader: Any, tmp_path: Path
) -> None:
    deep = tmp_path.joinpath(*[f"folder-{n}" for n in range(6)], "estate")
    deep.mkdir(parents=True)
    failing = make_loader(demo_report, fail=True)
    app = make(label=str(deep), load=failing)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        header = screen_lines(app)[0]
        assert "…" in header and header.rstrip().endswith("folder-5/estate")
        await pilot.press("r")
        await settle(pilot)
        header = screen_lines(app)[0]
        assert "STALE: rescan failed (r retries)" in header and "…" in header
        await pilot.press("question_mark")  # the whole path is in the help
        assert str(deep) in text_of(app, "#help-text")
        await pilot.press("escape")
        await pilot.resize_terminal(250, 40)  # room enough: the header says it whole
        await until(pilot, lambda: f"{deep} · STALE" in screen_lines(app)[0], "a whole header")


@pytest.mark.asyncio
async def test_navigate_the_tree(make: Make, demo_report: Report) -> None:
    app = make()
    async with app.run_test(size=BIG) as pilot:
        tree = app.screen.query_one(EstateTree)
        tree.focus()
        await pilot.press("down", "down")  # the service, then its first API
        assert tree.cursor_node is not None and tree.cursor_node.data is not None
        assert tree.cursor_node.data.api == "assistants-header-team"
        await pilot.press("space")  # expand: its operations appear
        assert [str(n.label) for n in tree.cursor_node.children] == ["chat-completions-create"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)
        assert app.screen.query_one("#filter-api", Select).value == "assistants-header-team"
        rows = table(app).rows
        assert rows and {f["api"] for f in rows} == {"assistants-header-team"}
        want = model.filter_findings(
            demo_report["findings"], model.Filter(api="assistants-header-team")
        )
        assert len(rows) == len(want) == 2
        # back to the tree, choose the operation: all its findings, by target
        await pilot.press("o")
        await pilot.pause()
        tree = app.screen.query_one(EstateTree)
        tree.focus()
        assert tree.cursor_node is not None and tree.cursor_node.is_expanded
        await pilot.press("down", "enter")  # its operation
        await pilot.pause()
        search = app.screen.query_one("#search", Input)
        assert search.value == "assistants-header-team/chat-completions-create"
        assert search.display
        op = [f for f in demo_report["findings"] if f["target"] == search.value]
        assert len(table(app).rows) == len(op) == 20


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_every_api_with_operations_opens_onto_them(
    make: Make, demo_report: Report, size: Any
) -> None:
    """Walk the whole tree with the keys: each API that has operations expands to all of them,
    whatever its verdicts: findings on every operation, only at API level (chat-finance,
    gpt-legacy), none at all (crm, not an LLM API), all unknown, or undecided."""
    apis = {a["name"]: a for a in demo_report["apis"]}
    apis["chat-finance"]["signals"] = dict.fromkeys(model.SIGNALS, "unknown")
    undecided = apis["responses-entra"]
    undecided.update(llm=False, scope="undecided", signals=dict.fromkeys(model.SIGNALS, "unknown"))
    demo_report["findings"] = [f for f in demo_report["findings"] if f["api"] != "responses-entra"]
    app = make(report=demo_report)
    seen: dict[str, list[str]] = {}
    async with app.run_test(size=size) as pilot:
        await pilot.press("n")  # the non-LLM API too
        await pilot.pause()
        tree = app.screen.query_one(EstateTree)
        tree.focus()
        await pilot.press("down")  # onto the first service
        while True:
            node = tree.cursor_node
            assert node is not None and node.data is not None
            if node.data.kind == "api":
                assert node.allow_expand == bool(apis[str(node.label)]["operations"])
                await pilot.press("space")
                await pilot.pause()
                seen[str(node.label)] = [str(op.label) for op in node.children]
                # all unknown is not undecided: chat-finance fronts an LLM
                said = tree.render_label(node, Style(), Style()).plain
                assert ("undecided" in said) == (str(node.label) == "responses-entra"), said
            line = tree.cursor_line
            await pilot.press("down")
            if tree.cursor_line == line:
                break
    assert seen == {name: sorted(api["operations"]) for name, api in apis.items()}
    assert seen["crm"] == ["get-customer", "get-customers"]
    assert seen["gpt-legacy"] == ["chat-completions-create", "completions-create"]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_filter_by_signal_and_search(make: Make, demo_report: Report, size: Any) -> None:
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert len(table(app).rows) == 27  # open issues: fail, error, skip
        await pilot.press("g")  # signal: coverage
        assert app.screen.query_one("#filter-signal", Select).value == "coverage"
        await pilot.pause()
        coverage = model.filter_findings(demo_report["findings"], model.Filter(signal="coverage"))
        assert len(table(app).rows) == len(coverage) == 6
        await pilot.press("g")  # identity
        await pilot.pause()
        assert {f["signal"] for f in table(app).rows} == {"identity"}
        await pilot.press("x")  # clear filters
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"idn00")
        await pilot.pause()
        some = model.filter_findings(demo_report["findings"], model.Filter(text="idn00"))
        assert len(table(app).rows) == len(some) == 10
        await pilot.press("2")
        await pilot.pause()
        assert len(table(app).rows) == 3
        assert {f["rule"] for f in table(app).rows} == {"IDN002"}
        assert "3 of 217 findings" in text_of(app, "#findings-status")
        await pilot.press("enter")  # back to the table, filter kept
        assert isinstance(app.focused, FindingsTable)
        await pilot.press("escape")  # clears the search
        await pilot.pause()
        assert len(table(app).rows) == 27


@pytest.mark.asyncio
async def test_filter_with_the_select_and_the_mouse(make: Make) -> None:
    app = make()
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("f")
        await pilot.click("#filter-severity")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # any -> critical -> high
        await pilot.pause()
        assert app.screen.query_one("#filter-severity", Select).value == "high"
        assert {f["severity"] for f in table(app).rows} == {"high"}
        assert len(table(app).rows) == 20


@pytest.mark.asyncio
async def test_sort_by_key_and_header_click(make: Make) -> None:
    app = make()
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("s")  # severity -> rule
        rules = [f["rule"] for f in table(app).rows]
        assert rules == sorted(rules)
        await pilot.press("S")  # reversed
        rules = [f["rule"] for f in table(app).rows]
        assert rules == sorted(rules, reverse=True)
        # click the Status header (x = 1 + 10 + 1 + a few cells)
        await pilot.click(FindingsTable, offset=(14, 0))
        await pilot.pause()
        assert app.screen.sort.key == "status"  # type: ignore[attr-defined]
        statuses = [f["status"] for f in table(app).rows]
        assert statuses.index("skip") > statuses.index("fail")
        await pilot.click(FindingsTable, offset=(14, 0))
        await pilot.pause()
        assert app.screen.sort.descending  # type: ignore[attr-defined]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_open_a_finding(make: Make, demo_report: Report, size: Any) -> None:
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        gap = model.top_gaps(demo_report)[0]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        rule = model.rules_by_id(demo_report)[gap["rule"]]
        title = text_of(app, "#detail-title")
        assert gap["rule"] in title and rule["title"] in title and "1 of 12" in title
        assert rule["why"] in text_of(app, "#detail-why")
        assert gap["fix"] in text_of(app, "#detail-fix")
        assert gap["message"] in text_of(app, "#detail-message")
        facts = text_of(app, "#detail-facts")
        assert model.location_text(gap) in facts and "Suppression none" in " ".join(facts.split())
        policy = app.screen.query_one(PolicyView)
        assert not policy.loading
        assert policy.blocks and policy.blocks[0].hit_index is not None
        assert "policy.xml" in text_of(app, "#policy-title") or policy.blocks[0].title
        # No exact patch for this gap: the rule's example, labelled as one, not as the file.
        assert "+++ example (passes)" in text_of(app, "#detail-remediation")
        assert "not a change to your file" in text_of(app, "#detail-remedy-title")
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "2 of 12" in text_of(app, "#detail-title")
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


@pytest.mark.asyncio
async def test_detail_of_a_source_shows_the_effective_policy(
    make: Make, demo_report: Report, demo_dir: Path
) -> None:
    app = make(label=str(demo_dir))
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("f", "slash", *"COR002", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        blocks = app.screen.query_one(PolicyView).blocks
        assert blocks[0].title.startswith("Effective policy of embeddings-spoofable")
        hit = blocks[0].lines[blocks[0].hit_index or 0]
        assert "set-header" in hit.text and hit.origin == "api"
        assert "Effective policy" in text_of(app, "#policy-title")


@pytest.mark.asyncio
async def test_suppressed_finding_says_so(make: Make, demo_report: Report) -> None:
    gap = model.top_gaps(demo_report)[0]
    gap["suppression"] = {
        "kind": "baseline",
        "reason": "in the baseline",
        "owner": None,
        "expires": None,
    }
    app = make()
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("f", "u", "u", "u", "u", "u")  # status: suppressed
        await pilot.pause()
        assert app.screen.query_one("#filter-status", Select).value == "suppressed"
        assert table(app).rows == [gap]
        await pilot.press("enter")
        await settle(pilot)
        assert "FAIL (BASELINED)" in text_of(app, "#detail-title")
        assert "baselined: in the baseline" in text_of(app, "#detail-facts")


def notices(app: AuditorApp) -> list[str]:
    """The notifications on screen, title and text."""
    return [f"{n.title}: {n.message}" for n in app._notifications]  # noqa: SLF001


def saved_in(notice: str) -> Path:
    """The file a copy notice names (it ends the notice)."""
    return Path(notice.rsplit(" saved in\n", 1)[1])


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, for this test only (copies leave their file behind)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.asyncio
async def test_copy_without_a_terminal_goes_to_a_file_and_says_so(
    make: Make, demo_report: Report, temp_folder: Path
) -> None:
    """Headless there is no terminal to carry OSC 52: the text is only in the file, and the
    notice says it is not on the clipboard and where it is."""
    app = make()
    gap = model.top_gaps(demo_report)[0]
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        (notice,) = notices(app)
        assert notice.startswith("Copied to a file: Not on the clipboard: no terminal")
        assert f"The fix for {gap['rule']} is saved in\n" in notice
        path = saved_in(notice)
        assert path.read_text(encoding="utf-8") == gap["fix"] + "\n"
        assert path.name == "clipboard.txt" and path.parent.parent == temp_folder
        assert oct(path.parent.stat().st_mode)[-3:] == "700"  # the user's own
        assert app.clipboard == ""  # nothing pretended to reach a clipboard
        # the next copy, from the findings table, replaces it, as a clipboard would
        await pilot.press("escape", "f", "down", "c")
        await pilot.pause()
        second = table(app).rows[1]
        assert saved_in(notices(app)[-1]) == path
        assert path.read_text(encoding="utf-8") == second["fix"] + "\n"
    assert path.exists()  # kept after the app ends, to be opened then


@pytest.mark.asyncio
async def test_copy_through_the_terminal_also_saves_a_file_and_says_both(
    make: Make, demo_report: Report, monkeypatch: pytest.MonkeyPatch, temp_folder: Path
) -> None:
    """With a terminal, the text goes out as OSC 52; whether the terminal took it the app
    cannot know, so it is in the file too and the notice names both."""
    import base64

    app = make()
    gap = model.top_gaps(demo_report)[0]
    sent: list[str] = []
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        driver = app._driver  # noqa: SLF001 - what reaches the terminal
        assert driver is not None
        monkeypatch.setattr(driver, "write", sent.append)
        with monkeypatch.context() as terminal:
            terminal.setattr(AuditorApp, "is_headless", property(lambda self: False))
            await pilot.press("c")
        await pilot.pause()
        osc = "\x1b]52;c;" + base64.b64encode(gap["fix"].encode()).decode() + "\a"
        assert osc in sent and app.clipboard == gap["fix"]
        (notice,) = notices(app)
        assert notice.startswith(f"Copied: The fix for {gap['rule']} was sent to the clipboard")
        assert "through the terminal (OSC 52" in notice
        assert saved_in(notice).read_text(encoding="utf-8") == gap["fix"] + "\n"


@pytest.mark.asyncio
async def test_copy_falls_back_to_the_file_when_the_terminal_write_fails(
    make: Make, demo_report: Report, monkeypatch: pytest.MonkeyPatch, temp_folder: Path
) -> None:
    app = make()
    gap = model.top_gaps(demo_report)[0]
    async with app.run_test(size=SMALL) as pilot:
        driver = app._driver  # noqa: SLF001
        assert driver is not None

        write = driver.write

        def broken(data: str) -> None:
            if data.startswith("\x1b]52;"):  # the terminal fails on the clipboard sequence
                raise OSError(5, "Input/output error")
            write(data)

        with monkeypatch.context() as terminal:
            terminal.setattr(driver, "write", broken)
            terminal.setattr(AuditorApp, "is_headless", property(lambda self: False))
            await pilot.press("c")  # from the overview's top gaps
        await pilot.pause()
        (notice,) = notices(app)
        assert "Not on the clipboard: the terminal could not take it (OSError" in notice
        assert saved_in(notice).read_text(encoding="utf-8") == gap["fix"] + "\n"


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["json", "md", "sarif"])
async def test_export(make: Make, tmp_path: Path, fmt: str) -> None:
    app = make()
    target = tmp_path / "out" / "report.md"
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-path", Input).value = str(target)
        app.screen.query_one("#export-format", Select).value = fmt
        await pilot.pause()
        written = Path(app.screen.query_one("#export-path", Input).value)
        assert written.suffix == {"json": ".json", "md": ".md", "sarif": ".sarif"}[fmt]
        app.screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
    text = written.read_text(encoding="utf-8")
    if fmt == "md":
        assert text.startswith("# LLM cost-attribution gap report")
    else:
        data = json.loads(text)
        assert data["schema_version" if fmt == "json" else "version"] in (1, "2.1.0")


async def type_path(pilot: Any, text: str) -> None:
    """Type the export file name as a user would: clear the field, then key by key."""
    field = pilot.app.screen.query_one("#export-path", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("report.html", "html"),
        ("x.htm", "html"),
        ("x.sarif", "sarif"),
        ("x.json", "json"),
        ("x.md", "md"),
        ("x.markdown", "md"),
        ("x.csv", "csv"),
        ("x.txt", "text"),
        ("x.xml", "junit"),
        ("X.HTML", "html"),
    ],
)
async def test_export_follows_the_file_extension(
    make: Make,
    demo_report: Report,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    fmt: str,
) -> None:
    """No format chosen: the extension says it, as `auditor scan -o` reads it."""
    from auditor.render import RENDERERS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")  # the text report wraps to the terminal
    app = make()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await type_path(pilot, name)
        assert app.screen.query_one("#export-format", Select).value == "auto"
        assert f"as its extension {Path(name).suffix} says" in text_of(app, "#export-says")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
    assert (tmp_path / name).read_text(encoding="utf-8") == RENDERERS[fmt](demo_report)


@pytest.mark.asyncio
async def test_a_chosen_format_wins_over_the_extension(
    make: Make, demo_report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.render import RENDERERS

    monkeypatch.chdir(tmp_path)
    app = make()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-format", Select).value = "json"
        await pilot.pause()
        # choosing renames the extension the file had to the format's own
        assert app.screen.query_one("#export-path", Input).value == "attribution-report.json"
        await type_path(pilot, "chosen.html")
        assert "JSON (chosen)" in text_of(app, "#export-says")
        await pilot.press("enter")
        await settle(pilot)
    assert (tmp_path / "chosen.html").read_text(encoding="utf-8") == RENDERERS["json"](demo_report)


@pytest.mark.asyncio
async def test_an_unknown_extension_is_refused_on_screen_until_a_format_is_chosen(
    make: Make, demo_report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.render import RENDERERS

    monkeypatch.chdir(tmp_path)
    app = make()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("e")
        await pilot.pause()
        for name, why in (("x.weird", "unknown report extension '.weird'"), ("x", "no report")):
            await type_path(pilot, name)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ExportScreen)  # still open: nothing written
            said = " ".join(text_of(app, "#export-says").split())
            assert said.startswith(f"{name}: {why}") and "choose a format" in said
            assert ".html" in said and ".sarif" in said  # the extensions it knows
            assert app.screen.query_one("#export-says").has_class("-refused")
            assert not (tmp_path / name).exists()
        await type_path(pilot, "x.weird")
        app.screen.query_one("#export-format", Select).value = "md"
        await pilot.pause()
        # an extension nobody knows is the user's: choosing a format keeps it
        assert app.screen.query_one("#export-path", Input).value == "x.weird"
        await pilot.click("#export-ok")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
    assert (tmp_path / "x.weird").read_text(encoding="utf-8") == RENDERERS["md"](demo_report)
    assert list(tmp_path.iterdir()) == [tmp_path / "x.weird"]  # atomic: no temporary file left


@pytest.mark.asyncio
async def test_export_cancel_and_failure(make: Make, tmp_path: Path) -> None:
    app = make()
    notes: list[str] = []
    async with app.run_test(size=SMALL) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await pilot.press("e", "escape")
        assert not isinstance(app.screen, ExportScreen)
        await pilot.press("e")
        (tmp_path / "taken.md").mkdir()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "taken.md")  # a folder
        await pilot.click("#export-ok")
        await settle(pilot)
        assert any("folder" in n for n in notes)


@pytest.mark.asyncio
async def test_toggle_non_llm_apis(make: Make) -> None:
    app = make()
    async with app.run_test(size=BIG) as pilot:
        assert "crm" not in api_nodes(app)
        await pilot.press("n")
        await pilot.pause()
        assert "crm" in api_nodes(app) and len(api_nodes(app)) == 9
        await pilot.press("n")
        await pilot.pause()
        assert "crm" not in api_nodes(app)


@pytest.mark.asyncio
async def test_help_lists_every_binding(make: Make) -> None:
    app = make()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app, "#help-text")
        for screen in (AuditorApp, FindingsScreen, DetailScreen, OverviewScreen):
            for binding in screen.BINDINGS:
                assert isinstance(binding, Binding)
                if binding.action == "mode('money')":
                    # the demo report here holds no usage: the key does nothing, so it is not
                    # listed (tests/tui/test_tui_money.py shows it with usage)
                    assert binding.tooltip not in text
                    continue
                assert (binding.tooltip or binding.description) in text
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "escape")
        assert isinstance(app.screen, OverviewScreen)


@pytest.mark.asyncio
async def test_theme_and_quit(make: Make) -> None:
    app = make()
    async with app.run_test(size=SMALL) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t", "q")
        assert app.theme == "textual-dark"
    assert app.return_code == 0 or app.return_code is None


@pytest.mark.asyncio
async def test_no_color_badges_are_letters(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make()
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        tree = app.screen.query_one(EstateTree)
        node = tree.root.children[0].children[0]
        label = tree.render_label(node, tree.rich_style, tree.rich_style).plain
        assert label.startswith("▶ PFPP assistants-header-team")


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [BIG, SMALL])
@pytest.mark.parametrize("plain", [False, True])
async def test_the_tree_marks_have_a_legend_on_the_overview(
    make: Make, demo_report: Report, monkeypatch: pytest.MonkeyPatch, size: Any, plain: bool
) -> None:
    """The legend is on screen whole, beside the tree, and says what every mark of the tree
    means: the n-th mark of an API is the n-th signal the legend names, each glyph its verdict."""
    if plain:
        monkeypatch.setenv("NO_COLOR", "1")
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.press("n")  # the non-LLM API too: its marks are n/a
        await pilot.pause()
        lines = screen_lines(app)
        legend = app.screen.query_one("#estate-legend", Static)
        tree = app.screen.query_one(EstateTree)
        assert legend.region.y >= tree.region.bottom and legend.region.bottom <= size[1] - 1
        assert legend.region.right <= tree.region.right
        shown = [row[legend.region.x : legend.region.right].strip() for row in lines][
            legend.region.y : legend.region.bottom
        ]
        words = " ".join(shown).split()
        assert words == str(legend.render()).split()  # on screen whole, nothing cut
        assert words[0] == "Marks:"
        order = words[1 : 1 + len(model.SIGNALS)]
        assert order == list(model.SIGNALS)
        meaning = {w: g for g, w in zip(words[5::2], words[6::2], strict=True)}
        assert set(meaning) == {"pass", "fail", "unknown", "n/a"}
        assert len(set(meaning.values())) == 4  # four different glyphs
        for node in (n for s in tree.root.children for n in s.children):
            ref = node.data
            assert ref is not None and ref.verdicts is not None
            api = next(a for a in demo_report["apis"] if a["name"] == ref.api)
            label = tree.render_label(node, Style(), Style()).plain
            marks = label.split()[1] if node.allow_expand else label.split()[0]
            want = [meaning[api["signals"][s] if api["llm"] else "n/a"] for s in order]
            assert list(marks) == want, (label, api["signals"])


@pytest.mark.asyncio
async def test_mouse_opens_a_finding(make: Make) -> None:
    app = make()
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("f")
        await pilot.pause()
        await pilot.click(FindingsTable, offset=(5, 3))  # third row: moves the cursor
        assert table(app).cursor == 2
        await pilot.click(FindingsTable, offset=(5, 3))  # again: opens it
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)


@pytest.mark.asyncio
async def test_a_report_without_llm_apis_or_files(make: Make) -> None:
    report: Report = {
        "schema_version": 1,
        "tool": {"name": "attribution-auditor", "version": "0"},
        "source": {"kind": "file", "location": "nowhere"},
        "score": 0,
        "signals": [
            {"id": s, "status": "unknown", "score": 0, "passed": 0, "failed": 0, "unknown": 0}
            for s in model.SIGNALS
        ],
        "apis": [
            {
                "id": "svc/crm",
                "name": "crm",
                "service": "svc",
                "llm": False,
                "signals": {},
                "llm_evidence": [],
                "unknown_because": {},
            }
        ],
        "findings": [
            {
                "rule": "AUD001",
                "signal": None,
                "severity": "high",
                "status": "error",
                "target": "estate",
                "api": None,
                "service": None,
                "message": "cannot read x.xml",
                "location": None,
                "evidence": [],
                "fix": "Fix the XML.",
                "fingerprint": "f",
                "suppression": None,
            }
        ],
        "rules": [],
        "warnings": ["waiver for RULE 'x' matched nothing"],
    }
    app = make(report=report)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert "n/a (no API fronts an LLM)" in text_of(app, "#score")
        assert "matched nothing" in text_of(app, "#warnings")
        assert api_nodes(app) == []
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert "AUD001" in text_of(app, "#detail-title")
        assert app.screen.query_one(PolicyView).blocks == []
        await pilot.press("escape", "f", "g", "g", "g", "g", "g")  # signal: source
        await pilot.pause()
        assert [f["rule"] for f in table(app).rows] == ["AUD001"]


@pytest.mark.asyncio
async def test_undecided_apis_and_what_the_source_does_not_show(make: Make, tmp_path: Path) -> None:
    """A deployment whose APIs are given at deployment: the undecided API is in the tree with
    unknown badges, counted in the score line, and the overview says what was not shown."""
    from auditor.cli import _report

    (tmp_path / "main.bicep").write_text(
        "param apis array = []\n"
        "resource apim 'Microsoft.ApiManagement/service@2024-05-01' = { name: 'gw' }\n"
        "resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = [for a in apis: {\n"
        "  parent: apim\n  name: a.name\n  properties: { path: a.path, serviceUrl: a.url }\n}]\n",
        encoding="utf-8",
    )
    report = _report(
        argparse.Namespace(
            source=tmp_path, source_type="auto", include_revisions=False, rules=None,
            waivers=None, baseline=None,
        )
    )  # fmt: skip
    assert [a["scope"] for a in report["apis"]] == ["undecided"]
    app = make(report=report)
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        assert "1 undecided" in text_of(app, "#score")
        assert "not shown by the source" in text_of(app, "#warnings")
        (node,) = api_nodes(app)
        assert node == "${a.name}"
        tree = app.screen.query_one(EstateTree)
        (api,) = [n for s in tree.root.children for n in s.children]
        assert api.data is not None and api.data.llm and api.data.verdicts == ("unknown",) * 4
        shown = tree.render_label(api, Style(), Style()).plain
        assert "undecided" in shown and model.badge("unknown") * 4 in shown.replace(" ", "")

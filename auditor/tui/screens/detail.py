"""One finding: the rule's title, why and fix, the evidence, and what the fix changes."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Header, Static

from auditor.tui import model
from auditor.tui.evidence import EvidenceBlock, remediation
from auditor.tui.screens.base import ReportScreen
from auditor.tui.widgets import KeyFooter, PolicyView

_SEVERITY_STYLE = {
    "critical": "bold $error",
    "high": "bold $error",
    "medium": "bold $warning",
    "low": "bold $primary",
    "info": "$text-muted",
}
_STATUS_STYLE = {
    "fail": "bold $error",
    "error": "bold $error",
    "skip": "$warning",
    "pass": "$success",
    "note": "$text-muted",
}


def _section(title: str, id: str | None = None) -> Static:  # noqa: A002 - Textual's name
    return Static(title, classes="section-title", id=id)


class DetailScreen(ReportScreen):
    """Pushed over the overview or the findings; escape goes back."""

    AUTO_FOCUS = "#detail-info"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "app.pop_screen", "Back", tooltip="Back to the list"),
        Binding(
            "c",
            "copy_fix",
            "Copy fix",
            tooltip="Copy the fix (clipboard through the terminal, and a file)",
        ),
        Binding(
            "left_square_bracket",
            "step(-1)",
            "Previous",
            show=False,
            tooltip="The previous finding of the list",
        ),
        Binding(
            "right_square_bracket",
            "step(1)",
            "Next",
            show=False,
            tooltip="The next finding of the list",
        ),
    ]

    def __init__(
        self, finding: model.Finding, neighbours: list[model.Finding] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.finding = finding
        self.neighbours = neighbours or [finding]
        self._shown = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Static(id="detail-title")
            with Horizontal(id="detail-body"):
                with VerticalScroll(id="detail-info"):
                    yield Static(id="detail-facts")
                    yield _section("Message")
                    yield Static(id="detail-message")
                    yield _section("Why it matters")
                    yield Static(id="detail-why")
                    yield _section("Fix  (c copies it)")
                    yield Static(id="detail-fix")
                    yield _section("Evidence")
                    yield Static(id="detail-evidence")
                    yield _section("Remediation (what the fix changes)", "detail-remedy-title")
                    yield Static(id="detail-remediation")
                with Vertical(id="detail-policy-pane"):
                    yield Static(id="policy-title", classes="pane-title")
                    yield PolicyView(id="policy")
        yield KeyFooter()

    def _generation_changed(self, generation: int) -> None:
        # NOTE: a rescan does not change the finding on screen; it stays as opened.
        if not self._shown and self.auditor.report is not None:
            self._shown = True
            self.show_report()

    def show_report(self) -> None:
        f = self.finding
        rule = model.rules_by_id(self.auditor.report or {}).get(str(f["rule"]), {})
        severity, status = str(f.get("severity")), model.status_label(f)
        count = len(self.neighbours)
        position = f"  ({self._position() + 1} of {count})" if count > 1 else ""
        self.query_one("#detail-title", Static).update(
            Content.assemble(
                (f" {severity.upper()} ", f"reverse {_SEVERITY_STYLE.get(severity, '')}"),
                " ",
                (model.status_label(f).upper(), _STATUS_STYLE.get(status, "")),
                "  ",
                (str(f["rule"]), "bold"),
                "  ",
                str(rule.get("title") or rule.get("name") or ""),
                (position, "$text-muted"),
            )
        )
        facts = [
            ("Target", str(f.get("target") or "-")),
            ("Service", str(f.get("service") or "-")),
            ("Signal", str(f.get("signal") or "source")),
            ("Location", model.location_text(f)),
            ("Suppression", model.suppression_text(f)),
        ]
        self.query_one("#detail-facts", Static).update(
            Content("\n").join(
                Content.assemble((f"{k:<12}", "bold $text-muted"), v) for k, v in facts
            )
        )
        self.query_one("#detail-message", Static).update(Content(str(f.get("message", ""))))
        self.query_one("#detail-why", Static).update(
            Content(str(rule.get("why") or "The report does not carry this rule's description."))
        )
        self.query_one("#detail-fix", Static).update(Content(str(f.get("fix") or "-")))
        evidence = [model.location_text({"location": e}) for e in f.get("evidence") or []]
        self.query_one("#detail-evidence", Static).update(
            Content("\n".join(f"• {e}" for e in evidence) or "no further files")
        )
        self.query_one("#detail-remediation", Static).update(Content.styled("…", "$text-muted"))
        source = self.auditor.evidence
        mode = "Effective policy and file" if source and source.source_mode else "File excerpt"
        self.query_one("#policy-title", Static).update(mode)
        self.query_one(PolicyView).loading = True
        self._load_evidence(f)

    def _position(self) -> int:
        return next((i for i, s in enumerate(self.neighbours) if s is self.finding), 0)

    @work(thread=True, exclusive=True, group="evidence")
    def _load_evidence(self, finding: model.Finding) -> None:
        source = self.auditor.evidence
        blocks = source.blocks(finding) if source is not None else []
        # NOTE: blocks with the hit line first: that is what the reader came for.
        blocks.sort(key=lambda b: b.hit_index is None)
        title, snippet = remediation(finding)
        self.app.call_from_thread(self._show_evidence, finding, blocks, title, snippet)

    def _show_evidence(
        self, finding: model.Finding, blocks: list[EvidenceBlock], title: str, snippet: str | None
    ) -> None:
        if finding is not self.finding or not self.is_mounted:
            return
        view = self.query_one(PolicyView)
        view.loading = False
        view.show(blocks, empty="This finding points at no file.")
        self.query_one("#detail-remedy-title", Static).update(title)
        self.query_one("#detail-remediation", Static).update(_diff_content(snippet))

    def action_copy_fix(self) -> None:
        self.auditor.copy_fix(self.finding)

    def action_step(self, delta: int) -> None:
        if len(self.neighbours) < 2:
            return
        self.finding = self.neighbours[(self._position() + delta) % len(self.neighbours)]
        self.show_report()


def _diff_content(snippet: str | None) -> Content:
    if not snippet:
        return Content.styled("No example for this rule; follow the fix above.", "$text-muted")
    styles = {"+": "$success", "-": "$error", "@": "$accent"}
    lines = []
    for line in snippet.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
        lines.append(Content.styled(line, style))
    return Content("\n").join(lines)

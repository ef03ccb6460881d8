"""Reusable widgets: SignalGauge, FindingsTable, EstateTree and PolicyView.

They draw what :mod:`auditor.tui.model` and :mod:`auditor.tui.evidence` computed and post
messages; they decide nothing. Colours come from theme variables or component classes, so both
themes work; every colour is doubled by a glyph or a word, so NO_COLOR loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static, Tree
from textual.widgets._tree import TOGGLE_STYLE
from textual.widgets.tree import TreeNode

from auditor.rules import SIGNALS
from auditor.tui import model
from auditor.tui.evidence import EvidenceBlock

_STATUS_STYLE = {
    "intact": "$success",
    "partial": "$warning",
    "broken": "$error",
    "unknown": "$text-muted",
}
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells, filled to ``fraction`` with eighth-cell precision."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text + "░" * (width - cell_len(text))


class SignalGauge(Widget):
    """One signal: a bar of its score, its status, and the count of APIs per verdict.

    One line when the widget is wide enough, two lines otherwise (80-column terminals).
    """

    DEFAULT_CSS = """
    SignalGauge { height: auto; width: 1fr; padding: 0 1; }
    """
    row: reactive[model.SignalRow | None] = reactive(None, layout=True)

    def __init__(self, row: model.SignalRow | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_reactive(SignalGauge.row, row)

    def render(self) -> Content:
        row = self.row
        if row is None:
            return Content("")
        style = _STATUS_STYLE.get(row.status, "$text-muted")
        counts = Content.assemble(
            ("✓ ", "$success"),
            f"{row.passed} pass  ",
            ("✗ ", "$error"),
            f"{row.failed} fail  ",
            ("? ", "$warning"),
            f"{row.unknown} unknown",
        )
        fixed = 12 + 7 + 8
        room = self.size.width - fixed - 2 - counts.cell_length
        wide = room >= 10
        width = min(30, room) if wide else max(8, min(40, self.size.width - fixed))
        gauge = Content.assemble((bar(row.score / 100, width), style))
        # NOTE: a signal nobody passed or failed is not "0 %": its score is n/a (its status
        # still says unknown when there were verdicts, n/a when no LLM API was judged at all).
        judged = row.passed + row.failed + row.unknown
        score = f" {row.score:>3}%  " if row.passed + row.failed else "  n/a "
        status = row.status if judged else "n/a"
        head = Content.assemble((f"{row.id:<12}", "bold"), gauge, score, (f"{status:<8}", style))
        if wide:
            return Content.assemble(head, "  ", counts)
        return Content.assemble(head, "\n", " " * 12, counts)


class Column(NamedTuple):
    key: str
    label: str
    width: int
    """Fixed width in cells; 0 for a column that shares the rest (by ``flex``)."""
    flex: int = 0
    sort: str | None = None


FULL_COLUMNS = (
    Column("severity", "Severity", 10, sort="severity"),
    Column("status", "Status", 9, sort="status"),
    Column("rule", "Rule", 6, sort="rule"),
    Column("target", "API / target", 0, 3, sort="api"),
    Column("location", "Location", 0, 2),
)
GAP_COLUMNS = (
    Column("severity", "Severity", 8),
    Column("rule", "Rule", 6),
    Column("target", "API / target", 0, 1),
    Column("location", "Location", 0, 1),
)


def _cell(finding: model.Finding, key: str) -> str:
    if key == "severity":
        return str(finding.get("severity", ""))
    if key == "status":
        sup = finding.get("suppression")
        if sup:
            return model.SUPPRESSION_LABEL.get(str(sup.get("kind")), "suppressed")
        status = model.status_label(finding)
        return status.upper() if status in ("fail", "error") else status
    if key == "location":
        return model.location_text(finding)
    return str(finding.get(key) or "")


class FindingsTable(ScrollView, can_focus=True):
    """A virtual table of findings: only the visible rows are drawn.

    Filtering 100,000 findings replaces the row list and redraws one screenful, where a
    ``DataTable`` would build and measure every row. Click a header to sort by it; click a row
    to move the cursor there and click it again (or press enter) to open it.
    """

    DEFAULT_CSS = """
    FindingsTable { overflow-x: hidden; overflow-y: auto; height: 1fr; }
    FindingsTable > .findings-table--header { text-style: bold; background: $panel; }
    FindingsTable > .findings-table--cursor { background: $block-cursor-blurred-background; }
    FindingsTable:focus > .findings-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    FindingsTable > .findings-table--critical { color: $error; text-style: bold; }
    FindingsTable > .findings-table--high { color: $error; }
    FindingsTable > .findings-table--medium { color: $warning; }
    FindingsTable > .findings-table--low { color: $primary; }
    FindingsTable > .findings-table--info { color: $text-muted; }
    FindingsTable > .findings-table--fail { color: $error; text-style: bold; }
    FindingsTable > .findings-table--pass { color: $success; }
    FindingsTable > .findings-table--skip { color: $warning; }
    FindingsTable > .findings-table--note { color: $text-muted; }
    FindingsTable > .findings-table--suppressed { color: $text-muted; text-style: italic; }
    FindingsTable > .findings-table--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "findings-table--header",
        "findings-table--cursor",
        "findings-table--critical",
        "findings-table--high",
        "findings-table--medium",
        "findings-table--low",
        "findings-table--info",
        "findings-table--note",
        "findings-table--fail",
        "findings-table--pass",
        "findings-table--skip",
        "findings-table--suppressed",
        "findings-table--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "open", "Open", show=True),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        def __init__(self, table: FindingsTable, finding: model.Finding | None) -> None:
            super().__init__()
            self.table = table
            self.finding = finding

    class Selected(Message):
        def __init__(self, table: FindingsTable, finding: model.Finding) -> None:
            super().__init__()
            self.table = table
            self.finding = finding

    class SortRequested(Message):
        def __init__(self, table: FindingsTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(
        self,
        columns: tuple[Column, ...] = FULL_COLUMNS,
        empty: str = "No findings match.",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = columns
        self.empty = empty
        self.rows: list[model.Finding] = []
        self.sort: model.Sort | None = None

    @property
    def current(self) -> model.Finding | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_rows(self, rows: list[model.Finding], sort: model.Sort | None = None) -> None:
        """Show ``rows``; the cursor stays on the same finding when it is still there."""
        keep = self.current
        self.rows = rows
        self.sort = sort
        self.virtual_size = Size(0, len(rows) + 1)
        index = next((i for i, f in enumerate(rows[:10_000]) if f is keep), 0) if keep else 0
        self.cursor = index
        self.refresh()

    def _widths(self, total: int) -> list[int]:
        gaps = len(self.columns) + 1
        fixed = sum(c.width for c in self.columns)
        flex = sum(c.flex for c in self.columns) or 1
        rest = max(0, total - fixed - gaps)
        widths = [c.width or rest * c.flex // flex for c in self.columns]
        spare = rest - sum(w for w, c in zip(widths, self.columns, strict=True) if not c.width)
        for i, c in enumerate(self.columns):
            if not c.width and spare > 0:
                widths[i] += spare
                break
        return widths

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"findings-table--{name}", partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._header(width, base)
        index = int(self.scroll_y) + y - 1
        if not self.rows and y == 1:
            text = set_cell_size(f" {self.empty}", width)
            return Strip([Segment(text, base + self._style("empty"))], width)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        finding = self.rows[index]
        row_style = base
        if finding.get("suppression"):
            row_style += self._style("suppressed")
        cursor = index == self.cursor
        segments = [Segment(" ", row_style)]
        for column, w in zip(self.columns, self._widths(width), strict=True):
            text = _ellipsis(_cell(finding, column.key), w, left=column.key == "location")
            style = row_style
            if column.key == "severity":
                style += self._style(str(finding.get("severity")))
            elif column.key == "status" and not finding.get("suppression"):
                status = model.status_label(finding)
                style += self._style("fail" if status == "error" else status)
            if cursor:
                style += self._style("cursor")
            segments.append(Segment(text + " ", style))
        strip = Strip(segments)
        cursor_style = row_style + self._style("cursor") if cursor else row_style
        return strip.extend_cell_length(width, cursor_style).crop(0, width)

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self._style("header")
        segments = [Segment(" ", style)]
        for column, w in zip(self.columns, self._widths(width), strict=True):
            label = column.label
            if self.sort is not None and column.sort == self.sort.key:
                label += " ▼" if self.sort.descending else " ▲"
            meta = {"sort": column.sort} if column.sort else {}
            segments.append(Segment(_ellipsis(label, w) + " ", style + Style(meta=meta)))
        return Strip(segments).extend_cell_length(width, style).crop(0, width)

    def watch_cursor(self, old: int, new: int) -> None:
        if self.rows:
            clamped = min(max(new, 0), len(self.rows) - 1)
            if clamped != new:
                self.cursor = clamped
                return
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.current))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, delta: int) -> None:
        self.cursor += delta * max(1, self.scrollable_content_region.height - 2)

    def action_jump(self, where: int) -> None:
        self.cursor = len(self.rows) - 1 if where < 0 else 0

    def action_open(self) -> None:
        if (finding := self.current) is not None:
            self.post_message(self.Selected(self, finding))

    async def _on_click(self, event: events.Click) -> None:
        if event.y == 0:
            key = event.style.meta.get("sort")
            if key:
                self.post_message(self.SortRequested(self, str(key)))
            return
        index = int(self.scroll_y) + event.y - 1
        if not 0 <= index < len(self.rows):
            return
        if index == self.cursor or event.chain > 1:
            self.cursor = index
            self.action_open()
        else:
            self.cursor = index


def _ellipsis(text: str, width: int, left: bool = False) -> str:
    """``text`` in exactly ``width`` cells; cut at the end, or at the start for file paths
    (whose file name and line are what a reader needs)."""
    if width <= 0:
        return ""
    text = " ".join(text.split())
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if left:
        return "…" + set_cell_size(text[::-1], width - 1)[::-1]
    return set_cell_size(text, width - 1) + "…"


@dataclass(frozen=True, slots=True)
class NodeRef:
    """What a tree node stands for; ``verdicts`` is set on API nodes for their badges."""

    kind: str
    """``service``, ``api`` or ``operation``."""
    service: str
    api: str | None = None
    target: str | None = None
    open: int = 0
    verdicts: tuple[str | None, ...] | None = None
    llm: bool = True
    undecided: bool = False
    """The source does not say whether the API fronts an LLM (its name is known at deployment)."""


def badge_legend(plain: bool) -> Content:
    """What the tree's marks mean: which signal each position is, and what each glyph says.

    Two short lines, so the narrow estate pane of an 80-column terminal shows it whole (the
    first wraps after ``identity`` there)."""
    styles = {
        "pass": "$success",
        "fail": "bold $error",
        "unknown": "$warning",
        "n/a": "$text-muted",
    }
    marks = [
        Content.assemble((model.badge(kind, plain), styles[kind]), f" {kind}")
        for kind in model.LEGEND
    ]
    return Content.assemble(
        "Marks: ", " ".join(SIGNALS), "\n", Content(" ").join(marks)
    ).stylize_before("$text-muted")


class EstateTree(Tree[NodeRef]):
    """service -> API -> operation, each API with one badge per signal (see :func:`badge_legend`).

    Badges are ✓ ✗ ? in colour, or P F ? under NO_COLOR; · (-) for an API that fronts no LLM.
    Operations are added when their API is first expanded, so an estate of thousands of APIs
    builds quickly.
    """

    DEFAULT_CSS = """
    EstateTree > .estate-tree--pass { color: $success; }
    EstateTree > .estate-tree--fail { color: $error; text-style: bold; }
    EstateTree > .estate-tree--unknown { color: $warning; }
    EstateTree > .estate-tree--muted { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "estate-tree--pass",
        "estate-tree--fail",
        "estate-tree--unknown",
        "estate-tree--muted",
    }

    class Chosen(Message):
        """An API or operation was chosen (enter or click on its name)."""

        def __init__(self, ref: NodeRef) -> None:
            super().__init__()
            self.ref = ref

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("estate", **kwargs)
        self.show_root = False
        self.auto_expand = False
        self.plain = False
        self._pending: dict[int, tuple[model.OperationNode, ...]] = {}

    def populate(self, services: list[model.ServiceNode], plain: bool) -> None:
        self.plain = plain
        self.clear()
        self._pending.clear()
        for svc in services:
            snode = self.root.add(svc.name, NodeRef("service", svc.name), expand=True)
            for api in svc.apis:
                verdicts = tuple(api.api["signals"].get(s) for s in SIGNALS)
                # NOTE: an undecided API may be an LLM API: its unknown verdicts are shown.
                undecided = api.api.get("scope") == "undecided"
                judged = bool(api.api["llm"]) or undecided
                ref = NodeRef(
                    "api", svc.name, api.name, api.name, api.open, verdicts, judged, undecided
                )
                node = snode.add(api.name, ref, allow_expand=bool(api.operations))
                if api.operations:
                    self._pending[node.id] = api.operations

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        ops = self._pending.pop(event.node.id, None)
        if ops is None or event.node.data is None:
            return
        ref = event.node.data
        for op in ops:
            event.node.add_leaf(
                op.name, NodeRef("operation", ref.service, ref.api, op.target, op.open)
            )

    def _on_tree_node_selected(self, event: Tree.NodeSelected[NodeRef]) -> None:
        ref = event.node.data
        if ref is not None and ref.kind != "service":
            event.stop()
            self.post_message(self.Chosen(ref))

    def render_label(self, node: TreeNode[NodeRef], base_style: Style, style: Style) -> Text:
        ref = node.data
        if ref is None or ref.kind == "service":
            return super().render_label(node, base_style, style)
        label = self.process_label(node.label).copy()
        label.stylize(style)
        icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        text = Text.assemble((icon if node.allow_expand else "", base_style + TOGGLE_STYLE))
        muted = self.get_component_rich_style("estate-tree--muted", partial=True)
        if ref.kind == "api":
            for verdict in ref.verdicts or ():
                if not ref.llm:
                    text.append(model.badge("n/a", self.plain), muted)
                    continue
                kind = verdict if verdict in ("pass", "fail") else "unknown"
                rich = self.get_component_rich_style(f"estate-tree--{kind}", partial=True)
                text.append(model.badge(verdict, self.plain), rich)
            text.append(" ")
        text.append_text(label)
        if ref.kind == "api" and not ref.llm:
            text.append("  not LLM", muted)
        elif ref.kind == "api" and ref.undecided:
            # NOTE: an LLM API whose verdicts are all unknown is not undecided: it fronts an LLM.
            text.append("  undecided: may front an LLM", muted)
        if ref.kind == "operation" and ref.open:
            fail = self.get_component_rich_style("estate-tree--fail", partial=True)
            text.append(f"  {ref.open} open", fail)
        return text


class PolicyView(VerticalScroll):
    """Evidence blocks: effective policy with origins, or a file excerpt; the hit line marked.

    The hit line is reversed and starts with ``▶`` so it stands out without colour too.
    """

    DEFAULT_CSS = """
    PolicyView { overflow-x: auto; height: 1fr; }
    PolicyView > Static { width: 1fr; }
    PolicyView > .policy-view--lines { width: auto; min-width: 100%; }
    PolicyView > .policy-view--title { text-style: bold; color: $accent; margin-top: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blocks: list[EvidenceBlock] = []

    def show(self, blocks: list[EvidenceBlock], empty: str = "No policy or file to show.") -> None:
        self.blocks = blocks
        self.remove_children()
        widgets: list[Static] = []
        if not blocks:
            widgets.append(Static(Content.styled(empty, "$text-muted")))
        for block in blocks:
            widgets.append(Static(Content(block.title), classes="policy-view--title"))
            if block.lines:
                widgets.append(Static(render_block(block), classes="policy-view--lines"))
            if block.note:
                widgets.append(Static(Content.styled(block.note, "italic $text-muted")))
        self.mount_all(widgets)
        self.call_after_refresh(self._scroll_to_hit)

    def _scroll_to_hit(self) -> None:
        for widget, block in zip(
            self.query(".policy-view--lines"), self._with_lines(), strict=False
        ):
            hit = block.hit_index
            if hit is not None:
                self.scroll_to(y=max(0, widget.virtual_region.y + hit - 3), animate=False)
                return

    def _with_lines(self) -> list[EvidenceBlock]:
        return [b for b in self.blocks if b.lines]


def render_block(block: EvidenceBlock) -> Content:
    """The block's lines: gutter (line number or origin), text, and for statements the file:line."""
    effective = any(line.origin for line in block.lines)
    gutter = max(
        (cell_len(line.origin if effective else line.gutter) for line in block.lines), default=0
    )
    out: list[Content] = []
    rows: list[Content] = []
    for line in block.lines:
        mark = "▶ " if line.hit else "  "
        left = (line.origin if effective else line.gutter).ljust(gutter)
        parts: list[Content | tuple[str, str] | str] = [
            (mark, "bold $error" if line.hit else ""),
            (left, "$text-muted"),
            "  ",
            (line.text, "$text-muted" if line.dim and not line.hit else ""),
        ]
        if effective and line.gutter:
            parts.append((f"   {line.gutter}", "$text-muted italic"))
        rows.append(Content.assemble(*parts))
    width = max((row.cell_length for row in rows), default=0)
    for line, row in zip(block.lines, rows, strict=True):
        # NOTE: padded to the block's width so the hit line's highlight is a full bar.
        padded = row.pad_right(width - row.cell_length)
        out.append(padded.stylize("reverse bold") if line.hit else padded)
    return Content("\n").join(out)


class KeyFooter(Footer):
    """Textual's footer, compact (a cell less around each key) below :data:`WIDE` columns, so
    that an 80-column terminal shows every key the footer offers on every screen."""

    WIDE = 110
    """The app's wide breakpoint (``AuditorApp.HORIZONTAL_BREAKPOINTS``)."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < self.WIDE


class Notices(VerticalScroll):
    """Lines that may run longer than the few rows given them (the overview's warnings): they
    scroll, and take focus, for the keys, only when they do."""

    DEFAULT_CSS = """
    Notices { height: auto; }
    """

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0

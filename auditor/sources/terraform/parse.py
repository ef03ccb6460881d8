"""HCL text -> blocks and attributes with expression nodes (:mod:`auditor.sources.iac.expr`).

NOTE: tree-sitter-hcl (a C parser, linear in the text) was chosen over python-hcl2: on the 672
real ``.tf`` and ``.tfvars`` files at hand (1.6 MB) it parsed all of them in 0.38 s where
python-hcl2 took 8.1 s (and 64 s for the benchmark's 6 MB ``main.tf``, which tree-sitter reads
in 1.6 s), it gives the position of every node where python-hcl2 gives at most a block's lines,
and it keeps a syntax error local: the blocks around it are still read. python-hcl2 also
rewrites the text it returns (quotes kept, heredoc markers, ``${...}`` around expressions), which
a second reader then had to take apart again.

An attribute's expression is turned into nodes only when the evaluator asks for it: most
arguments of most blocks (locations, tags, SKUs) are never read. Template text is taken from the
source between the parts the grammar marks, so the whitespace of heredocs is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import tree_sitter
import tree_sitter_hcl

from auditor.sources.iac.expr import Node

_LANGUAGE = tree_sitter.Language(tree_sitter_hcl.language())
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)|\$\$\{|%%\{", re.S)
_PLAIN_STRING = re.compile(r'"([^"\\$%\n]*)"')
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_TRAVERSAL = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*")
#: Files from this size have their plain strings blanked before they are parsed (see
#: :func:`_tree`; below it, the check costs more than it saves).
BLANK_FROM = 64 * 1024
#: The text of a one-line string with nothing to evaluate or unescape in it (see :func:`_tree`).
_PLAIN_QUOTED = re.compile(rb'"([^"\n$%\\]+)"')
_FILE_CALL = re.compile(r'file\("(?:\$\{path\.(module|root)\})?([^"\\$%\n]*)"\)')
_TRAVERSAL_BYTES = re.compile(rb"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+")
#: What a missing token of the grammar is, in words.
_MISSING = {
    "quoted_template_end": "a closing quote",
    "heredoc_identifier": "the heredoc's closing marker",
    "<<": "a value",
    "expression": "a value",
}
_BINARY = {"==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "&&", "||"}


@dataclass(slots=True)
class Attr:
    """One ``name = expression`` of a block (or of a ``.tfvars`` file)."""

    name: str
    line: int
    _syntax: tree_sitter.Node | None
    _reader: _Reader | None
    _node: Node | None = None

    @property
    def node(self) -> Node:
        """The expression, as ``("at", line, node)`` (converted on first use)."""
        if self._node is None:
            assert self._syntax is not None and self._reader is not None
            self._node = ("at", self.line, self._reader.expr(self._syntax))
            self._syntax = self._reader = None
        return self._node

    def reference(self) -> str | None:
        """The expression's text when it is a plain reference (``azurerm_x.y.name``,
        ``var.v``): the same text means the same value wherever no loop variable is bound."""
        node = self._node
        if node is not None:
            inner = node[2]
            return _render_traversal(inner)
        if self._syntax is None or self._reader is None:
            return None
        syntax = self._syntax
        raw = self._reader.src[syntax.start_byte : syntax.end_byte]
        if len(raw) > 200 or not _TRAVERSAL_BYTES.fullmatch(raw) or raw in (b"true", b"false"):
            return None
        return raw.decode("utf-8", errors="replace") if raw != b"null" else None

    @property
    def text(self) -> str:
        """The expression as written (for messages)."""
        if self._syntax is not None and self._reader is not None:
            return self._reader.text(self._syntax)
        from auditor.sources.iac.expr import render

        return render(self.node)


@dataclass
class Block:
    """A block: ``type "label" ... { attributes and blocks }``."""

    type: str
    labels: list[str]
    line: int
    end_line: int
    attrs: dict[str, Attr] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def all(self, kind: str) -> list[Block]:
        """The nested blocks of one type, in order."""
        return [b for b in self.blocks if b.type == kind]

    def first(self, kind: str) -> Block | None:
        """The first nested block of one type."""
        return next((b for b in self.blocks if b.type == kind), None)


@dataclass
class Parsed:
    """A file's top-level blocks, its top-level attributes (a ``.tfvars`` file), and its
    syntax errors as (line, message)."""

    blocks: list[Block]
    attrs: dict[str, Attr]
    errors: list[tuple[int, str]]


def parse(text: str) -> Parsed:
    """The blocks of an HCL file; a block with a syntax error in it is left out, and the error
    is given with its line. Never raises on bad syntax."""
    src = text.encode("utf-8")
    tree = _tree(src)
    reader = _Reader(src)
    blocks: list[Block] = []
    attrs: dict[str, Attr] = {}
    errors: list[tuple[int, str]] = []
    for top in tree.root_node.children:
        for node in top.children if top.type == "body" else [top]:
            if node.has_error or node.is_missing or node.type == "ERROR":
                errors.append(reader.error(node))
            elif node.type == "block":
                blocks.append(reader.block(node))
            elif node.type == "attribute":
                attr = reader.attribute(node)
                attrs[attr.name] = attr
    return Parsed(blocks, attrs, errors)


def _tree(src: bytes) -> tree_sitter.Tree:
    """The syntax tree of ``src``.

    NOTE: the grammar reads the text of a string a character at a time through its external
    scanner, which took 60% of the parse of a 6 MB main.tf: a blank is far cheaper. So the
    text of plain one-line strings is blanked first (same length: every position stays), and
    the tree of the blanked text is kept when each blanked text is still exactly the content
    of a string, or literal text of a heredoc (both are read from ``src``, never from the
    tree): the grammar then saw the same structure. Otherwise (a quote in a comment, a string
    with an escape before another on the line) the text is parsed as it is.
    """
    parser = tree_sitter.Parser(_LANGUAGE)
    if len(src) < BLANK_FROM:
        return parser.parse(src)
    blanked = bytearray(src)
    spans: list[tuple[int, int]] = []
    for m in _PLAIN_QUOTED.finditer(src):
        start, end = m.span(1)
        blanked[start:end] = b" " * (end - start)
        spans.append((start, end))
    tree = parser.parse(bytes(blanked))
    root = tree.root_node
    for start, end in spans:
        node = root.descendant_for_byte_range(start, end)
        if node is None or not _blank_text(node, start, end, src):
            return parser.parse(src)
    return tree


def _blank_text(node: tree_sitter.Node, start: int, end: int, src: bytes) -> bool:
    """True when text blanked at ``start:end`` (``node``: the smallest node holding it) is
    the content of a string, or literal text of a heredoc."""
    if node.type in ("string_lit", "quoted_template"):
        return (node.start_byte, node.end_byte) == (start - 1, end + 1)
    if node.type == "template_literal":
        return node.parent is not None and node.parent.type == "heredoc_template"
    # Several parts of a heredoc: literal text, if no interpolation can end in it.
    return node.type == "heredoc_template" and b"}" not in src[start:end]


def parse_template(text: str, first_line: int = 1) -> tuple[Node, list[tuple[int, str]]]:
    """A template (``templatefile()``, ``template_file``) as a template node, and its syntax
    errors; ``first_line``: the line of the file its text starts on. A template is read as a
    heredoc, whose grammar it is."""
    marker = "EOT_TEMPLATE"
    while marker in text:
        marker += "_"
    added = not text.endswith("\n")  # the closing marker needs a line of its own
    wrapped = f"x = <<{marker}\n{text}{chr(10) if added else ''}{marker}\n"
    parsed = parse(wrapped)
    errors = [(max(1, line - 1) + first_line - 1, message) for line, message in parsed.errors]
    attr = parsed.attrs.get("x")
    if attr is None:
        return ("lit", text), errors or [(1, "the template is not understood")]
    node = attr.node[2]
    if node[0] != "src":
        return node, errors
    body = node[1]
    if added and isinstance(body, str):
        body = body.removesuffix("\n")
    elif added and body and body[-1][0] == "lit" and body[-1][1].endswith("\n"):
        body = [*body[:-1], ("lit", body[-1][1][:-1])]
    # A heredoc starts on the line after its marker: the template's first line.
    return _shifted(("src", body, first_line), first_line - 2), errors


def _shifted(node: Any, by: int) -> Any:
    """``node`` with the line of every ``at`` in it moved ``by`` lines."""
    if isinstance(node, tuple) and node and node[0] == "at":
        return ("at", node[1] + by, _shifted(node[2], by))
    if isinstance(node, tuple):
        return tuple(_shifted(x, by) for x in node)
    if isinstance(node, list):
        return [_shifted(x, by) for x in node]
    return node


def _line(node: tree_sitter.Node) -> int:
    return node.start_point[0] + 1


class _Reader:
    """Syntax nodes -> blocks, attributes and expression nodes."""

    def __init__(self, src: bytes) -> None:
        self.src = src

    def text(self, node: tree_sitter.Node) -> str:
        """A node's text as written."""
        return self.src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")

    def error(self, node: tree_sitter.Node) -> tuple[int, str]:
        """Where the first syntax error below ``node`` is, and what the block there was."""
        bad = node
        stack = [node]
        while stack:
            here = stack.pop()
            if here.type == "ERROR" or here.is_missing:
                bad = here
                break
            stack.extend(reversed([c for c in here.children if c.has_error or c.is_missing]))
        snippet = " ".join(self.text(bad).split())[:60] or bad.type
        missing = _MISSING.get(bad.type, f"'{bad.type}'")
        what = f"{missing} missing" if bad.is_missing else f"not understood: {snippet!r}"
        line = _line(bad)
        if bad.is_missing:  # the end of something never closed: where that something starts
            opened = bad.parent
            while opened is not None and opened.type.endswith(("_end", "_start", "identifier")):
                opened = opened.parent
            line = _line(opened) if opened is not None else line
        head = " ".join(self.text(node).split("{", 1)[0].split())[:80]
        if node.type == "block" and bad is not node:
            return (line, f"invalid HCL ({what}); the block '{head}' is not read")
        return (line, f"invalid HCL ({what}); what it holds is not read")

    # ---------------------------------------------------------------- blocks

    def block(self, node: tree_sitter.Node) -> Block:
        """A block with its labels, attributes (not yet converted) and nested blocks."""
        kind = ""
        labels: list[str] = []
        block = Block("", labels, _line(node), node.end_point[0] + 1)
        for child in node.children:
            t = child.type
            if t == "identifier" and not kind:
                kind = self.text(child)
            elif t == "string_lit":
                labels.append(self._string_lit(child))
            elif t == "identifier":
                labels.append(self.text(child))
            elif t == "body":
                self._body(child, block)
        block.type = kind
        return block

    def _body(self, node: tree_sitter.Node, block: Block) -> None:
        attrs = block.attrs
        for child in node.children:
            kind = child.type
            if kind == "attribute":
                attr = self.attribute(child)
                attrs[attr.name] = attr
            elif kind == "block":
                block.blocks.append(self.block(child))

    def attribute(self, node: tree_sitter.Node) -> Attr:
        """``name = expression`` (the expression converted when it is first read)."""
        kids = node.children
        src = self.src
        if len(kids) == 3 and kids[2].type == "expression":  # name = value, nothing between
            first, value = kids[0], kids[2]
            name = src[first.start_byte : first.end_byte].decode("utf-8", errors="replace")
            return Attr(name, value.start_point[0] + 1, value, self)
        name = ""
        found = None
        for child in kids:
            if child.type == "identifier" and not name:
                name = self.text(child)
            elif child.type == "expression":
                found = child
        if found is None:
            return Attr(name, _line(node), None, None, ("at", _line(node), ("lit", None)))
        return Attr(name, _line(found), found, self)

    # ---------------------------------------------------------------- expressions

    def expr(self, node: tree_sitter.Node) -> Node:
        """An ``expression`` (or any expression-like node) as an expression node."""
        if node.type == "expression":
            raw = self.src[node.start_byte : node.end_byte]
            if len(raw) < 200:  # the commonest forms, read from the text (no tree walk)
                quick = _quick(raw)
                if quick is not None:
                    return quick
            parts = [c for c in node.children if c.type != "comment"]
            if not parts:
                return ("lit", None)
            if parts[0].type == "(":
                inner = next((c for c in parts if c.type == "expression"), None)
                out = self.expr(inner) if inner is not None else ("lit", None)
                rest = parts[3:]
            else:
                out = self._primary(parts[0])
                rest = parts[1:]
            for post in rest:
                out = self._postfix(out, post)
            return out
        return self._primary(node)

    def _postfix(self, obj: Node, node: tree_sitter.Node) -> Node:
        t = node.type
        if t == "get_attr":
            ident = next((c for c in node.children if c.type == "identifier"), None)
            return ("get", obj, ("lit", self.text(ident) if ident else ""), False)
        if t == "index":
            inner = node.children[0] if node.children else node
            if inner.type == "legacy_index":
                digits = self.text(inner).lstrip(".")
                return ("get", obj, ("lit", int(digits) if digits.isdigit() else digits), False)
            key = next((c for c in inner.children if c.type == "expression"), None)
            return ("get", obj, self.expr(key) if key is not None else ("lit", None), False)
        if t == "splat":
            inner = node.children[0] if node.children else node
            names: list[str] = []
            for c in inner.children:
                if c.type == "get_attr":
                    ident = next((i for i in c.children if i.type == "identifier"), None)
                    names.append(self.text(ident) if ident else "")
                elif c.type == "index":
                    return ("bad", self.text(node), "an index after a splat is not evaluated")
            return ("splat", obj, names)
        if t == "comment":
            return obj
        return ("bad", self.text(node), f"HCL '{t}' not evaluated")

    def _primary(self, node: tree_sitter.Node) -> Node:  # noqa: C901 - one case per kind
        t = node.type
        if t == "literal_value":
            inner = node.children[0]
            if inner.type == "numeric_lit":
                return ("lit", _number(self.text(inner)))
            if inner.type == "bool_lit":
                return ("lit", self.text(inner) == "true")
            if inner.type == "null_lit":
                return ("lit", None)
            if inner.type == "string_lit":
                return ("lit", self._string_lit(inner))
        if t == "variable_expr":
            return ("sym", self.text(node))
        if t == "expression":
            return self.expr(node)
        if t == "collection_value":
            return self._primary(node.children[0])
        if t == "tuple":
            return ("list", [self.expr(c) for c in node.children if c.type == "expression"])
        if t == "object":
            entries: list[Any] = []
            for elem in node.children:
                if elem.type != "object_elem":
                    continue
                exprs = [c for c in elem.children if c.type == "expression"]
                if len(exprs) == 2:
                    entries.append(
                        (self._key(exprs[0]), ("at", _line(exprs[1]), self.expr(exprs[1])))
                    )
            return ("obj", entries)
        if t == "template_expr":
            return self._primary(node.children[0])
        if t == "quoted_template":
            return self._template(node, heredoc=False)
        if t == "heredoc_template":
            return self._template(node, heredoc=True)
        if t == "function_call":
            return self._call(node)
        if t == "for_expr":
            return self._for(node.children[0])
        if t == "operation":
            return self._primary(node.children[0])
        if t == "binary_operation":
            kids = [c for c in node.children if c.type != "comment"]
            at = next((i for i, c in enumerate(kids) if not c.is_named and c.type in _BINARY), 0)
            if not 0 < at < len(kids) - 1:
                return ("bad", self.text(node), "an operator not understood")
            left, right = self._term(kids[:at]), self._term(kids[at + 1 :])
            return ("op", kids[at].type, [left, right])
        if t == "unary_operation":
            kids = [c for c in node.children if c.type != "comment"]
            operand = self._term(kids[1:])
            return ("op", "!" if kids[0].type == "!" else "neg", [operand])
        if t == "conditional":
            exprs = [c for c in node.children if c.type == "expression"]
            if len(exprs) != 3:
                return ("bad", self.text(node), "a condition not understood")
            return ("op", "?:", [self.expr(e) for e in exprs])
        if t == "string_lit":
            return ("lit", self._string_lit(node))
        return ("bad", " ".join(self.text(node).split())[:80], f"HCL '{t}' not evaluated")

    def _term(self, nodes: list[tree_sitter.Node]) -> Node:
        """An operand written as a primary and its postfixes (``var.x[0]``), as one node."""
        if not nodes:
            return ("lit", None)
        out = self._primary(nodes[0])
        for post in nodes[1:]:
            out = self._postfix(out, post)
        return out

    def _key(self, node: tree_sitter.Node) -> Node:
        """An object key: a bare name is its own text (``{ a = 1 }``), anything else is
        evaluated (``{ (var.k) = 1 }``, ``{ "a" = 1 }``)."""
        kids = [c for c in node.children if c.type != "comment"]
        if len(kids) == 1 and kids[0].type == "variable_expr":
            return ("lit", self.text(kids[0]))
        return self.expr(node)

    def _call(self, node: tree_sitter.Node) -> Node:
        name = ""
        args: list[Node] = []
        for child in node.children:
            if child.type == "identifier":
                name = self.text(child)
            elif child.type == "function_arguments":
                exprs = [c for c in child.children if c.type == "expression"]
                args = [self.expr(c) for c in exprs]
                if args and any(c.type == "ellipsis" for c in child.children):
                    args[-1] = ("spread", args[-1])
        return ("call", name, args)

    def _for(self, node: tree_sitter.Node) -> Node:
        names: list[str] = []
        coll: Node = ("lit", None)
        exprs: list[Node] = []
        cond: Node | None = None
        grouping = False
        for child in node.children:
            if child.type == "for_intro":
                names = [self.text(c) for c in child.children if c.type == "identifier"]
                found = next((c for c in child.children if c.type == "expression"), None)
                coll = self.expr(found) if found is not None else coll
            elif child.type == "expression":
                exprs.append(self.expr(child))
            elif child.type == "for_cond":
                found = next((c for c in child.children if c.type == "expression"), None)
                cond = self.expr(found) if found is not None else None
            elif child.type == "ellipsis":
                grouping = True
        if node.type == "for_object_expr" and len(exprs) == 2:
            return ("forobj", names, coll, exprs[0], exprs[1], cond, grouping)
        if exprs:
            return ("for", names, coll, exprs[0], cond)
        return ("bad", self.text(node), "a for expression not understood")

    # ---------------------------------------------------------------- strings and templates

    def _string_lit(self, node: tree_sitter.Node) -> str:
        first, last = node.children[0], node.children[-1]
        return _unescape(self.src[first.end_byte : last.start_byte].decode("utf-8", "replace"))

    def _template(self, node: tree_sitter.Node, *, heredoc: bool) -> Node:
        """A quoted template or a heredoc: literal text from the source between its parts."""
        kids = node.children
        if heredoc:
            head = kids[0] if kids else node
            strip = self.text(head).startswith("<<-")
            marker = next((c for c in kids if c.type == "heredoc_identifier"), None)
            newline = self.src.find(b"\n", marker.end_byte if marker else node.start_byte)
            start = newline + 1 if newline >= 0 else node.end_byte
            closing = kids[-1] if len(kids) > 1 and kids[-1].type == "heredoc_identifier" else None
            end = closing.start_byte if closing is not None else node.end_byte
            end = self.src.rfind(b"\n", start, end) + 1 if end > start else start
            inner = [
                c for c in kids[2:-1] if c.type in ("template_interpolation", "template_directive")
            ]
            tokens = self._tokens(inner, start, end, escapes=False)
            if strip:
                tokens = _dedent(tokens, self.src[start:end].decode("utf-8", "replace"))
            first_line = _line(node) + 1
            parts = _parts(tokens)
            if all(p[0] == "lit" for p in parts):
                return ("src", "".join(p[1] for p in parts), first_line)
            return ("src", parts, first_line)
        start = kids[0].end_byte if kids else node.start_byte
        end = kids[-1].start_byte if len(kids) > 1 else node.end_byte
        inner = [c for c in kids if c.type in ("template_interpolation", "template_directive")]
        parts = _parts(self._tokens(inner, start, end, escapes=True))
        if len(parts) == 1 and parts[0][0] == "lit":
            return parts[0]
        return ("tmpl", parts or [("lit", "")])

    def _tokens(
        self, inner: list[tree_sitter.Node], start: int, end: int, *, escapes: bool
    ) -> list[Any]:
        """Text and parts between ``start`` and ``end``: ``("text", s)``, ``("expr", node,
        strip_before, strip_after)``, ``("if", cond, then, else, strips)``, ``("for", ...)``."""
        out: list[Any] = []
        pos = start
        for child in inner:
            if child.start_byte > pos:
                out.append(("text", self._literal(pos, child.start_byte, escapes)))
            out.append(self._part(child, escapes))
            pos = child.end_byte
        if end > pos:
            out.append(("text", self._literal(pos, end, escapes)))
        return out

    def _literal(self, start: int, end: int, escapes: bool) -> str:
        raw = self.src[start:end].decode("utf-8", errors="replace")
        if escapes:
            return _unescape(raw)
        return raw.replace("$${", "${").replace("%%{", "%{")

    def _strips(self, node: tree_sitter.Node) -> tuple[bool, bool]:
        """Whether ``node`` (an interpolation or a directive's intro/end) has ``~`` markers
        after its opening and before its closing."""
        kids = node.children
        markers = [i for i, c in enumerate(kids) if c.type == "strip_marker"]
        return (bool(markers) and markers[0] <= 1, bool(markers) and markers[-1] >= len(kids) - 2)

    def _part(self, node: tree_sitter.Node, escapes: bool) -> Any:
        if node.type == "template_interpolation":
            expr = next((c for c in node.children if c.type == "expression"), None)
            before, after = self._strips(node)
            value = self.expr(expr) if expr is not None else ("lit", "")
            return ("expr", ("at", _line(node), value), before, after)
        directive = node.children[0] if node.children else node
        if directive.type == "template_if":
            return self._if(directive, escapes)
        if directive.type == "template_for":
            return self._for_part(directive, escapes)
        return (
            "expr",
            ("bad", self.text(node), "a template directive not understood"),
            False,
            False,
        )

    def _sections(
        self, node: tree_sitter.Node, escapes: bool
    ) -> list[tuple[tree_sitter.Node, list[Any]]]:
        """A directive's intro/else/end nodes, each with the tokens that follow it."""
        out: list[tuple[tree_sitter.Node, list[Any]]] = []
        heads = [
            c
            for c in node.children
            if c.type.startswith(("template_if", "template_else", "template_for"))
        ]
        for i, head in enumerate(heads):
            stop = heads[i + 1].start_byte if i + 1 < len(heads) else head.end_byte
            inner = [
                c
                for c in node.children
                if c.type in ("template_interpolation", "template_directive")
                and head.end_byte <= c.start_byte < stop
            ]
            out.append((head, self._tokens(inner, head.end_byte, stop, escapes=escapes)))
        return out

    def _if(self, node: tree_sitter.Node, escapes: bool) -> Any:
        sections = self._sections(node, escapes)
        intro = sections[0][0] if sections else node
        cond_node = next((c for c in intro.children if c.type == "expression"), None)
        cond = self.expr(cond_node) if cond_node is not None else ("lit", False)
        then = sections[0][1] if sections else []
        other = next((toks for head, toks in sections if head.type == "template_else_intro"), [])
        strips = [self._strips(head) for head, _ in sections]
        return ("if", ("at", _line(node), cond), then, other, strips)

    def _for_part(self, node: tree_sitter.Node, escapes: bool) -> Any:
        sections = self._sections(node, escapes)
        intro = sections[0][0] if sections else node
        names = [self.text(c) for c in intro.children if c.type == "identifier"]
        coll_node = next((c for c in intro.children if c.type == "expression"), None)
        coll = self.expr(coll_node) if coll_node is not None else ("lit", [])
        body = sections[0][1] if sections else []
        strips = [self._strips(head) for head, _ in sections]
        return ("for", names, ("at", _line(node), coll), body, strips)


def _render_traversal(node: Node) -> str | None:
    """``a.b.c`` for the nodes of a plain traversal, else None."""
    names: list[str] = []
    while node[0] == "get" and node[2][0] == "lit" and isinstance(node[2][1], str):
        names.append(node[2][1])
        node = node[1]
    if node[0] != "sym" or not names:
        return None
    return ".".join([str(node[1]), *reversed(names)])


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _unescape(text: str) -> str:
    """A quoted string's text: backslash escapes, ``$${`` and ``%%{``."""
    if "\\" not in text and "$${" not in text and "%%{" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        found = m.group(0)
        if found == "$${":
            return "${"
        if found == "%%{":
            return "%{"
        esc = m.group(1)
        if esc[0] in "uU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)

    return _ESCAPE.sub(one, text)


def _quick(raw: bytes) -> Node | None:
    """The node of a plain string, number, boolean, null or attribute traversal, read from
    its text; None for anything else."""
    text = raw.decode("utf-8", errors="replace")
    first = text[:1]
    if first == '"':
        m = _PLAIN_STRING.fullmatch(text)
        return ("lit", m.group(1)) if m else None
    if first.isdigit() or first == "-":
        return ("lit", _number(text)) if _NUMBER.fullmatch(text) else None
    if text in ("true", "false"):
        return ("lit", text == "true")
    if text == "null":
        return ("lit", None)
    if first == "f" and (m := _FILE_CALL.fullmatch(text)):  # file("${path.module}/x.xml")
        path: Node = ("lit", m.group(2))
        if m.group(1):
            module: Node = ("get", ("sym", "path"), ("lit", m.group(1)), False)
            path = ("tmpl", [module, path] if m.group(2) else [module])
        return ("call", "file", [path])
    if _TRAVERSAL.fullmatch(text):
        names = text.split(".")
        node: Node = ("sym", names[0])
        for name in names[1:]:
            node = ("get", node, ("lit", name), False)
        return node
    return None


# ---------------------------------------------------------------- template tokens -> parts


def _strip_left(tokens: list[Any]) -> None:
    """Whitespace before a ``~`` marker is dropped (from the text just before it)."""
    if tokens and tokens[-1][0] == "text":
        tokens[-1] = ("text", tokens[-1][1].rstrip())


def _apply_strips(tokens: list[Any]) -> list[Any]:
    """Tokens with the whitespace that ``~`` markers remove removed (recursively)."""
    out: list[Any] = []
    strip_next = False
    for tok in tokens:
        if tok[0] == "text":
            text = tok[1].lstrip() if strip_next else tok[1]
            strip_next = False
            out.append(("text", text))
            continue
        if tok[0] == "expr":
            if tok[2]:
                _strip_left(out)
            out.append(tok)
            strip_next = tok[3]
            continue
        strips = tok[-1]
        if strips and strips[0][0]:
            _strip_left(out)
        if tok[0] == "if":
            then, other = _inner(tok[2], strips, 0), _inner(tok[3], strips, 1)
            out.append(("if", tok[1], then, other, strips))
        else:
            out.append(("for", tok[1], tok[2], _inner(tok[3], strips, 0), strips))
        strip_next = bool(strips) and strips[-1][1]
    return out


def _inner(tokens: list[Any], strips: list[tuple[bool, bool]], at: int) -> list[Any]:
    """The tokens of one section of a directive, with the markers around it applied."""
    tokens = _apply_strips(list(tokens))
    if at < len(strips) and strips[at][1] and tokens and tokens[0][0] == "text":
        tokens[0] = ("text", tokens[0][1].lstrip())
    if at + 1 < len(strips) and strips[at + 1][0] and tokens and tokens[-1][0] == "text":
        tokens[-1] = ("text", tokens[-1][1].rstrip())
    return tokens


def _parts(tokens: list[Any]) -> list[Node]:
    """Template parts for :mod:`auditor.sources.iac.expr` (``lit``, nodes, ``tif``,
    ``tfor``), literal neighbours merged and empty ones dropped."""
    out: list[Node] = []
    for tok in _apply_strips(tokens):
        if tok[0] == "text":
            if not tok[1]:
                continue
            if out and out[-1][0] == "lit":
                out[-1] = ("lit", out[-1][1] + tok[1])
            else:
                out.append(("lit", tok[1]))
        elif tok[0] == "expr":
            out.append(tok[1])
        elif tok[0] == "if":
            out.append(("tif", tok[1], _parts(tok[2]), _parts(tok[3])))
        else:
            out.append(("tfor", tok[1], tok[2], _parts(tok[3])))
    return out


def _dedent(tokens: list[Any], body: str) -> list[Any]:
    """``<<-``: the indentation every line of the heredoc has is removed from each."""
    widths = [
        len(line) - len(line.lstrip(" \t")) for line in body.split("\n") if line.strip(" \t\r")
    ]
    cut = min(widths) if widths else 0
    if not cut:
        return tokens
    at_start = [True]

    def trim(text: str) -> str:
        lines = text.split("\n")
        out = []
        for i, line in enumerate(lines):
            if i > 0 or at_start[0]:
                n = len(line) - len(line.lstrip(" \t"))
                line = line[min(n, cut) :]
            out.append(line)
        return "\n".join(out)

    def walk(toks: list[Any]) -> list[Any]:
        res: list[Any] = []
        for tok in toks:
            if tok[0] == "text":
                res.append(("text", trim(tok[1])))
                at_start[0] = tok[1].endswith("\n")
            elif tok[0] == "if":
                res.append(("if", tok[1], walk(tok[2]), walk(tok[3]), tok[4]))
            elif tok[0] == "for":
                res.append(("for", tok[1], tok[2], walk(tok[3]), tok[4]))
            else:
                res.append(tok)
                at_start[0] = False
        return res

    return walk(tokens)

"""Bicep text -> declarations with expression nodes (:mod:`auditor.sources.iac.expr`).

NOTE: the tree-sitter-bicep grammar (a C parser) reads a file in linear time whatever it holds,
keeps every position, and leaves a syntax error local: the declarations around it are still read.
pycep-parser, used before, backtracked exponentially on some real files (a ``'''`` string
followed by more lines never finished) and refused filtered loops, trailing commas, the ``!``
operator and other syntax of today's Bicep. Three newer forms the grammar does not know yet are
blanked out first, keeping every position: the type of a typed ``var x string = ...``, an
``extension`` line, and a postfix ``!`` at the end of an item. What still does not parse is
reported as a note at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import tree_sitter
import tree_sitter_bicep

from auditor.sources.iac.expr import Node

_LANGUAGE = tree_sitter.Language(tree_sitter_bicep.language())
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}
_OPERATORS = {
    "==",
    "!=",
    "=~",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "??",
}


@dataclass
class Body:
    """The object of a resource or module, with the ``if`` and ``for`` around it."""

    props: dict[str, tuple[int, Node]]
    """Top-level keys (lower case) -> (line, value node)."""
    obj: Node
    condition: Node | None = None
    loop: tuple[list[str], Node] | None = None
    """Loop variable names (item, index) and the collection."""
    loop_filter: Node | None = None


@dataclass
class Decl:
    """One declaration of a Bicep file."""

    kind: str
    """``param``, ``var``, ``resource``, ``module``, ``output``, ``func`` or ``using``."""
    name: str
    line: int
    end_line: int
    value: Node | None = None
    """A parameter's default, a variable's or output's value, a function's body."""
    rtype: str = ""
    """A resource's type (without ``@version``) or a module's path."""
    existing: bool = False
    body: Body | None = None
    children: list[Decl] = field(default_factory=list)
    """Resources declared inside a resource's body."""
    params: list[str] = field(default_factory=list)
    """A function's parameters."""
    secure: bool = False
    """``@secure()``: never read into anything."""


@dataclass
class Parsed:
    """A Bicep file: its declarations, and notes on what did not parse (line, text)."""

    decls: list[Decl]
    errors: list[tuple[int, str, str]]
    """(line, message, the first line of the declaration it is in)."""


_TYPED_VAR = re.compile(
    r"(?m)^([ \t]*var[ \t]+[A-Za-z_]\w*[ \t]+)([A-Za-z_][\w.]*(?:\[\])?)(?=[ \t]*=)"
)
_EXTENSION = re.compile(r"(?m)^[ \t]*extension\b[^\n]*")
_POSTFIX_BANG = re.compile(r"(?<=[\w)\]])!(?=[ \t]*(?:$|[\]),}]|//))", re.M)
_PARAM_ASSIGN = re.compile(r"(?m)^([ \t]*)param(?=[ \t]+[A-Za-z_]\w*[ \t]*=)")
_STRINGS = re.compile(r"'''.*?'''|'(?:[^'\\\n]|\\.)*'|//[^\n]*|/\*.*?\*/", re.S)


def _blank(text: str, params_file: bool) -> str:
    """``text`` with the newer forms the grammar does not know blanked out (positions kept);
    strings and comments are left alone."""
    keep = [(m.start(), m.end()) for m in _STRINGS.finditer(text)]

    def outside(pos: int) -> bool:
        return not any(a <= pos < b for a, b in keep)

    chars = list(text)

    def wipe(start: int, end: int) -> None:
        for i in range(start, end):
            if chars[i] not in "\r\n":
                chars[i] = " "

    for m in _TYPED_VAR.finditer(text):
        if outside(m.start(2)):
            wipe(m.start(2), m.end(2))
    for m in _EXTENSION.finditer(text):
        if outside(m.start()):
            wipe(m.start(), m.end())
    for m in _POSTFIX_BANG.finditer(text):
        if outside(m.start()):
            wipe(m.start(), m.end())
    if params_file:  # a .bicepparam's 'param x = v' reads as 'var   x = v'
        for m in _PARAM_ASSIGN.finditer(text):
            chars[m.start() + len(m.group(1)) : m.end()] = list("var  ")
    return "".join(chars)


def parse(text: str, *, params_file: bool = False) -> Parsed:
    """The declarations of a Bicep (or ``.bicepparam``) file; never raises on bad syntax."""
    src = _blank(text, params_file).encode("utf-8")
    tree = tree_sitter.Parser(_LANGUAGE).parse(src)
    conv = _Converter(src)
    decls: list[Decl] = []
    secure = False
    for node in tree.root_node.named_children:
        if node.type == "decorators":
            secure = any(_text(src, d).startswith("@secure") for d in node.named_children)
            continue
        if node.type == "ERROR":
            conv.error(node)
            continue
        decl = conv.declaration(node)
        if decl is not None:
            decl.secure = secure
            decls.append(decl)
        secure = False
    conv.scan_errors(tree.root_node)
    return Parsed(decls, sorted(set(conv.errors)))


def _text(src: bytes, node: tree_sitter.Node) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def _line(node: tree_sitter.Node) -> int:
    return node.start_point[0] + 1


def _leftmost(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The operand an expression starts with (``a`` of ``a.b``, ``a[0]``, ``a(x)``, ``a + b``,
    ``a ? b : c``), or None."""
    field = {
        "member_expression": "object",
        "subscript_expression": "object",
        "call_expression": "function",
        "binary_expression": "left",
        "ternary_expression": "condition",
    }.get(node.type)
    if field is None:
        return None
    found = node.child_by_field_name(field)
    if found is None:
        named = [c for c in node.named_children if c.type != "comment"]
        found = named[0] if named else None
    return found


class _Converter:
    """Syntax nodes -> declarations and expression nodes."""

    def __init__(self, src: bytes) -> None:
        self.src = src
        self.errors: list[tuple[int, str, str]] = []
        self.reported: set[int] = set()
        self.replaced: dict[int, Node] = {}
        """Syntax nodes (by id) read as something else: see :meth:`_array_items`."""

    def text(self, node: tree_sitter.Node) -> str:
        return _text(self.src, node)

    def error(self, node: tree_sitter.Node) -> None:
        if node.start_byte in self.reported:
            return
        self.reported.add(node.start_byte)
        snippet = " ".join(self.text(node).split())[:60] or node.type
        what = "missing" if node.is_missing else "not understood"
        top = node
        while top.parent is not None and top.parent.parent is not None:
            top = top.parent
        head = self.text(top).split("\n", 1)[0]
        self.errors.append((_line(node), f"Bicep {what} here: {snippet!r}", head))

    def scan_errors(self, root: tree_sitter.Node) -> None:
        """Every syntax error in the file, once each (only where one is known to be)."""
        if not root.has_error:
            return
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                if not self._spread(node):
                    self.error(node)
                continue
            stack.extend(c for c in node.children if c.has_error or c.is_missing)

    def _spread(self, node: tree_sitter.Node) -> bool:
        """An object spread (``...x``), which the grammar does not know but this reader does."""
        return node.type == "ERROR" and self.text(node).lstrip().startswith("...")

    # ---------------------------------------------------------------- declarations

    def declaration(self, node: tree_sitter.Node) -> Decl | None:
        kind = node.type
        ids = [c for c in node.named_children if c.type == "identifier"]
        name = self.text(ids[0]) if ids else ""
        line, end = _line(node), node.end_point[0] + 1
        if kind == "parameter_declaration":
            return Decl("param", name, line, end, self._after_equals(node))
        if kind == "variable_declaration":
            return Decl("var", name, line, end, self._after_equals(node))
        if kind == "output_declaration":
            return Decl("output", name, line, end, self._after_equals(node))
        if kind == "resource_declaration":
            return self.resource(node, name, line, end)
        if kind == "module_declaration":
            strings = [c for c in node.named_children if c.type == "string"]
            path = self._plain_string(strings[0]) if strings else ""
            body = self.body(node.named_children[-1])
            return Decl("module", name, line, end, rtype=path, body=body)
        if kind == "user_defined_function":
            params = node.child_by_field_name("name")
            fname = self.text(params) if params is not None else name
            plist = next((c for c in node.named_children if c.type == "parameters"), None)
            names = [
                self.text(p.named_children[0])
                for p in (plist.named_children if plist is not None else [])
                if p.named_children
            ]
            return Decl("func", fname, line, end, self.expr(node.named_children[-1]), params=names)
        if kind == "using_statement":
            strings = [c for c in node.named_children if c.type == "string"]
            return Decl(
                "using", "", line, end, rtype=self._plain_string(strings[0]) if strings else ""
            )
        return None

    def _after_equals(self, node: tree_sitter.Node) -> Node | None:
        seen = False
        for child in node.children:
            if seen and child.is_named and child.type not in ("comment", "decorators"):
                return self.expr(child)
            seen = seen or child.type == "="
        return None

    def resource(self, node: tree_sitter.Node, name: str, line: int, end: int) -> Decl:
        strings = [c for c in node.named_children if c.type == "string"]
        rtype = self._plain_string(strings[0]).split("@")[0] if strings else ""
        existing = any(c.type == "existing" for c in node.children)
        body_node = node.named_children[-1]
        decl = Decl("resource", name, line, end, rtype=rtype, existing=existing)
        decl.body = self.body(body_node, decl)
        return decl

    def body(self, node: tree_sitter.Node, owner: Decl | None = None) -> Body:
        """A resource or module body: an object, maybe inside ``if (...)`` and ``[for ...]``."""
        condition = loop = loop_filter = None
        if node.type == "for_statement":
            loop, inner = self._loop_head(node)
            node = inner if inner is not None else node
            if node.type == "if_statement":
                loop_filter, node = self._if(node)
        elif node.type == "if_statement":
            condition, node = self._if(node)
        props: dict[str, tuple[int, Node]] = {}
        entries: list[Any] = []
        if node.type == "object":
            for child in node.named_children:
                nested = self._nested_resource(child)
                if nested is not None:
                    if owner is not None:
                        ids = [c for c in nested.named_children if c.type == "identifier"]
                        name = self.text(ids[0]) if ids else ""
                        end = nested.end_point[0] + 1
                        owner.children.append(self.resource(nested, name, _line(nested), end))
                elif child.type == "object_property":
                    key, value = self._property(child)
                    if key is not None and value is not None:
                        props[key.lower()] = (_line(child), value)
                        entries.append((("lit", key), value))
        return Body(props, ("obj", entries), condition, loop, loop_filter)

    @staticmethod
    def _nested_resource(node: tree_sitter.Node) -> tree_sitter.Node | None:
        """A resource declared inside another's body (the grammar wraps it as a property)."""
        if node.type == "resource_declaration":
            return node
        if node.type == "object_property":
            named = [c for c in node.named_children if c.type not in ("comment", "decorators")]
            if len(named) == 1 and named[0].type == "resource_declaration":
                return named[0]
        return None

    def _if(self, node: tree_sitter.Node) -> tuple[Node | None, tree_sitter.Node]:
        named = [c for c in node.named_children if c.type != "comment"]
        cond = self.expr(named[0]) if named else None
        return cond, named[-1] if len(named) > 1 else node

    def _loop_head(
        self, node: tree_sitter.Node
    ) -> tuple[tuple[list[str], Node], tree_sitter.Node | None]:
        """(names, collection) of ``[for ... in coll: body]`` and the body node."""
        names: list[str] = []
        coll: Node = ("bad", "for", "no collection")
        body = None
        after_in = after_colon = False
        for child in node.children:
            if child.type == "for_loop_parameters":
                names = [self.text(c) for c in child.named_children]
            elif child.type == "in":
                after_in = True
            elif child.type == ":":
                after_colon = True
            elif child.is_named and child.type != "comment":
                if after_colon:
                    body = child
                elif after_in:
                    coll = self.expr(child)
                elif not names:
                    names = [self.text(child)]
        return (names, coll), body

    def _property(self, node: tree_sitter.Node) -> tuple[str | None, Node | None]:
        named = [c for c in node.named_children if c.type not in ("comment", "decorators")]
        if len(named) < 2:
            return None, None
        key_node, value_node = named[0], named[-1]
        key = self._plain_string(key_node) if key_node.type == "string" else self.text(key_node)
        return key, ("at", _line(value_node), self.expr(value_node))

    def _plain_string(self, node: tree_sitter.Node) -> str:
        value = self.expr(node)
        return str(value[1]) if value[0] == "lit" else self.text(node).strip("'")

    # ---------------------------------------------------------------- expressions

    def expr(self, node: tree_sitter.Node) -> Node:  # noqa: C901 - one case per syntax kind
        if node.id in self.replaced:
            return self.replaced[node.id]
        kind = node.type
        if kind in ("parenthesized_expression", "type"):
            inner = [c for c in node.named_children if c.type != "comment"]
            if kind == "parenthesized_expression" and len(inner) > 1:
                return ("bad", self.text(node), "a list in brackets")
            return self.expr(inner[0]) if inner else ("lit", None)
        if kind in ("identifier", "compatible_identifier", "property_identifier"):
            return ("sym", self.text(node))
        if kind == "number":
            try:
                return ("lit", int(self.text(node)))
            except ValueError:
                return ("lit", float(self.text(node)))
        if kind == "boolean":
            return ("lit", self.text(node) == "true")
        if kind == "null":
            return ("lit", None)
        if kind == "string":
            return self.string(node)
        if kind == "array":
            return ("list", self._array_items(node))
        if kind == "object":
            entries: list[Any] = []
            for c in node.named_children:
                if c.type == "object_property":
                    named = [x for x in c.named_children if x.type not in ("comment", "decorators")]
                    if len(named) >= 2:
                        key = (
                            self.expr(named[0])
                            if named[0].type == "string"
                            else ("lit", self.text(named[0]))
                        )
                        entries.append((key, ("at", _line(named[-1]), self.expr(named[-1]))))
                elif self._spread(c):
                    entries.append(("spread", self._spread_of(c)))
            return ("obj", entries)
        if kind == "member_expression":
            obj = node.child_by_field_name("object") or node.named_children[0]
            prop = node.child_by_field_name("property") or node.named_children[-1]
            safe = any(c.type == ".?" for c in node.children)
            return ("get", self.expr(obj), ("lit", self.text(prop)), safe)
        if kind == "subscript_expression":
            obj = node.child_by_field_name("object") or node.named_children[0]
            index = node.child_by_field_name("index") or node.named_children[-1]
            safe = any(c.type == "?" for c in node.children)
            return ("get", self.expr(obj), self.expr(index), safe)
        if kind == "resource_expression":
            return ("sym", "::".join(self.text(c) for c in node.named_children))
        if kind == "call_expression":
            return self.call(node)
        if kind == "binary_expression":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            op = next(
                (c.type for c in node.children if not c.is_named and c.type in _OPERATORS), None
            )
            if left is None or right is None or op is None:
                return ("bad", self.text(node), "an operator not understood")
            return ("op", op, [self.expr(left), self.expr(right)])
        if kind == "unary_expression":
            op = node.children[0].type
            operand = self.expr(node.named_children[-1])
            return ("op", "!" if op == "!" else "neg", [operand])
        if kind == "ternary_expression":
            parts = [
                node.child_by_field_name(f) for f in ("condition", "consequence", "alternative")
            ]
            if any(p is None for p in parts):
                return ("bad", self.text(node), "a condition not understood")
            return ("op", "?:", [self.expr(p) for p in parts if p is not None])
        if kind == "lambda_expression":
            named = node.named_children
            head, body = named[0], named[-1]
            params = (
                [self.text(c) for c in head.named_children]
                if head.type != "identifier"
                else [self.text(head)]
            )
            return ("lambda", params, self.expr(body))
        if kind == "for_statement":
            (names, coll), looped = self._loop_head(node)
            cond: Node | None = None
            if looped is not None and looped.type == "if_statement":
                cond, looped = self._if(looped)
            value = self.expr(looped) if looped is not None else ("lit", None)
            return ("for", names, coll, value, cond)
        return ("bad", " ".join(self.text(node).split())[:80], f"Bicep '{kind}' not evaluated")

    # ---------------------------------------------------------------- array items

    def _array_items(self, node: tree_sitter.Node) -> list[Node]:
        """The items of ``[...]``, one per line or between commas.

        NOTE: tree-sitter-bicep 1.1 splits and joins array items wrongly around brackets: a
        call as the first item (``[f(a), g(b)]``, or ``f(a)`` on the first line of a multi-line
        array) comes as the identifier ``f`` and then ``(a)``; an index after an item
        (``x[0]``, ``f(a)[0]``) as the item and then the array ``[0]``; and an item followed
        on the next line by an item in round brackets (``a`` then ``(b)``) as the call
        ``a(b)``. Bicep separates items by line breaks and commas only, so the pieces are
        regrouped that way: pieces on one line with no comma between make one item, and a
        call whose ``(`` is on a later line than its function is two items.
        """
        groups: list[list[tuple[int, int, tree_sitter.Node]]] = []
        items: list[Node | None] = []
        new_item, last_row = True, -1
        for child in node.children:
            if child.type == ",":
                new_item = True
            elif not child.is_named or child.type in ("comment", "diagnostic_comment"):
                continue  # a #disable-next-line is no item
            elif self._spread(child):
                groups.append([])
                items.append(("spread", self._spread_of(child)))
                new_item = True
            else:
                for start, end, piece in self._line_pieces(child):
                    if new_item or start > last_row or not groups or not groups[-1]:
                        groups.append([])
                        items.append(None)
                    groups[-1].append((start, end, piece))
                    new_item, last_row = False, end
        return [
            item if item is not None else self._joined(group)
            for item, group in zip(items, groups, strict=True)
        ]

    def _line_pieces(self, node: tree_sitter.Node) -> list[tuple[int, int, tree_sitter.Node]]:
        """``node`` as (first row, last row, node) pieces: two or more when it holds a call
        whose ``(`` starts a later line than the function before it (``a`` then ``(b)``)."""
        inner: tree_sitter.Node | None = node
        while inner is not None:
            if inner.type == "call_expression":
                fn = inner.child_by_field_name("function") or inner.named_children[0]
                args = inner.child_by_field_name("arguments") or inner.named_children[-1]
                if fn.end_point[0] < args.start_point[0]:
                    self.replaced[inner.id] = self._in_brackets(args)
                    return [*self._line_pieces(fn), (args.start_point[0], node.end_point[0], node)]
            inner = _leftmost(inner)
        return [(node.start_point[0], node.end_point[0], node)]

    def _joined(self, group: list[tuple[int, int, tree_sitter.Node]]) -> Node:
        """One array item from the pieces the grammar gave on one line (see _array_items)."""
        value = self.expr(group[0][2])
        for _, _, piece in group[1:]:
            named = [c for c in piece.named_children if c.type != "comment"]
            if piece.type == "array" and len(named) == 1 and not self._spread(named[0]):
                value = ("get", value, self.expr(named[0]), False)
                continue
            brackets: tree_sitter.Node | None = piece
            while brackets is not None and brackets.type != "parenthesized_expression":
                brackets = _leftmost(brackets)
            callee = value[0] == "sym" or (value[0] == "get" and value[2][0] == "lit")
            if brackets is not None and callee:
                self.replaced[brackets.id] = self._called(value, brackets)
                value = self.expr(piece)
                continue
            first, last = group[0][2], group[-1][2]
            text = self.src[first.start_byte : last.end_byte].decode("utf-8", errors="replace")
            return ("bad", " ".join(text.split())[:80], "an array item not understood")
        return value

    def _called(self, callee: Node, brackets: tree_sitter.Node) -> Node:
        """``callee(...)`` with the arguments in ``brackets`` (the way :meth:`call` reads it)."""
        args = [self.expr(a) for a in brackets.named_children if a.type != "comment"]
        if callee[0] == "sym":
            return ("call", callee[1], args)
        _, obj, prop, _safe = callee
        if prop[0] == "lit" and obj in (("sym", "sys"), ("sym", "az")):
            return ("call", f"{obj[1]}.{prop[1]}", args)
        return ("mcall", obj, str(prop[1]), args)

    def _in_brackets(self, args: tree_sitter.Node) -> Node:
        """``(x)`` read as its own item: the expression in it."""
        inner = [c for c in args.named_children if c.type != "comment"]
        if len(inner) == 1:
            return self.expr(inner[0])
        return ("bad", " ".join(self.text(args).split())[:80], "a list in brackets")

    def _spread_of(self, node: tree_sitter.Node) -> Node:
        named = [c for c in node.named_children if c.type != "comment"]
        return self.expr(named[-1]) if named else ("lit", None)

    def call(self, node: tree_sitter.Node) -> Node:
        fn = node.child_by_field_name("function") or node.named_children[0]
        args_node = node.child_by_field_name("arguments") or node.named_children[-1]
        args = [self.expr(a) for a in args_node.named_children if a.type != "comment"]
        if fn.type == "member_expression":
            obj = fn.child_by_field_name("object") or fn.named_children[0]
            prop = fn.child_by_field_name("property") or fn.named_children[-1]
            if obj.type == "identifier" and self.text(obj) in ("sys", "az"):
                return ("call", f"{self.text(obj)}.{self.text(prop)}", args)
            return ("mcall", self.expr(obj), self.text(prop), args)
        return ("call", self.text(fn), args)

    def string(self, node: tree_sitter.Node) -> Node:
        """A string literal: text, or a template of text and ``${...}`` expressions."""
        raw = self.src[node.start_byte : node.end_byte]
        if raw.startswith(b"'''"):
            body = raw[3:-3].decode("utf-8", errors="replace")
            # NOTE: Bicep drops the line break right after the opening quotes.
            first = _line(node)
            if body.startswith(("\r\n", "\n")):
                body, first = body.split("\n", 1)[1], first + 1
            return ("src", body, first)
        parts: list[Node] = []
        pos = node.start_byte + 1
        for child in node.named_children:
            if child.type != "interpolation":
                continue
            parts.append(("lit", _unescape(self.src[pos : child.start_byte])))
            inner = [c for c in child.named_children if c.type != "comment"]
            parts.append(self.expr(inner[0]) if inner else ("lit", ""))
            pos = child.end_byte
        tail = _unescape(self.src[pos : max(pos, node.end_byte - 1)])
        if not parts:
            return ("lit", tail)
        parts.append(("lit", tail))
        return ("tmpl", [p for p in parts if p != ("lit", "")] or [("lit", "")])


def _unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and text[i + 2 : i + 3] == "{" and (end := text.find("}", i)) > 0:
                try:
                    out.append(chr(int(text[i + 3 : end], 16)))
                    i = end + 1
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)

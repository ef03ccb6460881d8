"""A fast reader for the plain HCL most Terraform files are written in, with python-hcl2's output.

NOTE: python-hcl2 (Lark) reads about 9,000 lines a second: a repository with 1,000 APIs in one
``main.tf`` took 16 s to parse. Resource blocks are nearly always plain: quoted strings,
numbers, references, function calls, lists, objects, heredocs and nested blocks. This reader
handles exactly those and gives, block by block, what python-hcl2 serializes with the options of
:mod:`auditor.sources.hclfull`. Anything else in a block (operators, conditionals, ``for``,
template directives, escapes, quoted keys, deep nesting ...) makes that block a :class:`Raw` span,
which the caller parses with python-hcl2; a file whose top level is not plain blocks gives
``None`` and is parsed whole. ``tests/test_hclquick.py`` checks the two readers agree (but for
comments in block headers, which python-hcl2 mishandles).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?![0-9A-Za-z_.])")
#: What ``${...}`` may hold to be copied as written (python-hcl2 re-serializes anything else).
_SIMPLE_INTERP = re.compile(
    r"\$\{[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\[\*\])*\}"
)
_INDEX = re.compile(r'\[(?:[0-9]+|\*|"[A-Za-z0-9_.-]*")\]')
#: ``$${...}``, copied as written (an open one is left to python-hcl2, which refuses it).
_ESCAPED_INTERP = re.compile(r"\$\$\{[A-Za-z0-9_.\-\[\]* ]*\}")
#: Nothing may follow the marker on its line (python-hcl2 refuses even a blank).
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\n")
_NEWLINE = re.compile("\n")
_KEYWORDS = {"true": True, "false": False, "null": None}
_UNREAD = object()  # a simple-looking argument term() must read (``for``, ``true.x``)
#: ``name = value`` on one line, for the commonest values: a string with no escapes, templates
#: or directives, an integer, a keyword, a name or a dotted reference (``term`` reads the rest).
_SIMPLE_ARG = (
    r'([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?P<v>"(?P<s>[^"\\\n$%]*)"'
    r"|(?P<n>-?[0-9]+)(?![0-9A-Za-z_.])"
    r"|(?P<r>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))[ \t]*(?=[\n}])"
)
_BLANKS = re.compile(r"(?:[ \t\r]+|#[^\n]*|//[^\n]*|/\*[^\n]*?\*/)*")
_BLANKS_NL = re.compile(r"(?:[ \t\r\n]+|#[^\n]*|//[^\n]*|/\*.*?\*/)*", re.S)
#: What ``skip(newlines=True)`` skips, then a :data:`_SIMPLE_ARG`. NOTE: atomic, as skip() is:
#: a comment must not give back text to be read as an argument.
_BLANKS_THEN_SIMPLE_ARG = re.compile(f"(?>{_BLANKS_NL.pattern}){_SIMPLE_ARG}", re.S)


#: A block header of quoted labels with nothing unusual in them, up to its brace: what the
#: reader's ident/label/skip steps give in one match (anything else takes those steps).
_HEADER = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)((?:[ \t]*"(?:[^"\\\n$%]|[$%](?!\{))*")*)[ \t]*\{')
_LABEL = re.compile(r'"([^"]*)"')


class _Unsupported(Exception):
    """Something this reader does not handle; python-hcl2 takes over."""


@dataclass
class Block:
    """A top-level block as python-hcl2 serializes it."""

    labels: list[str]
    body: dict[str, Any]
    attrs: dict[str, tuple[int, int]]
    """Top-level arguments: (line, start) of the expression."""
    ends: dict[str, int]
    """Where the expression of each top-level argument that is not a plain value (a string, a
    number, a keyword or a reference, on one line) ends."""
    offset: int
    line: int


@dataclass
class Raw:
    """A top-level block left to python-hcl2: ``text[start:end]``, starting on ``line``."""

    start: int
    end: int
    line: int


@dataclass
class _Term:
    value: Any
    """The serialized value (as an argument's value)."""
    hcl: str
    """The normalized HCL text (as part of a larger expression)."""


@dataclass
class _Reader:
    text: str
    i: int = 0
    newlines: list[int] = field(default_factory=list)
    """Where lines end, from ``i`` on."""
    before: int = 0
    """Lines that end before ``i``."""

    def line(self, pos: int) -> int:
        return self.before + bisect_right(self.newlines, pos - 1) + 1

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < len(self.text) else ""

    def skip(self, newlines: bool) -> None:
        """Spaces, comments and (when ``newlines``) line ends. A comment that does not end (or,
        on one line, spans lines) is not skipped: what follows then fails as unsupported."""
        blanks = (_BLANKS_NL if newlines else _BLANKS).match(self.text, self.i)
        assert blanks is not None  # the pattern matches the empty string too
        self.i = blanks.end()

    def ident(self) -> str:
        m = _IDENT.match(self.text, self.i)
        if m is None:
            raise _Unsupported("identifier expected")
        self.i = m.end()
        return m.group()

    def expect(self, c: str) -> None:
        if self.peek() != c:
            raise _Unsupported(f"{c!r} expected")
        self.i += 1

    # -- blocks -------------------------------------------------------------------------------

    def label(self) -> str:
        if self.peek() == '"':
            end = self.text.find('"', self.i + 1)
            if end < 0:
                raise _Unsupported("unterminated label")
            value = self.text[self.i + 1 : end]
            if "\\" in value or "\n" in value or "${" in value or "%{" in value:
                raise _Unsupported("label with escapes or templates")
            self.i = end + 1
            return value
        return self.ident()

    def body(self) -> tuple[dict[str, Any], dict[str, tuple[int, int]], dict[str, int]]:
        """Arguments and nested blocks up to the closing brace (consumed): the body, the
        (line, start) of each argument and the end of each one that is not a plain value."""
        out: dict[str, Any] = {}
        attrs: dict[str, tuple[int, int]] = {}
        ends: dict[str, int] = {}
        text, simple, line = self.text, _BLANKS_THEN_SIMPLE_ARG.match, self.line
        while True:
            m = simple(text, self.i)
            if m is not None:
                # NOTE: the commonest argument by far, read here in line (this loop is most of
                # a large file's read). A name or reference means what it says unless it is
                # ``for`` (an expression left to term()) or a keyword with more after it.
                key, s, n, r = m.group(1, "s", "n", "r")
                if key not in out:
                    if s is not None:
                        value: Any = s
                    elif n is not None:
                        value = int(n)
                    elif r in _KEYWORDS:
                        value = _KEYWORDS[r]
                    elif "." not in r:
                        value = r if r != "for" else _UNREAD
                    else:
                        head = r[: r.index(".")]
                        value = (
                            "${" + r + "}" if head != "for" and head not in _KEYWORDS else _UNREAD
                        )
                    if value is not _UNREAD:
                        start = m.start("v")
                        out[key] = value
                        attrs[key] = (line(start), start)
                        self.i = m.end()
                        continue
            self.skip(newlines=True)
            if self.peek() == "}":
                self.i += 1
                return out, attrs, ends
            name = self.ident()
            self.skip(newlines=False)
            if self.peek() == "=" and self.peek(1) != "=":
                self.i += 1
                self.skip(newlines=False)
                start = self.i
                term = self.term()
                if name in out:
                    raise _Unsupported("argument set twice")
                out[name] = term.value
                attrs[name] = (self.line(start), start)
                ends[name] = self.i
                self.skip(newlines=False)
                if self.peek() not in ("\n", "}", ""):
                    raise _Unsupported("operator or more after an argument")
                continue
            labels = []
            while self.peek() != "{":
                labels.append(self.label())
                self.skip(newlines=False)
            self.i += 1
            inner, _, _ = self.body()
            node: dict[str, Any] = inner
            for lb in reversed(labels):
                node = {lb: node}
            if name in out and not isinstance(out[name], list):
                raise _Unsupported("block named like an argument")
            out.setdefault(name, []).append(node)

    # -- expressions --------------------------------------------------------------------------

    def term(self) -> _Term:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == "<" and self.peek(1) == "<":
            return self.heredoc()
        if c == "[":
            return self.list()
        if c == "{":
            return self.object()
        if c.isdigit() or (c == "-" and self.peek(1).isdigit()):
            m = _NUMBER.match(self.text, self.i)
            if m is None:
                raise _Unsupported("number")
            self.i = m.end()
            s = m.group()
            # As part of a larger expression python-hcl2 writes the number back as Python
            # does (01 -> 1, 1.50 -> 1.5), the sign kept as written (-0 stays -0).
            sign, digits = ("-", s[1:]) if s[0] == "-" else ("", s)
            if "." in s:
                return _Term(float(s), sign + repr(float(digits)))
            return _Term(int(s), sign + str(int(digits)))
        name = self.ident()
        if name in _KEYWORDS:
            return _Term(_KEYWORDS[name], name)
        if name == "for":
            raise _Unsupported("for expression")
        if self.peek() == "(":
            return self.call(name)
        return self.reference(name)

    def string(self) -> _Term:
        end = self.text.find('"', self.i + 1)
        if end < 0:
            raise _Unsupported("unterminated string")
        raw = self.text[self.i + 1 : end]
        if "\\" in raw or "\n" in raw or "%{" in raw:
            raise _Unsupported("escapes, line ends or directives in a string")
        if "${" in _SIMPLE_INTERP.sub("", _ESCAPED_INTERP.sub("", raw)):
            raise _Unsupported("template expression (or an escaped one left open)")
        self.i = end + 1
        return _Term(raw, f'"{raw}"')

    def heredoc(self) -> _Term:
        m = _HEREDOC.match(self.text, self.i)
        if m is None:
            raise _Unsupported("heredoc")
        end = _heredoc_end(self.text, m)
        if end is None:
            raise _Unsupported("unterminated heredoc")
        raw = self.text[self.i : end]
        if "\r" in raw or raw.endswith((" ", "\t")):
            raise _Unsupported("carriage return or trailing blanks in a heredoc")
        self.i = end
        return _Term(raw, raw)

    def terms(self, close: str) -> tuple[list[_Term], bool]:
        """Comma-separated terms up to ``close`` (consumed), and whether a comma trails."""
        self.i += 1
        items: list[_Term] = []
        trailing = False
        while True:
            self.skip(newlines=True)
            if self.peek() == close:
                self.i += 1
                return items, trailing
            if self.peek() == "<":  # term() refuses splats and for itself
                raise _Unsupported("heredoc in a list or call")
            items.append(self.term())
            self.skip(newlines=True)
            trailing = self.peek() == ","
            if trailing:
                self.i += 1
            elif self.peek() != close:
                raise _Unsupported("separator")

    def list(self) -> _Term:
        items, _ = self.terms("]")
        return _Term([t.value for t in items], "[" + ", ".join(t.hcl for t in items) + "]")

    def object(self) -> _Term:
        self.i += 1
        items: list[tuple[str, _Term]] = []
        while True:
            self.skip(newlines=True)
            if self.peek() == "}":
                self.i += 1
                break
            key = self.ident()
            self.skip(newlines=False)
            self.expect("=")
            self.skip(newlines=False)
            items.append((key, self.term()))
            self.skip(newlines=False)
            if self.peek() == ",":
                self.i += 1
            elif self.peek() not in ("\n", "}"):
                raise _Unsupported("object separator")
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise _Unsupported("key set twice")
        hcl = "{" + ", ".join(f"{k} = {t.hcl}" for k, t in items) + "}"
        return _Term({k: t.value for k, t in items}, hcl)

    def call(self, name: str) -> _Term:
        args, trailing = self.terms(")")
        if trailing:
            raise _Unsupported("trailing comma in a call")
        hcl = name + "(" + ", ".join(a.hcl for a in args) + ")"
        return _Term("${" + hcl + "}", hcl)

    def reference(self, name: str) -> _Term:
        parts = [name]
        while True:
            c = self.peek()
            if c == "." and _IDENT.match(self.text, self.i + 1):
                self.i += 1
                parts.append("." + self.ident())
            elif c == "[":
                m = _INDEX.match(self.text, self.i)
                if m is None:
                    raise _Unsupported("index")
                self.i = m.end()
                parts.append(m.group())
            else:
                break
        hcl = "".join(parts)
        # A lone name (a type such as ``string``) is serialized bare.
        return _Term(hcl if len(parts) == 1 else "${" + hcl + "}", hcl)


def blocks(
    text: str, start: int = 0, stop: int | None = None, before: int | None = None
) -> list[Block | Raw] | None:
    """The top-level blocks of ``text``; None when its top level is not plain blocks.

    With ``start`` and ``stop``: the blocks from ``start`` (a place where a block may begin, or
    blanks and comments before one) that end exactly at ``stop``; None when ``stop`` is not
    where a block, or the text, starts (see :mod:`auditor.sources.hclsplit`). ``before``: the
    number of lines before ``start``, when the caller knows it.
    """
    limit = len(text) if stop is None else stop
    lines = [m.start() for m in _NEWLINE.finditer(text, start, limit)]
    if before is None:
        before = text.count("\n", 0, start)
    reader = _Reader(text, start, lines, before)
    out: list[Block | Raw] = []
    try:
        while True:
            reader.skip(newlines=True)
            if reader.i >= limit:
                return out if reader.i == limit or stop is None else None
            start = reader.i
            head = _HEADER.match(text, start)
            if head is not None:
                labels = [head[1], *_LABEL.findall(head[2])]
                reader.i = head.end()
            else:
                # NOTE: comments in a header are skipped, as Terraform skips them; python-hcl2
                # refuses one between labels and keeps one before the brace as a label (which
                # the Terraform reader drops): the one place the two readers differ.
                labels = [reader.ident()]
                reader.skip(newlines=False)
                while reader.peek() != "{":
                    labels.append(reader.label())
                    reader.skip(newlines=False)
                reader.i += 1
            try:
                body, attrs, ends = reader.body()
            except (_Unsupported, RecursionError):  # deep nesting: python-hcl2 decides
                end = _block_end(text, start)
                if end is None:
                    return None
                out.append(Raw(start, end, reader.line(start)))
                reader.i = end
                continue
            out.append(Block(labels, body, attrs, ends, start, reader.line(start)))
    except _Unsupported:
        return None


def _block_end(text: str, start: int) -> int | None:
    """The end of the block starting at ``start`` (after its closing brace), strings, heredocs
    and comments skipped; None when it cannot be told."""
    depth = 0
    i, n = text.find("{", start), len(text)
    if i < 0:
        return None
    while i < n:
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == '"':
            i = _string_end(text, i)
            if i < 0:
                return None
            continue
        elif c == "#" or text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                return None
            i = close + 2
            continue
        elif text.startswith("<<", i):
            m = _HEREDOC.match(text, i)
            if m is not None:
                end = _heredoc_end(text, m)
                if end is None:
                    return None
                i = end
                continue
        i += 1
    return None


def _string_end(text: str, i: int) -> int:
    """After the closing quote of the string at ``i`` (templates nest strings); -1 if none."""
    j, n, depth = i + 1, len(text), 0
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "\n" and depth == 0:
            return -1
        if depth == 0 and c == '"':
            return j + 1
        if text.startswith("${", j) or text.startswith("%{", j):
            depth += 1
            j += 2
            continue
        if depth and c == "}":
            depth -= 1
        elif depth and c == '"':
            j = _string_end(text, j)
            if j < 0:
                return -1
            continue
        j += 1
    return -1


def _heredoc_end(text: str, m: re.Match[str]) -> int | None:
    marker, pos = m.group(2), m.end()
    while True:
        nl = text.find("\n", pos)
        line_end = len(text) if nl < 0 else nl
        if text[pos:line_end].strip() == marker:
            return line_end
        if nl < 0:
            return None
        pos = nl + 1

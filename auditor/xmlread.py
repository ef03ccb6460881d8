"""Read APIM policy documents, including "rawxml" exports that are not well-formed XML.

APIM's rawxml format writes C# policy expressions literally: ``value="@(h.Get("x"))"``,
``condition="@(a < b && c)"``, ``<set-body>@{ ... }</set-body>``. :func:`escape_expressions` scans
such text with a small state machine (markup, attribute values, and a C# lexer for expressions)
and XML-escapes only what lxml would choke on, keeping every line on its line number. The result
is parsed by a hardened lxml parser (no DTDs, no entity expansion, no network, no recover mode).

Two deliberate differences from a plain XML parser, so that callers see the source as written:

* line breaks and tabs inside attribute values are kept (XML would turn them into spaces, which
  breaks multi-line ``@{ ... }`` blocks that contain ``//`` comments);
* ``.sourceline`` of elements and comments is the line of their opening ``<`` (libxml2 reports
  the line where a start tag or comment *ends*).
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left
from collections.abc import Sequence

from lxml import etree

from auditor.bounded import MAX_DOCUMENT_BYTES, PolicyReadError, too_big

MAX_DEPTH: int = 256
"""Element nesting bound."""

_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_NAME = re.compile(r"[^\s/>=\"'<&]+")
_NAME_START = re.compile(r"[A-Za-z_:\u00c0-\U0010ffff]")
_END_TAG = re.compile(r"</[^\s/>=\"'<&]*\s*>?")
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CONTENT_STOP = re.compile(r"[<>&@]")
_SIMPLE_TAG = re.compile(
    r"<([^\s/>=\"'<&]+)(?:\s+[^\s/>=\"'<&]+\s*=\s*(?:\"[^\"<&@\n\r\t]*\"|'[^'<&@\n\r\t]*'))*\s*(/?)>"
)
_TAG_STOP = re.compile(r"[\"'<>]|/>")
_ATTR_STOP = re.compile(r"[\"'<>&\n\r\t]")
_EXPR_STOP = re.compile(r"[(){}\"'@$/\\*<>&\n\r\t]")
_TEXT_ESC = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_ATTR_ESC = {**_TEXT_ESC, '"': "&quot;", "'": "&apos;", "\n": "&#10;", "\r": "&#10;", "\t": "&#9;"}
# Expression lexer modes: code, "str", @"verbatim", $"interpolated", $@"both", 'c', //, /* */.
_CODE, _STR, _VSTR, _ISTR, _VISTR, _CHAR, _LCOMMENT, _BCOMMENT = range(8)


class _Scanner:
    """One pass over the text: builds the escaped copy and notes what lxml cannot tell us."""

    def __init__(self, text: str) -> None:
        self.src, self.pos = text, 0
        self.out: list[str] = []
        self.pending: list[str] = []  # line breaks held back until an attribute value closes
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.nodes: list[tuple[str | None, int]] = []  # (element name or None = comment, line)
        self.depth = 0
        self.dtd_line: int | None = None
        self.deep_line: int | None = None
        self.open_expr_line: int | None = None

    def line(self, pos: int) -> int:
        return bisect_left(self.newlines, pos) + 1

    def char_at(self, pos: int) -> tuple[str, int]:
        """The logical character at pos (an entity reference decoded) and its source length."""
        if pos >= len(self.src):
            return "", 0
        m = _ENTITY.match(self.src, pos) if self.src[pos] == "&" else None
        if m is None:
            return self.src[pos], 1
        named, dec, hexa = m.groups()
        char = _NAMED[named] if named else chr(min(int(dec or hexa, 10 if dec else 16), 0xFFFD))
        return char, m.end() - pos

    def copy_to(self, stop: re.Pattern[str]) -> bool:
        """Copy text up to the next match of stop; False when the text ran out first."""
        m = stop.search(self.src, self.pos)
        end = m.start() if m else len(self.src)
        self.out.append(self.src[self.pos : end])
        self.pos = end
        return m is not None

    def copy_past(self, end: str) -> None:
        stop = self.src.find(end, self.pos)
        stop = len(self.src) if stop < 0 else stop + len(end)
        self.out.append(self.src[self.pos : stop])
        self.pos = stop

    def take(self, quote: str | None) -> str:
        """Consume and emit (escaped) the next logical character; return it ('' at the end)."""
        ch, size = self.char_at(self.pos)
        self.pos += size
        if size > 1:
            self.out.append(self.src[self.pos - size : self.pos])  # entity reference kept as is
        elif quote is None or ch not in _ATTR_ESC:
            self.out.append(_TEXT_ESC.get(ch, ch))
        elif ch in "\n\r\t":
            self.pending.append(ch)  # the real break goes after the closing quote
            if not (ch == "\r" and self.src.startswith("\n", self.pos)):
                self.out.append(_ATTR_ESC[ch])
        else:
            self.out.append(_ATTR_ESC[ch] if ch in "<>&" or ch == quote else ch)
        return ch

    def run(self) -> str:
        src, blank = self.src, True  # blank: only whitespace since the last markup
        while True:
            start = self.pos
            if not self.copy_to(_CONTENT_STOP):
                break
            blank = blank and not src[start : self.pos].strip()
            if src[self.pos] == "<":
                self.markup()
                blank = True
            elif blank and src.startswith(("@(", "@{"), self.pos):
                self.expression(None)
                blank = False
            else:
                self.take(None)
                blank = False
        self.out.extend(self.pending)
        return "".join(self.out)

    def markup(self) -> None:
        src, pos = self.src, self.pos
        if src.startswith("<!--", pos):
            self.nodes.append((None, self.line(pos)))
            self.copy_past("-->")
        elif src.startswith("<![CDATA[", pos):
            self.copy_past("]]>")
        elif src.startswith("<?", pos):
            self.copy_past("?>")
        elif src.startswith("</", pos):
            end = m.end() if (m := _END_TAG.match(src, pos)) else pos + 2
            self.out.append(src[pos:end])
            self.pos = end
            self.depth -= 1
        elif src.startswith("<!", pos):
            if _DTD.match(src, pos) and self.dtd_line is None:
                self.dtd_line = self.line(pos)
            self.out.append("<!")
            self.pos += 2
        elif _NAME_START.match(src, pos + 1):
            self.start_tag()
        else:
            self.take(None)  # a stray '<' becomes &lt;

    def start_tag(self) -> None:
        src, start = self.src, self.pos
        if simple := _SIMPLE_TAG.match(src, start):  # fast path: nothing to escape
            self.nodes.append((simple[1], self.line(start)))
            self.out.append(simple[0])
            self.pos = simple.end()
            self.opened(not simple[2])
            return
        end = m.end() if (m := _NAME.match(src, start + 1)) else start + 1
        self.nodes.append((src[start + 1 : end], self.line(start)))
        self.out.append(src[start:end])
        self.pos = end
        while self.copy_to(_TAG_STOP):
            c = src[self.pos]
            if c == "<":
                return  # malformed tag: leave the error to the parser
            if c in "\"'":
                self.attribute_value(c)
                continue
            self.opened(c == ">")
            self.copy_past(">")
            return

    def opened(self, has_content: bool) -> None:
        self.depth += has_content
        if self.depth > MAX_DEPTH and self.deep_line is None:
            self.deep_line = self.line(self.pos)

    def attribute_value(self, quote: str) -> None:
        self.out.append(quote)
        self.pos += 1
        while self.src.startswith((" ", "\n", "\r", "\t"), self.pos):
            self.take(quote)
        if self.src.startswith(("@(", "@{"), self.pos):
            self.expression(quote)
        while self.copy_to(_ATTR_STOP):
            if self.src[self.pos] == quote:
                self.out.append(quote)
                self.pos += 1
                break
            self.take(quote)
        self.out.extend(self.pending)
        self.pending.clear()

    def expression(self, quote: str | None) -> None:
        """Copy a policy expression starting at '@' up to its balanced closing bracket."""
        start_line = self.line(self.pos)
        self.out.append("@")
        self.pos += 1
        modes, depths = [_CODE], [0]
        while self.copy_to(_EXPR_STOP):
            ch = self.take(quote)
            nxt, size = self.char_at(self.pos)
            mode = modes[-1]
            if mode == _CODE:
                if ch in "({":
                    depths[-1] += 1
                elif ch in ")}":
                    depths[-1] -= 1
                    if depths[-1] <= 0:
                        if len(modes) == 1:
                            return
                        modes.pop()  # end of an interpolation hole
                        depths.pop()
                elif ch in "\"'":
                    modes.append(_STR if ch == '"' else _CHAR)
                elif ch == "/" and nxt in ("/", "*"):
                    modes.append(_LCOMMENT if self.take(quote) == "/" else _BCOMMENT)
                elif ch in "@$" and nxt == '"':
                    self.take(quote)
                    modes.append(_VSTR if ch == "@" else _ISTR)
                elif ch in "@$" and nxt in ("@", "$") and self.char_at(self.pos + size)[0] == '"':
                    self.take(quote)
                    self.take(quote)
                    modes.append(_VISTR)
            elif mode in (_STR, _CHAR, _ISTR) and ch == "\\":
                self.take(quote)
            elif mode in (_STR, _CHAR, _LCOMMENT) and ch in "\r\n":
                modes.pop()  # these cannot span lines: also stops a runaway literal early
            elif (mode, ch) in ((_STR, '"'), (_ISTR, '"'), (_CHAR, "'")):
                modes.pop()
            elif mode in (_VSTR, _VISTR) and ch == '"':
                if nxt == '"':
                    self.take(quote)  # "" is an escaped quote
                else:
                    modes.pop()
            elif mode in (_ISTR, _VISTR) and ch in "{}":
                if nxt == ch:
                    self.take(quote)  # {{ or }} is a literal brace
                elif ch == "{":
                    modes.append(_CODE)
                    depths.append(1)
            elif mode == _BCOMMENT and ch == "*" and nxt == "/":
                self.take(quote)
                modes.pop()
        if self.open_expr_line is None:
            self.open_expr_line = start_line


def escape_expressions(text: str) -> str:
    """Return text where the bodies of policy expressions are XML-escaped so that lxml can
    parse the document. MUST keep the number and position of newlines identical (same line
    count; each line's content may change length, but line N stays line N), so lxml sourceline
    values stay valid for the original text.

    Expressions (``@(...)``/``@{...}`` opening an attribute value or a text node) get ``<``,
    ``>``, ``&`` and the attribute's own quote character escaped; a bare ``&`` or stray ``<``
    elsewhere is escaped too. Existing entity references, comments, CDATA sections and
    processing instructions are copied unchanged. A line break inside an attribute value is
    written as a character reference and the real line break is moved to just after the closing
    quote, so the value keeps its line breaks and every later line keeps its number.
    """
    return _Scanner(text).run()


def _document_nodes(root: etree._Element) -> list[etree._Element]:
    nodes = [*reversed(list(root.itersiblings(preceding=True))), *root.iter()]
    nodes.extend(root.itersiblings())
    return [n for n in nodes if isinstance(n.tag, str) or isinstance(n, etree._Comment)]


def _qualified_name(el: etree._Element) -> str:
    local = etree.QName(el).localname
    return f"{el.prefix}:{local}" if el.prefix else local


def _fix_lines(root: etree._Element, expected: Sequence[tuple[str | None, int]]) -> None:
    """Set sourceline to the line of each node's opening '<' (libxml2 gives the closing line)."""
    nodes = _document_nodes(root)
    if len(nodes) != len(expected):
        return
    for node, (name, _) in zip(nodes, expected, strict=True):
        if (name is None) != isinstance(node, etree._Comment):
            return
        if name is not None and name != _qualified_name(node):
            return
    for node, (_, line) in zip(nodes, expected, strict=True):
        if line != node.sourceline and line <= 0xFFFF:  # lxml stores a C unsigned short
            node.sourceline = line  # type: ignore[misc]


def _too_deep(root: etree._Element, data: bytes) -> bool:
    # Each level needs an opening and a closing '<': short documents cannot be too deep.
    return data.count(b"<") > 2 * MAX_DEPTH and _max_depth(root) > MAX_DEPTH


def _max_depth(root: etree._Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        el, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in el if isinstance(child.tag, str))
    return deepest


#: Anything that needs the scanner: expressions, entity references, declarations, comments and
#: CDATA, or a tag spanning lines (libxml2 would report it at its last line).
_PLAIN = re.compile(r"[@&]|<!|<[^>]*\n")


def _parse_plain(data: bytes) -> etree._Element | None:
    """Parse a document that needs no escaping; None sends it through the full path.

    NOTE: most operation and product policies hold no expression at all; for them the scanner
    would copy the text unchanged, so it is skipped. Any parse error takes the full path, which
    reports it with the same wording and line.
    """
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None or _too_deep(root, data):
        return None
    return root


def _parser() -> etree.XMLParser:
    """The hardened parser: no DTD, no entities resolved, no network, no recovery."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
        recover=False,
        encoding="utf-8",
    )


def _escaped(text: str) -> tuple[bytes, tuple[tuple[str | None, int], ...]]:
    """The escaped document and its node lines (see :func:`_escape`)."""
    return _escape_cached(text) if len(text) <= _CACHED_TEXT else _escape(text)


#: Only ordinary policies are kept (1,024 of at most 64 KiB: bounded memory in long sessions).
_CACHED_TEXT = 64 * 1024


def _escape(text: str) -> tuple[bytes, tuple[tuple[str | None, int], ...]]:
    """The escaped document and its node lines, or PolicyReadError for what the scanner refuses.

    NOTE: estates repeat the same policy text across many operations (copied or generated); the
    scanner is pure Python and the costliest step of a load, so its result is kept per text.
    """
    scan = _Scanner(text)
    escaped = scan.run().encode("utf-8")
    if scan.dtd_line is not None:
        message = "DTD/entity declarations are not allowed in policy documents"
        raise PolicyReadError(message, scan.dtd_line)
    if scan.deep_line is not None:
        raise PolicyReadError(f"elements nested deeper than {MAX_DEPTH} levels", scan.deep_line)
    if scan.open_expr_line is not None:
        message = "policy expression is not terminated (unbalanced brackets or quotes)"
        raise PolicyReadError(message, scan.open_expr_line)
    return escaped, tuple(scan.nodes)


_escape_cached = functools.lru_cache(maxsize=1024)(_escape)


def parse_policy(text: str) -> etree._Element:
    """escape_expressions + parse with a hardened lxml parser; return the root element.
    Raises PolicyReadError(message, line) on failure (line from lxml's error log)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise PolicyReadError("unpaired surrogate character", line) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise too_big(len(data))
    if _PLAIN.search(text) is None and (root := _parse_plain(data)) is not None:
        return root
    escaped, nodes = _escaped(text)
    parser = _parser()
    try:
        root = etree.fromstring(escaped, parser)
    except etree.XMLSyntaxError as exc:
        if errors := parser.error_log.filter_from_errors():
            raise PolicyReadError(errors[0].message.strip(), errors[0].line or None) from None
        raise PolicyReadError(exc.msg or "not well-formed XML", exc.lineno or None) from None
    except (etree.LxmlError, ValueError) as exc:
        raise PolicyReadError(f"cannot parse policy: {exc}") from None
    if root is None:
        raise PolicyReadError("empty document")
    if _too_deep(root, escaped):
        raise PolicyReadError(f"elements nested deeper than {MAX_DEPTH} levels")
    _fix_lines(root, nodes)
    return root

"""Where a policy value comes from: the caller, the APIM credential, a validated token, or nothing.

Values are policy expressions written as text. They are classified by what they read
(``context.Request.Headers``, ``context.Subscription`` ...). A read of ``context.Variables["x"]``
is traced to the ``set-variable`` statements that set ``x`` earlier in the effective policy; a
variable nothing sets is ``untraced`` (unknown, never trusted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from auditor.effective import Effective, Stmt, memoized, terminates
from auditor.model import Location

T = TypeVar("T")

CALLER = frozenset({"header", "query", "body", "path", "claim-unvalidated"})
CREDENTIAL = frozenset({"subscription", "product", "user", "claim-validated"})

VAR_READ = re.compile(
    r"""Variables\s*(?:\.\s*GetValueOrDefault\s*(?:<[^>()]*>)?\s*\(\s*|\[\s*)"([^"]+)\"""",
)
_ANY_HEADERS = re.compile(r"context\s*\.\s*request\s*\??\s*\.\s*headers")
#: A header of the request (a response's headers, the backend's or a send-request's, are not
#: the caller's choice: ``context.Response.Headers`` is left out).
_HEADER_READ = re.compile(
    r"""(?<!Response\.)(?<!Response\?\.)Headers\s*(?:\?\s*)?(?:\.\s*(?:GetValueOrDefault|TryGetValue|ContainsKey)\s*(?:<[^>()]*>)?\s*\(\s*|\[\s*)"([^"]+)\"""",
    re.IGNORECASE,
)
_FALLBACK = re.compile(
    r"""GetValueOrDefault\s*(?:<[^>()]*>)?\s*\(\s*"[^"]*"\s*,\s*"([^"]*)"\s*\)"""
    r"""|\?\?\s*"([^"]*)\"""",
)
_CLAIM = re.compile(r"""Claims\s*(?:\.\s*GetValueOrDefault\s*\(\s*|\[\s*)"([^"]+)\"""")
_SECRET_HEADERS = {
    "ocp-apim-subscription-key": "the subscription key",
    "api-key": "an api-key header",
    "authorization": "the raw Authorization header",
}
_GUIDISH = re.compile(r"Guid\.NewGuid|RequestId|IpAddress", re.IGNORECASE)


@dataclass
class ValueInfo:
    """What a value expression reads."""

    kinds: set[str] = field(default_factory=set)
    fallbacks: list[str] = field(default_factory=list)
    fallback_contexts: list[str] = field(default_factory=list)
    """The expression text just before each fallback (what it stands in for)."""
    fallback_claims: list[bool] = field(default_factory=list)
    """For each fallback: does it stand in for a claim of the token (``Claims``, or a property
    of a JWT payload decoded by hand)?"""
    secrets: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    untraced: list[str] = field(default_factory=list)
    origins: list[Location] = field(default_factory=list)
    """Where traced variables were set (evidence)."""

    @property
    def caller_controlled(self) -> bool:
        """The value can be chosen by the caller."""
        return bool(self.kinds & CALLER)

    @property
    def credential(self) -> bool:
        """The value comes from the APIM credential or a validated token."""
        return bool(self.kinds & CREDENTIAL)


def validated_token_sources(eff: Effective) -> tuple[set[str], set[str]]:
    """Variables and headers holding tokens that every call reaching the backend has validated
    in the effective inbound (unconditionally, or in every branch of a choose that goes on).

    Returns (output variable names, header names lower-cased).
    """
    return memoized(eff.memo, ("tokens",), lambda: _validated_token_sources(eff))


def _validated_token_sources(eff: Effective) -> tuple[set[str], set[str]]:
    return _validated_by(eff.sections.get("inbound", ()))


def _validated_by(stmts: Sequence[Stmt]) -> tuple[set[str], set[str]]:
    """The token variables and headers every call that gets past ``stmts`` has validated.

    NOTE: a validation inside a ``choose`` branch counts when every other branch ends the
    request (``return-response``) or validates the same token itself: a call that goes on past
    the choose went through one of the validating branches (real gateways validate only the
    routes they serve and reject the rest in ``<otherwise>``). A choose without ``<otherwise>``
    has an empty branch that falls through, so it validates nothing.
    """
    variables: set[str] = set()
    headers: set[str] = set()
    for stmt in stmts:
        if not stmt.reachable:
            continue
        if stmt.tag in ("validate-jwt", "validate-azure-ad-token"):
            if out := stmt.el.get("output-token-variable-name"):
                variables.add(out)
            headers |= _validated_headers(stmt)
        if stmt.children:
            more_vars, more_headers = _validated_by(stmt.children)
            variables |= more_vars
            headers |= more_headers
        if stmt.branches:
            open_arms = [b.stmts for b in stmt.branches if not terminates(b.stmts)]
            if all(b.condition is not None for b in stmt.branches):
                open_arms.append(())
            if open_arms:
                arms = [_validated_by(arm) for arm in open_arms]
                variables |= set.intersection(*(v for v, _ in arms))
                headers |= set.intersection(*(h for _, h in arms))
    return variables, headers


def _validated_headers(stmt: Stmt) -> set[str]:
    """The headers a validate-jwt / validate-azure-ad-token checks: its ``header-name``; the
    headers its ``token-value`` expression reads; none for ``query-parameter-name``; the
    Authorization header when it names no source."""
    el = stmt.el
    if name := el.get("header-name"):
        return {name.lower()}
    if (value := el.get("token-value")) is not None:
        return {h.lower() for h in _HEADER_READ.findall(value)}
    if el.get("query-parameter-name") is not None:
        return set()
    return {"authorization"}


def setters(eff: Effective, name: str) -> list[Stmt]:
    """Reachable ``set-variable`` statements that set variable ``name``."""
    return list(memoized(eff.memo, ("setters",), lambda: _setter_index(eff)).get(name, []))


def _setter_index(eff: Effective) -> dict[str, list[Stmt]]:
    index: dict[str, list[Stmt]] = {}
    for s in eff.walk():
        if s.tag == "set-variable":
            index.setdefault(s.el.get("name") or "", []).append(s)
    return index


def _trace_context(eff: Effective, reads: str) -> tuple[object, ...]:
    """What tracing ``reads`` depends on in a route: the validated tokens, and the set-variable
    statements of every variable it reads, directly or through other variables."""
    return memoized(eff.memo, ("trace-context", reads), lambda: _new_trace_context(eff, reads))


def _new_trace_context(eff: Effective, reads: str) -> tuple[object, ...]:
    tokens = memoized(eff.memo, ("token-context",), lambda: _token_context(eff))
    names = VAR_READ.findall(reads)
    if not names:
        return tokens
    deps: set[tuple[str, tuple[int, ...]]] = set()
    for name in dict.fromkeys(names):
        deps.update(_variable_deps(eff, name))
    return (*tokens, tuple(sorted(deps)))


def _token_context(eff: Effective) -> tuple[tuple[str, ...], tuple[str, ...]]:
    token_vars, token_headers = validated_token_sources(eff)
    return (tuple(sorted(token_vars)), tuple(sorted(token_headers)))


def _variable_deps(eff: Effective, name: str) -> frozenset[tuple[str, tuple[int, ...]]]:
    """(variable, ids of its setters) for ``name`` and every variable its setters read."""
    return memoized(eff.memo, ("variable-deps", name), lambda: _new_variable_deps(eff, name))


def _new_variable_deps(eff: Effective, name: str) -> frozenset[tuple[str, tuple[int, ...]]]:
    found: dict[str, tuple[int, ...]] = {}
    pending = [name]
    while pending:
        var = pending.pop()
        if var in found:
            continue
        stmts = setters(eff, var)
        found[var] = tuple(id(s.el) for s in stmts)
        for stmt in stmts:
            pending.extend(VAR_READ.findall(stmt.doc.text_of(stmt.el)))
    return frozenset(found.items())


def traced(eff: Effective, key: tuple[object, ...], compute: Callable[[], T], reads: str) -> T:
    """``compute()``, kept for this route and shared with the API's other routes and operations
    that validate the same tokens and set the variables ``reads`` (the text traced) reads in the
    same statements: nothing else can change a traced result."""
    if key in eff.memo:
        return eff.memo[key]  # type: ignore[return-value]
    shared_key = (key, _trace_context(eff, reads))
    if eff.shared is not None and shared_key in eff.shared:
        result: T = eff.shared[shared_key]  # type: ignore[assignment]
    else:
        result = compute()
        if eff.shared is not None:
            eff.shared[shared_key] = result
    eff.memo[key] = result
    return result


def classify(
    expr: str, eff: Effective, *, depth: int = 0, info: ValueInfo | None = None
) -> ValueInfo:
    """Classify what an expression (attribute value or element text) reads."""
    if info is None and depth == 0:
        # NOTE: the routes and operations of an API mostly trace the same expressions through
        # the same set-variable statements: the result is shared (callers only read it).
        compute = lambda: classify(expr, eff, info=ValueInfo())  # noqa: E731
        return traced(eff, ("classify", expr), compute, expr or "")
    info = info if info is not None else ValueInfo()
    text = expr or ""
    token_vars, token_headers = validated_token_sources(eff)
    low = text.lower()
    if "{{" in text and "}}" in text:
        info.kinds.add("named-value")
    if not text.strip().startswith("@"):
        if text.strip():
            info.kinds.add("constant")
        return info
    literal = _literal_result(text)
    decoded: list[tuple[int, int]] = []
    decodes = bool(_BASE64_DECODE.search(text))
    for m in _HEADER_READ.finditer(text):
        h = m.group(1).lower()
        info.headers.append(h)
        claim = ".asjwt" in low or (decodes and _decoded_claim(text, m, decoded))
        if h in _SECRET_HEADERS and not claim and not literal:
            info.secrets.append(_SECRET_HEADERS[h])
        if claim and h in token_headers:
            info.kinds.add("claim-validated")
        elif claim:
            info.kinds.add("claim-unvalidated")
        else:
            info.kinds.add("header")
    if _ANY_HEADERS.search(low) and not info.headers:
        info.kinds.add("header")
    if "request.url.query" in low:
        info.kinds.add("query")
    if "request.body" in low:
        info.kinds.add("body")
    if "matchedparameters" in low or "request.url.path" in low:
        info.kinds.add("path")
    for kind in ("subscription", "product", "user"):
        if f"context.{kind}" in low:
            info.kinds.add(kind)
    if not literal and (
        "subscription.key" in low or "subscription?.key" in low or "primarykey" in low
    ):
        info.secrets.append("the subscription key")
    if "requestid" in low or "guid.newguid" in low:
        info.kinds.add("request-id")
    if "ipaddress" in low:
        info.kinds.add("client-ip")
    if "context.api" in low or "context.operation" in low:
        info.kinds.add("api")
    if "context.deployment" in low:
        info.kinds.add("gateway")
    if _CLAIM.search(text) and not info.kinds & {"claim-validated", "claim-unvalidated"}:
        info.claims.extend(_CLAIM.findall(text))
    for m in _FALLBACK.finditer(text):
        info.fallbacks.append(m.group(1) if m.group(1) is not None else m.group(2))
        before = text[max(0, m.start() - 80) : m.end()]
        info.fallback_contexts.append(before)
        info.fallback_claims.append(
            "Claims" in before
            or (any(a <= m.start() < b for a, b in decoded) and bool(_PROPERTY_READ.search(before)))
        )
    for var in dict.fromkeys(VAR_READ.findall(text)):
        if var in token_vars:
            info.kinds.add("claim-validated")
            continue
        if not setters(eff, var) or depth >= 4:
            info.untraced.append(var)
            continue
        _merge(info, _variable_info(eff, var, depth))
    return info


_RETURN = re.compile(r"\breturn\b")
_LITERAL_RETURN = re.compile(
    r"""\breturn\s*(?:"(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?)\s*;"""
)


def _literal_result(text: str) -> bool:
    """True when a ``@{ ... }`` block can only give a literal: every ``return`` returns one.
    NOTE: such a block may test a secret header (is there a Bearer token?) without recording
    it; anything else that reads the header is taken to record it."""
    if not text.lstrip().startswith("@{"):
        return False
    returns = len(_RETURN.findall(text))
    return returns > 0 and returns == len(_LITERAL_RETURN.findall(text))


#: A JWT split into its parts, the payload (part 1) base64-decoded, parsed as JSON, and a
#: property read from it: a claim of the token decoded by hand.
_SPLIT_DOT = re.compile(r"""\.\s*Split\s*\([^()]*?['"]\.['"]""")
_PART_ONE = re.compile(r"\[\s*1\s*\]")
_BASE64_DECODE = re.compile(
    r"FromBase64String|Base64Url(?:Encoder)?\s*\.\s*Decode\w*|Base64UrlDecode", re.IGNORECASE
)
_JSON_PARSE = re.compile(
    r"\b(?:JObject|JToken|JContainer|JsonDocument|JsonNode)\s*\.\s*(?:Parse|Load)\b"
    r"|JsonConvert\s*\.\s*DeserializeObject|\.\s*As\s*<\s*JObject\s*>"
)
_PROPERTY_READ = re.compile(
    r"""(?:\.\s*(?:GetValue|Value\s*<[^<>()]*>|SelectToken|GetProperty|TryGetValue)\s*\(\s*"[^"]+")"""
    r"""|(?<!Variables)(?<!Headers)(?<!Claims)\[\s*"[^"]+"\s*\]"""
)
_ASSIGNMENT = re.compile(r"\b([A-Za-z_]\w*)\s*\+?=(?![=>])([^;]*);")
_RETURN_VALUE = re.compile(r"\breturn\b([^;]*);")


def _decoded_claim(text: str, read: re.Match[str], decoded: list[tuple[int, int]]) -> bool:
    """True when the header ``read`` only feeds a claim decoded by hand from the JWT payload:
    the innermost policy expression holding it splits the token on '.', base64-decodes part
    [1], parses it as JSON and reads a property, and gives neither the header nor any part of
    it without decoding (a ``@(...)`` that keeps it outside the decode, a ``return`` of a
    variable that holds it). The span of such an expression is added to ``decoded``.

    NOTE: the check is textual, like the rest of the tracing: a decoded payload is a claim, the
    token or its parts are the secret.
    """
    span = _innermost_expression(text, read.start())
    if span is None:
        return False
    start, end = span
    code = text[start:end]
    if not (
        _SPLIT_DOT.search(code)
        and _PART_ONE.search(code)
        and _BASE64_DECODE.search(code)
        and _JSON_PARSE.search(code)
        and _PROPERTY_READ.search(code)
    ):
        return False
    header = read.group(1).lower()
    plain = _without_decoded_arguments(code)

    def raw(fragment: str, names: set[str]) -> bool:
        reads = any(h.lower() == header for h in _HEADER_READ.findall(fragment))
        return reads or any(re.search(rf"\b{re.escape(n)}\b", fragment) for n in names)

    if code.startswith("@("):
        if raw(plain, set()):
            return False
    else:
        if _ESCAPES.search(plain):
            return False  # the token could leave through a way the assignments do not show
        # NOTE: the decode must be fed by this header (a block may test the validated header
        # and decode another one), and no return may give the header or a part of it.
        fed = _tainted(code, raw)
        steps = [v for _, v in _ASSIGNMENT.findall(code)] + _RETURN_VALUE.findall(code)
        if not any(_BASE64_DECODE.search(v) and raw(v, fed) for v in steps):
            return False
        tainted = _tainted(plain, raw)
        returns = _RETURN_VALUE.findall(plain)
        if not returns or any(raw(value, tainted) for value in returns):
            return False
    decoded.append(span)
    return True


#: Ways a value leaves a block that the assignment tracing does not follow: ``out`` arguments,
#: indexer and member assignments, and methods that put a value into a collection or builder.
_ESCAPES = re.compile(
    r"\bout\s+[\w\[\]<>,\s]*?\w+\s*[,)]|\]\s*\+?=(?![=>])|\.\s*[A-Za-z_]\w*\s*\+?=(?![=>])"
    r"|\.\s*(?:Add|Append\w*|Insert|Push|Enqueue|Set\w*|Put|Write\w*)\s*\("
)


def _tainted(code: str, raw: Callable[[str, set[str]], bool]) -> set[str]:
    """The names assigned, directly or through each other, from what ``raw`` recognises."""
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, value in _ASSIGNMENT.findall(code):
            if name not in tainted and raw(value, tainted):
                tainted.add(name)
                changed = True
    return tainted


def _innermost_expression(text: str, pos: int) -> tuple[int, int] | None:
    """The span of the innermost ``@(...)`` or ``@{...}`` that holds ``pos``."""
    best: tuple[int, int] | None = None
    for m in re.finditer(r"@[({]", text):
        if m.start() > pos:
            break
        end = _balanced_end(text, m.start() + 1)
        if end is not None and pos < end:
            best = (m.start(), end)
    return best


_OPEN = {"(": ")", "{": "}", "[": "]"}


def _balanced_end(text: str, at: int) -> int | None:
    """The index just past the bracket that closes the one at ``at`` (string and character
    literals and comments skipped), or None when it is never closed."""
    stack: list[str] = []
    i = at
    while i < len(text):
        c = text[i]
        if text.startswith("//", i) or text.startswith("/*", i):
            close = "\n" if text[i + 1] == "/" else "*/"
            found = text.find(close, i + 2)
            i = len(text) if found < 0 else found + len(close)
            continue
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in _OPEN:
            stack.append(_OPEN[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    return None


def _without_decoded_arguments(code: str) -> str:
    """``code`` with the arguments of base64-decoding calls left out: what is decoded is not
    given as it is."""
    out = []
    last = 0
    for m in _BASE64_DECODE.finditer(code):
        if m.start() < last:
            continue
        paren = code.find("(", m.end())
        if paren < 0 or code[m.end() : paren].strip():
            continue
        end = _balanced_end(code, paren)
        if end is None:
            continue
        out.append(code[last : paren + 1])
        last = end - 1
    out.append(code[last:])
    return "".join(out)


def _variable_info(eff: Effective, var: str, depth: int) -> ValueInfo:
    """What the ``set-variable`` statements of ``var`` read, once per route and depth.

    NOTE: policies that set variables from other variables (several setters each) made the
    trace exponential: a real gateway policy took 40,000 classifications per dimension.
    """
    key = ("variable-info", var, depth)
    found = eff.memo.get(key)
    if not isinstance(found, ValueInfo):
        found = ValueInfo()
        for stmt in setters(eff, var):
            found.origins.append(stmt.location)
            text = stmt.el.get("value") or stmt.doc.text_of(stmt.el)
            classify(text, eff, depth=depth + 1, info=found)
        eff.memo[key] = found
    return found


def _merge(into: ValueInfo, other: ValueInfo) -> None:
    into.kinds |= other.kinds
    for name in ("fallbacks", "fallback_contexts", "fallback_claims", "secrets", "headers",
                 "claims", "untraced", "origins"):  # fmt: skip
        getattr(into, name).extend(getattr(other, name))


def high_cardinality(expr: str) -> bool:
    """True for values that are unique per request or caller (request ids, GUIDs, client IPs)."""
    return bool(_GUIDISH.search(expr or ""))

"""Terraform's built-in functions, as Terraform defines them, on values with unknowns.

Functions that read files or depend on where the configuration is (``file``, ``templatefile``,
``fileset``, ``abspath``, ``try``, ``can``) are the evaluator's own (:mod:`.evaluate`). What
cannot be computed offline (``timestamp()``, ``uuid()``, ``bcrypt()``) is unknown; a function
given an unknown value gives an unknown one, except where the answer does not depend on it
(``length([a, b])``, ``keys({a = x})``, ``format("%s-x", y)`` keeps its known text).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import yaml

from auditor.sources.iac.expr import ARM_FUNCTIONS, Refused
from auditor.sources.iac.values import (
    MAX_TEXT,
    Sourced,
    Unknown,
    first_unknown,
    joined,
    plain,
    text_of,
)


def known(*values: Any) -> None:
    """Refuse when anything in ``values`` is unknown (at any depth)."""
    for value in values:
        bad = first_unknown(value)
        if bad is not None:
            raise Refused(bad.why)


def _whole(*values: Any) -> None:
    """Refuse when one of ``values`` is unknown as a whole (what is inside is looked at by
    the function itself)."""
    for value in values:
        if isinstance(value, Unknown):
            raise Refused(value.why)


def _strict(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` refused when anything in its arguments is unknown."""

    def wrapper(*args: Any) -> Any:
        known(*args)
        return fn(*args)

    return wrapper


def tostring(value: Any) -> Any:
    """``tostring``: strings, numbers and booleans (``true``); collections are an error."""
    if isinstance(value, Unknown) or value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    raise TypeError("only strings, numbers and booleans convert to a string")


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _tonumber(value: Any) -> Any:
    if value is None or isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    raise TypeError("not a number")


def _tobool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise TypeError("not a boolean")


def _string_of(value: Any) -> Any:
    """A value inside a string (``format``, ``join``): known scalars as Terraform writes them."""
    if isinstance(value, Unknown | str):
        return value
    if isinstance(value, bool | int | float):
        return tostring(value)
    if value is None:
        raise TypeError("null inside a string")
    raise TypeError("a list or object inside a string")


_VERB = re.compile(r"%(%|[-+ #0]*\d*(?:\.\d+)?([vdsqtfeEgGxXob]))")


def tf_format(spec: Any, *args: Any) -> Any:
    """``format``: ``%s %d %v %q %t %f %x %%`` (Go verbs, flags and widths kept simple)."""
    _whole(spec)
    parts: list[Any] = []
    pos = 0
    i = 0
    for m in _VERB.finditer(spec):
        parts.append(spec[pos : m.start()])
        pos = m.end()
        if m.group(1) == "%":
            parts.append("%")
            continue
        if i >= len(args):
            raise ValueError("not enough arguments for the format")
        value, verb = args[i], m.group(2)
        i += 1
        if isinstance(value, Unknown):
            parts.append(value)
        elif verb == "q":
            parts.append(json.dumps(tostring(value)))
        elif verb in "dfeEgGxXob" and isinstance(value, int | float):
            parts.append(("%" + m.group(1)) % value if verb not in "bq" else format(value, "b"))
        elif verb == "v" and isinstance(value, list | dict):
            known(value)
            parts.append(jsonencode(value))
        else:
            parts.append(_string_of(value))
    parts.append(spec[pos:])
    return joined(parts)


def _formatlist(spec: Any, *args: Any) -> Any:
    lengths = {len(a) for a in args if isinstance(a, list)}
    if len(lengths) > 1:
        raise ValueError("lists of different lengths")
    count = lengths.pop() if lengths else 1
    return [
        tf_format(spec, *[a[i] if isinstance(a, list) else a for a in args]) for i in range(count)
    ]


def _join(sep: Any, *lists: Any) -> Any:
    for items in (sep, *lists):
        _whole(items)
    out: list[Any] = []
    for item in (x for items in lists for x in items):
        if out:
            out.append(sep)
        out.append(_string_of(item))
    return joined(out)


def _split(sep: Any, text: Any) -> Any:
    known(sep, text)
    return [] if text == "" else str(text).split(str(sep))


def _go_replacement(repl: str) -> str:
    """A Go regexp replacement (``$1``, ``${name}``) as Python's (``\\g<1>``)."""
    out = re.sub(r"\\", r"\\\\", repl)
    out = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", out)
    return re.sub(r"\$(\d+|[A-Za-z_]\w*)", r"\\g<\1>", out).replace("$$", "$")


def _replace(text: Any, old: Any, new: Any) -> Any:
    """``replace``: a ``/regex/`` or plain text; a text read from a file keeps its place."""
    if isinstance(text, str) and isinstance(old, str) and old and isinstance(new, str):
        grows = text.count(old) * max(0, len(new) - len(old))
        if len(text) + grows > MAX_TEXT:
            raise Refused(f"a text over {MAX_TEXT // 1024 // 1024} MiB is not computed")
    if isinstance(old, str) and len(old) > 1 and old.startswith("/") and old.endswith("/"):
        known(text, new)
        out = re.sub(old[1:-1], _go_replacement(str(new)), str(text))
        return Sourced(out, *text.origin) if isinstance(text, Sourced) else out
    return ARM_FUNCTIONS["replace"](text, old, new)


def _substr(text: Any, offset: int, length: int) -> Any:
    known(text)
    s = str(text)
    if offset < 0:
        offset = max(len(s) + offset, 0)
    return s[offset:] if length < 0 else s[offset : offset + length]


def _trim(text: str, chars: str) -> str:
    return text.strip(chars)


def _regex_result(m: re.Match[str]) -> Any:
    if m.re.groupindex:
        return {name: m.group(name) for name in m.re.groupindex}
    if m.re.groups:
        return list(m.groups())
    return m.group(0)


def _regex(pattern: str, text: str) -> Any:
    m = re.search(pattern, text)
    if m is None:
        raise ValueError("the pattern does not match")
    return _regex_result(m)


def _regexall(pattern: str, text: str) -> Any:
    return [_regex_result(m) for m in re.finditer(pattern, text)]


def _length(value: Any) -> Any:
    _whole(value)
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | dict):
        return len(value)
    raise TypeError("length() of what is not a string or collection")


def _keys(value: Any) -> Any:
    _whole(value)
    return sorted(value)


def _values(value: Any) -> Any:
    _whole(value)
    return [value[k] for k in sorted(value)]


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    _whole(mapping, key)
    if not isinstance(mapping, dict):
        raise TypeError("lookup() of what is not a map")
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise LookupError(f"no key '{key}' and no default")


def _merge(*maps: Any) -> Any:
    out: dict[str, Any] = {}
    for m in maps:
        _whole(m)
        if m is None:
            continue
        if not isinstance(m, dict):
            raise TypeError("merge() of what is not a map")
        out.update(m)
    return out


def _concat(*lists: Any) -> Any:
    out: list[Any] = []
    for items in lists:
        _whole(items)
        out += list(items)
    return out


def _element(items: Any, index: Any) -> Any:
    _whole(items, index)
    if not items:
        raise ValueError("element() of an empty list")
    return items[int(index) % len(items)]


def _index(items: list[Any], value: Any) -> int:
    for i, x in enumerate(items):
        if x == value and type(x) is type(value):
            return i
    raise ValueError("the value is not in the list")


def _contains(items: Any, value: Any) -> Any:
    _whole(items)
    if not isinstance(items, list):
        raise TypeError("contains() of what is not a list or set")
    return ARM_FUNCTIONS["contains"](items, value)


def _flatten(items: Any) -> Any:
    _whole(items)
    out: list[Any] = []
    for x in items:
        _whole(x)
        out += _flatten(x) if isinstance(x, list) else [x]
    return out


def _distinct(items: Any) -> Any:
    known(items)
    out: list[Any] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def toset(items: Any) -> Any:
    """``toset``: unique elements; strings sorted as Terraform orders a set of strings."""
    _whole(items)
    if not isinstance(items, list):
        raise TypeError("toset() of what is not a list")
    known(items)
    unique = _distinct(items)
    if all(isinstance(x, str) for x in unique):
        return sorted(unique)
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in unique):
        return sorted(unique)
    return unique


def _tolist(items: Any) -> Any:
    _whole(items)
    if not isinstance(items, list):
        raise TypeError("tolist() of what is not a list or set")
    return list(items)


def _tomap(value: Any) -> Any:
    _whole(value)
    if not isinstance(value, dict):
        raise TypeError("tomap() of what is not an object")
    return dict(value)


def _compact(items: Any) -> Any:
    _whole(items)
    _whole(*items)
    return [x for x in items if x not in (None, "")]


def _zipmap(keys: Any, values: Any) -> Any:
    _whole(keys, values)
    known(keys)
    if len(keys) != len(values):
        raise ValueError("keys and values of different lengths")
    return {str(k): v for k, v in zip(keys, values, strict=True)}


def _range(*args: Any) -> list[Any]:
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        start, stop, step = args[0], args[1], 1 if args[1] >= args[0] else -1
    else:
        start, stop, step = args
    count = max(0, math.ceil((stop - start) / step)) if step else 0
    if count > 1024:
        raise ValueError("more than 1024 numbers")
    return [start + i * step for i in range(count)]


def _one(items: Any) -> Any:
    _whole(items)
    if len(items) > 1:
        raise ValueError("more than one element")
    return items[0] if items else None


def _slice(items: Any, start: Any, end: Any) -> Any:
    _whole(items)
    known(start, end)
    return list(items)[int(start) : int(end)]


def _reverse(items: Any) -> Any:
    _whole(items)
    return list(reversed(items))


def _sort(items: Any) -> Any:
    known(items)
    return sorted(str(tostring(x)) for x in items)


def _setproduct(*sets: Any) -> Any:
    known(*sets)
    out: list[list[Any]] = [[]]
    for s in sets:
        out = [prev + [x] for prev in out for x in s]
    return out


def _setunion(*sets: Any) -> Any:
    return toset([x for s in sets for x in s])


def _setintersection(first: list[Any], *rest: Any) -> Any:
    return toset([x for x in first if all(x in s for s in rest)])


def _setsubtract(a: list[Any], b: list[Any]) -> Any:
    return toset([x for x in a if x not in b])


def _chunklist(items: list[Any], size: int) -> Any:
    return [items[i : i + size] for i in range(0, len(items), size)] if size else [items]


def _coalescelist(*lists: Any) -> Any:
    for items in lists:
        _whole(items)
        if items:
            return items
    raise ValueError("every list is empty")


def _matchkeys(values: list[Any], keys: list[Any], search: list[Any]) -> Any:
    return [v for v, k in zip(values, keys, strict=True) if k in search]


def _transpose(mapping: dict[str, list[str]]) -> Any:
    out: dict[str, list[str]] = {}
    for key, items in mapping.items():
        for item in items:
            out.setdefault(item, []).append(key)
    return {k: sorted(v) for k, v in sorted(out.items())}


def _numbers(args: tuple[Any, ...]) -> list[Any]:
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)


def _go_json(text: str) -> str:
    """Go's JSON escapes of ``<``, ``>``, ``&``, U+2028 and U+2029 (Terraform's jsonencode)."""
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def jsonencode(value: Any) -> Any:
    """``jsonencode``: compact, keys sorted; unknown parts keep their place as ``${...}``."""
    bad = first_unknown(value)
    text = _go_json(
        json.dumps(plain(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    )
    if bad is None:
        return text
    return Unknown(text, bad.why, bad.where, True)


def _jsondecode(text: Any) -> Any:
    known(text)
    return json.loads(str(text))


def _yamlencode(value: Any) -> Any:
    bad = first_unknown(value)
    text = yaml.safe_dump(
        plain(value), sort_keys=True, allow_unicode=True, default_flow_style=False
    )
    return text if bad is None else Unknown(text, bad.why, bad.where, True)


def _yamldecode(text: Any) -> Any:
    known(text)
    return yaml.safe_load(str(text))


def _base64decode(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


def _hash(algorithm: str) -> Callable[[Any], str]:
    def fn(text: Any) -> str:
        return hashlib.new(algorithm, text_of(text).encode()).hexdigest()

    return fn


def _cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    import ipaddress

    net = ipaddress.ip_network(prefix, strict=False)
    return str(list(net.subnets(prefixlen_diff=newbits))[netnum])


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else path


def _dirname(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0] if "/" in path.rstrip("/") else "."
    return head or "/"


def _refuse(why: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        raise Refused(why)

    return fn


def _startswith(text: str, prefix: str) -> bool:
    return text.startswith(prefix)


def _endswith(text: str, suffix: str) -> bool:
    return text.endswith(suffix)


def _alltrue(items: Any) -> Any:
    known(items)
    return all(x is True or x == "true" for x in items)


def _anytrue(items: Any) -> Any:
    known(items)
    return any(x is True or x == "true" for x in items)


def _sum(items: Any) -> Any:
    known(items)
    if not items:
        raise ValueError("sum() of an empty list")
    return sum(items)


def _indent(spaces: int, text: str) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _title(text: str) -> str:
    return re.sub(r"\b[a-z]", lambda m: m.group(0).upper(), text)


def _chomp(text: str) -> str:
    return re.sub(r"(\r\n|\n|\r)+$", "", text)


def _parseint(text: str, base: int) -> int:
    return int(text, base)


#: Terraform's functions by name, each on evaluated arguments (see the module note).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    # strings
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "title": _title,
    "chomp": _chomp,
    "trimspace": lambda s: s.strip(),
    "trim": _trim,
    "trimprefix": lambda s, p: s.removeprefix(p),
    "trimsuffix": lambda s, p: s.removesuffix(p),
    "strrev": lambda s: s[::-1],
    "substr": _substr,
    "format": tf_format,
    "formatlist": _formatlist,
    "join": _join,
    "split": _split,
    "replace": _replace,
    "indent": _indent,
    "startswith": _startswith,
    "endswith": _endswith,
    "strcontains": lambda s, sub: sub in s,
    "regex": _regex,
    "regexall": _regexall,
    # collections
    "length": _length,
    "keys": _keys,
    "values": _values,
    "lookup": _lookup,
    "merge": _merge,
    "concat": _concat,
    "element": _element,
    "index": _index,
    "contains": _contains,
    "flatten": _flatten,
    "distinct": _distinct,
    "compact": _compact,
    "zipmap": _zipmap,
    "range": _range,
    "one": _one,
    "slice": _slice,
    "reverse": _reverse,
    "sort": _sort,
    "setproduct": _setproduct,
    "setunion": _strict(_setunion),
    "setintersection": _strict(_setintersection),
    "setsubtract": _strict(_setsubtract),
    "chunklist": _strict(_chunklist),
    "coalescelist": _coalescelist,
    "matchkeys": _strict(_matchkeys),
    "transpose": _strict(_transpose),
    "sum": _sum,
    "min": lambda *a: min(_numbers(a)),
    "max": lambda *a: max(_numbers(a)),
    "alltrue": _alltrue,
    "anytrue": _anytrue,
    # numbers
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "pow": lambda a, b: a**b,
    "signum": lambda n: (n > 0) - (n < 0),
    "log": lambda n, base: math.log(n, base),
    "parseint": _parseint,
    # types
    "tostring": tostring,
    "tonumber": _tonumber,
    "tobool": _tobool,
    "tolist": _tolist,
    "toset": toset,
    "tomap": _tomap,
    "nonsensitive": lambda x: x,
    "sensitive": _refuse("a sensitive value: never read"),
    "type": _refuse("the type of a value is not evaluated offline"),
    # encodings and hashes
    "jsonencode": jsonencode,
    "jsondecode": _jsondecode,
    "yamlencode": _yamlencode,
    "yamldecode": _yamldecode,
    "base64encode": lambda s: base64.b64encode(text_of(s).encode()).decode(),
    "base64decode": _base64decode,
    "urlencode": lambda s: urllib.parse.quote(s, safe=""),
    "md5": _hash("md5"),
    "sha1": _hash("sha1"),
    "sha256": _hash("sha256"),
    "sha512": _hash("sha512"),
    "basename": _basename,
    "dirname": _dirname,
    "cidrsubnet": _cidrsubnet,
    # values only known at apply time
    "uuid": _refuse("a new value at every apply"),
    "uuidv5": _refuse("a hash computed at apply"),
    "timestamp": _refuse("the time of the apply"),
    "plantimestamp": _refuse("the time of the plan"),
    "timeadd": _refuse("a time computed at apply"),
    "formatdate": _refuse("a time computed at apply"),
    "bcrypt": _refuse("a secret hash: never computed"),
    "rsadecrypt": _refuse("a secret: never read"),
    "filebase64sha256": _refuse("a hash of a file is not computed"),
    "filemd5": _refuse("a hash of a file is not computed"),
    "filesha256": _refuse("a hash of a file is not computed"),
}

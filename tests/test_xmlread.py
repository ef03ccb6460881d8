"""Tests for auditor.xmlread: the rawxml-tolerant, hardened policy reader."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from auditor.bounded import MAX_DOCUMENT_BYTES, PolicyReadError, decode_policy_bytes
from auditor.xmlread import (
    MAX_DEPTH,
    escape_expressions,
    parse_policy,
)
from tests.support import HANG_SECONDS

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
POLICIES = CORPUS / "policies"
APIOPS = CORPUS / "iac" / "Azure__apiops__SampleArtifacts"
MISMATCHED = (
    "Azure-Samples__ai-hub-gateway-solution-accelerator__infra__modules__apim__policies__"
    "frag-llm-usage.xml"
)
NO_CORPUS = pytest.mark.skip(reason=f"policy corpus not found at {CORPUS}")


def corpus_files() -> list[Path]:
    if not POLICIES.is_dir():
        return []
    files = sorted(p for p in POLICIES.iterdir() if p.is_file())
    return files + sorted(APIOPS.rglob("policy.xml"))


def file_id(path: Path) -> str:
    return path.name if path.parent == POLICIES else f"apiops/{path.relative_to(APIOPS)}"


def corpus_params(*, parsable_only: bool = True) -> list[object]:
    files = [p for p in corpus_files() if not (parsable_only and p.name == MISMATCHED)]
    if not files:
        return [pytest.param(None, marks=NO_CORPUS, id="no-corpus")]
    return [pytest.param(p, id=file_id(p)) for p in files]


def read(path: Path) -> str:
    return decode_policy_bytes(path.read_bytes())


def parse_file(name: str) -> etree._Element:
    path = POLICIES / name
    if not path.is_file():
        pytest.skip(f"corpus file {name} not found under {POLICIES}")
    return parse_policy(read(path))


def elements(root: etree._Element) -> Iterator[etree._Element]:
    return (el for el in root.iter() if isinstance(el.tag, str))


def find(root: etree._Element, tag: str, **attrs: str) -> etree._Element:
    hits = [el for el in root.iter(tag) if all(el.get(k) == v for k, v in attrs.items())]
    assert len(hits) == 1, f"expected one <{tag} {attrs}>, found {len(hits)}"
    return hits[0]


# --- 1. the corpus parses -----------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus_params())
def test_corpus_file_parses(path: Path) -> None:
    root = parse_policy(read(path))
    assert root.tag in ("policies", "fragment")


def test_mismatched_tags_are_reported_with_line() -> None:
    path = POLICIES / MISMATCHED
    if not path.is_file():
        pytest.skip(f"{MISMATCHED} not found under {POLICIES}")
    with pytest.raises(PolicyReadError) as info:
        parse_policy(read(path))
    assert info.value.line == 62
    assert "mismatch" in info.value.message
    assert "azure-openai-emit-token-metric" in info.value.message
    assert str(info.value).startswith("line 62: ")


# --- 2. values come back exactly as written -------------------------------------------------------


def test_dimension_with_inner_double_quotes() -> None:
    root = parse_file("Azure-Samples__AI-Gateway__labs__token-metrics-emitting__policy.xml")
    dim = find(root, "dimension", name="User ID")
    assert dim.get("value") == '@(context.Request.Headers.GetValueOrDefault("x-user-id", "N/A"))'
    assert dim.sourceline == 9
    assert find(root, "set-backend-service").get("backend-id") == "{backend-id}"


def test_entity_escaped_document_gives_decoded_values() -> None:
    root = parse_file("Azure-Samples__AI-Gateway__labs__ghcp-byok-foundry__apikey-policy.xml")
    model = find(root, "set-variable", name="model")
    assert model.sourceline == 22
    assert model.get("value") == (
        "@{ var b = context.Request.Body?.As<JObject>(true); return (b != null && "
        'b["model"] != null) ? b["model"].ToString() : "unknown"; }'
    )
    limit = find(root, "llm-token-limit")
    assert limit.get("counter-key") == '@("tpm-" + (string)context.Variables["oid"])'
    assert limit.sourceline == 29  # start tag spans lines 29-30
    assert find(root, "dimension", name="oid").get("value") == (
        '@((string)context.Variables["oid"])'
    )


def test_conditions_with_raw_ampersands_and_generics() -> None:
    root = parse_file(
        "Azure-Samples__ai-hub-gateway-solution-accelerator__infra__modules__apim__policies__"
        "frag-backend-routing.xml"
    )
    conditions = {el.sourceline: el.get("condition") for el in root.iter("when")}
    assert conditions[126] == (
        '@(context.Variables.GetValueOrDefault<string>("isStream", "false") == "true")'
    )
    assert conditions[135] == (
        "@(context.Response != null && (context.Response.StatusCode == 429 || "
        "context.Response.StatusCode >= 500) )"
    )
    error_code = find(root, "set-variable", name="errorCode")
    assert error_code.get("value") == (
        "@(((string)context.Variables[\"lastAllowedBackendError\"]).Split('|')[0])"
    )


def test_multiline_block_in_text_and_attribute() -> None:
    root = parse_file("seiggy__apim-chargeback__policies__entra-jwt-policy.xml")
    body = next(el for el in root.iter("set-body") if el.sourceline == 103)
    assert body.text is not None
    assert body.text.startswith("@{\n            var rawBody = context.Variables.GetValueOrDefault")
    assert 'JObject.Parse(@"{""include_usage"":true}");' in body.text
    assert body.text.endswith("return requestBody.ToString();\n        }")
    parsed = find(root, "set-variable", name="parsedResponse")
    value = parsed.get("value")
    assert value is not None
    assert parsed.sourceline == 124
    assert "txt.Split(new[] {'\\n', '\\r'}, StringSplitOptions.RemoveEmptyEntries);" in value
    assert "int index = chunkLine.IndexOf('{');" in value
    assert '.Where(l => l.Trim().StartsWith("data:") && l.Contains("{")' in value
    assert value.count("\n") == 141 - 124  # line breaks inside the attribute are kept
    tail = value.rsplit("\n", 1)[1]
    assert tail == "        }"
    final_body = next(el for el in root.iter("set-body") if el.sourceline == 158)
    assert final_body.text is not None
    assert '$"{{\\"tenantId\\": \\"{tenantId}\\", ' in final_body.text


def test_single_quoted_attributes_and_cdata() -> None:
    root = parse_file(
        "Azure-Samples__Apim-Samples__shared__apim-policies__fragments__"
        "pf-ensure-stream-include-usage.xml"
    )
    action = find(root, "set-variable", name="streamIncludeUsageAction")
    value = action.get("value")
    assert value is not None and action.sourceline == 29
    assert value.startswith("@{\n        try {\n            // Responses API uses different")
    assert 'if (context.Operation != null && context.Operation.Name == "responses-create") {' in (
        value
    )
    assert "var body = context.Request.Body.As<Newtonsoft.Json.Linq.JObject>(" in value
    assert value.endswith('return "parse-failed";\n        }\n    }')
    whens = [el.get("condition") for el in root.iter("when")]
    assert whens[1] == (
        '@(((string)context.Variables.GetValueOrDefault<string>("streamIncludeUsageAction", '
        'string.Empty)) != "not-applicable" && context.Request.Body != null)'
    )
    metadata = find(root, "metadata", name="StreamIncludeUsageAction")
    assert metadata.get("value") == '@((string)context.Variables["streamIncludeUsageAction"])'
    body = find(root, "set-body")
    assert body.text is not None and body.sourceline == 88
    assert body.text.startswith("@{\n                try {")
    assert "context.Request.Body.As<string>(preserveContent: true);" in body.text


def test_text_expression_with_generics_and_interpolation() -> None:
    root = parse_file(
        "Azure-Samples__openai-python-enterprise-logging__assets__apim-policy-event-hub-logging.xml"
    )
    first = next(root.iter("log-to-eventhub"))
    assert first.sourceline == 31 and first.text is not None
    assert first.text.startswith("@{\n\n                var requestBody = ")
    assert "context.Request.Body?.As<JObject>(true);" in first.text
    assert 'case "get-a-generated-image-result":' in first.text

    entra = parse_file("Azure-Samples__AI-Gateway__labs__ghcp-byok-foundry__entra-policy.xml")
    url = next(el for el in entra.iter("set-url") if el.sourceline == 38)
    assert url.text == (
        '@($"https://graph.microsoft.com/v1.0/groups/{group-id}/transitiveMembers/'
        "microsoft.graph.user?$count=true&$filter=id%20eq%20'{(string)context.Variables[\"oid\"]}'"
        '&$select=id")'
    )


def test_terraform_template_and_mixed_escaping() -> None:
    name = "bcgov__ai-hub-tracking__infra-ai-hub__params__apim__api_policy.xml.tftpl"
    text = read(POLICIES / name) if (POLICIES / name).is_file() else ""
    root = parse_file(name)
    assert "%{ if openai_enabled && rate_limiting_enabled ~}" in "".join(root.itertext())
    header = find(root, "set-header", name="X-Tenant-Id")
    assert header[0].text == "${tenant_name}"
    deployment = [el for el in root.iter("set-variable") if el.get("name") == "deploymentName"]
    value = deployment[0].get("value")
    assert value is not None and deployment[0].sourceline == 22
    assert 'Regex.Match(path, @"/deployments/([^/]+)/");' in value
    assert '// Client sends e.g. "gpt-4.1-mini"; use bare model name' in value
    assert "var body = context.Request.Body.As<JObject>(preserveContent: true);" in value
    urls = [el.text for el in root.iter("set-url")]
    assert '@($"${keyvault_uri}secrets/${tenant_name}-apim-primary-key?api-version=7.4")' in urls
    assert escape_expressions(text).count("\n") == text.count("\n")


# --- 3. lines are preserved ---------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus_params(parsable_only=False))
def test_escaping_keeps_every_line(path: Path) -> None:
    text = read(path)
    assert escape_expressions(text).count("\n") == text.count("\n")


@pytest.mark.parametrize("path", corpus_params())
def test_sourceline_points_at_the_start_tag(path: Path) -> None:
    text = read(path)
    lines = text.split("\n")
    root = parse_policy(text)
    for el in elements(root):
        assert el.sourceline is not None
        assert f"<{el.tag!s}" in lines[el.sourceline - 1], (el.tag, el.sourceline)
    for comment in root.iter(etree.Comment):
        assert comment.sourceline is not None
        assert "<!--" in lines[comment.sourceline - 1]


# --- 4. hostile input ---------------------------------------------------------------------------


def test_xxe_is_refused_and_file_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<!DOCTYPE x [<!ENTITY e SYSTEM "{secret.as_uri()}">]><policies>&e;</policies>'
    before = secret.stat().st_atime_ns
    with pytest.raises(PolicyReadError) as info:
        parse_policy(doc)
    assert info.value.line == 1
    assert "DTD/entity declarations are not allowed" in info.value.message
    assert "TOP-SECRET" not in str(info.value)
    assert secret.stat().st_atime_ns == before
    with pytest.raises(PolicyReadError) as info:
        parse_policy(
            '<policies>\n<!-- x -->\n<!doctype x SYSTEM "file:///etc/passwd">\n</policies>'
        )
    assert info.value.line == 3


def test_xxe_example_from_brief() -> None:
    doc = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><policies>&e;</policies>'
    with pytest.raises(PolicyReadError, match="not allowed"):
        parse_policy(doc)


def test_billion_laughs_is_refused_quickly() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    doc = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(entities) + "\n]>\n"
    doc += "<policies>&lol9;</policies>"
    start = time.perf_counter()
    with pytest.raises(PolicyReadError) as info:
        parse_policy(doc)
    assert time.perf_counter() - start < HANG_SECONDS
    assert info.value.line == 2


def test_oversized_document_is_refused() -> None:
    data = b"<policies>" + b"x" * (50 * 1024 * 1024) + b"</policies>"
    with pytest.raises(PolicyReadError) as info:
        decode_policy_bytes(data)
    assert info.value.message == f"document is {len(data)} bytes, over the 4 MiB limit"
    assert info.value.line is None
    big = "<policies>" + "x" * MAX_DOCUMENT_BYTES + "</policies>"
    with pytest.raises(PolicyReadError, match="4 MiB limit"):
        parse_policy(big)


def test_files_are_read_whole_up_to_the_limit_whatever_size_they_state(tmp_path: Path) -> None:
    from auditor.bounded import read_bounded

    for size in (0, 1, 99, 100):
        (tmp_path / "f").write_bytes(b"x" * size)
        assert read_bounded(tmp_path / "f", 100) == b"x" * size
    (tmp_path / "f").write_bytes(b"x" * 101)
    with pytest.raises(PolicyReadError, match="101 bytes, over the 0 MiB limit"):
        read_bounded(tmp_path / "f", 100)
    # A file that states no size (procfs) is still read whole.
    status = Path("/proc/self/status")
    if status.exists():
        data = read_bounded(status)
        assert data.startswith(b"Name:") and data.endswith(b"\n") and len(data) > 100


def test_binary_content_is_refused_with_line() -> None:
    data = b"<policies>\n  <inbound/>\n" + bytes(range(256)) * 4 + b"\n</policies>"
    with pytest.raises(PolicyReadError) as info:
        decode_policy_bytes(data)
    assert info.value.message == "binary content"
    assert info.value.line == 3
    with pytest.raises(PolicyReadError) as info:
        parse_policy("<policies>\n<a>\x01\x00</a></policies>")
    assert info.value.line == 2


def test_invalid_utf8_reports_its_line() -> None:
    data = b"<policies>\n  <inbound>\n    <base \xff/>\n  </inbound>\n</policies>\n"
    with pytest.raises(PolicyReadError) as info:
        decode_policy_bytes(data)
    assert info.value.line == 3
    assert "UTF-8" in info.value.message


def test_boms_and_utf16() -> None:
    doc = '<policies><set-variable name="x" value="@("é")" /></policies>'
    assert decode_policy_bytes(b"\xef\xbb\xbf" + doc.encode()) == doc
    assert decode_policy_bytes(doc.encode("utf-16")) == doc
    assert decode_policy_bytes(b"\xfe\xff" + doc.encode("utf-16-be")) == doc
    declared = '<?xml version="1.0" encoding="utf-16"?>\n' + doc
    root = parse_policy(decode_policy_bytes(declared.encode("utf-16")))
    assert root[0].get("value") == '@("é")'


def test_excessive_nesting_is_refused() -> None:
    doc = "<policies>\n" + "<a>" * 1000 + "</a>" * 1000 + "\n</policies>"
    with pytest.raises(PolicyReadError) as info:
        parse_policy(doc)
    assert info.value.line == 2
    assert str(MAX_DEPTH) in info.value.message
    ok = "<a>" * MAX_DEPTH + "</a>" * MAX_DEPTH
    assert parse_policy(ok).tag == "a"
    with pytest.raises(PolicyReadError):
        parse_policy("<a>" + ok + "</a>")


@pytest.mark.parametrize(
    ("doc", "line"),
    [
        (
            '<policies>\n<inbound>\n<set-variable value="@(foo(" />\n</inbound>\n</policies>',
            3,
        ),
        ("<policies>\n<inbound>\n<set-body>@{ if (x) { </set-body>\n</inbound>\n</policies>", 3),
        ('<policies>\n<a v="@(x + "unterminated)" />\n</policies>', 2),
        ("<policies>\n<inbound>\n<base />\n</policies>", 4),
        ("<policies>\n<inbound>\n<base />\n", 4),
        ('<policies>\n<a b="1>\n</a>\n</policies>', 4),
        ("<policies>\n<a></b>\n</policies>", 2),
        ("", 1),
        ("just text", 1),
        ("<a/>\n<b/>", 2),
        ("<a>\n<!-- a -- b -->\n</a>", 2),
    ],
)
def test_broken_documents_raise_with_line(doc: str, line: int) -> None:
    with pytest.raises(PolicyReadError) as info:
        parse_policy(doc)
    assert info.value.line == line
    assert info.value.message


def test_unpaired_surrogate_is_an_error() -> None:
    with pytest.raises(PolicyReadError) as info:
        parse_policy("<a>\n\ud800</a>")
    assert info.value.line == 2


FUZZ_FILES = [
    "Azure-Samples__AI-Gateway__labs__token-metrics-emitting__policy.xml",
    "seiggy__apim-chargeback__policies__entra-jwt-policy.xml",
    "Azure-Samples__Apim-Samples__shared__apim-policies__fragments__"
    "pf-ensure-stream-include-usage.xml",
]


@pytest.mark.parametrize("name", FUZZ_FILES)
def test_fuzzed_corpus_never_crashes_or_hangs(name: str) -> None:
    path = POLICIES / name
    if not path.is_file():
        pytest.skip(f"corpus file {name} not found under {POLICIES}")
    original = read(path)
    rng = random.Random(f"xmlread-{name}")
    for _ in range(100):
        text = original
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            if rng.random() < 0.5:
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + rng.choice("<>\"'&(){}@") + text[at:]
        start = time.perf_counter()
        try:
            root = parse_policy(text)
        except PolicyReadError as exc:
            assert exc.line is None or 1 <= exc.line <= text.count("\n") + 1
        else:
            assert isinstance(root, etree._Element)
            assert escape_expressions(text).count("\n") == text.count("\n")
        assert time.perf_counter() - start < HANG_SECONDS


# --- 5. escaped documents round-trip; escaper details -------------------------------------------


def snapshot(root: etree._Element) -> list[tuple[object, ...]]:
    """Everything lxml exposes about a tree except line numbers."""
    out: list[tuple[object, ...]] = []
    for node in root.iter():
        attrs = {k: v.replace("\n", " ").replace("\t", " ") for k, v in node.attrib.items()}
        out.append((node.tag, attrs, node.text, node.tail))
    return out


def plain_lxml(text: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, remove_pis=True, remove_comments=False)
    return etree.fromstring(text.encode(), parser)


def test_escaped_document_round_trips() -> None:
    doc = """<policies>
    <inbound>
        <!-- a comment with @(a < b) inside -->
        <set-variable name="m" value="@(ctx.Body.As&lt;JObject&gt;(true)[&quot;model&quot;])" />
        <choose>
            <when condition="@(a &amp;&amp; b &lt; c &gt; d)">
                <set-header name="x" exists-action="override">
                    <value>@(ctx.Variables.GetValueOrDefault&lt;string&gt;("k", "&amp;"))</value>
                </set-header>
            </when>
        </choose>
        <set-body template="liquid">{{body.x}} &#34;quoted&#x22; &apos;single&apos;</set-body>
        <rate-limit calls='@(&apos;x&apos; == "y" ? 1 : 2)' renewal-period="{{period}}" />
    </inbound>
</policies>"""
    ours, theirs = parse_policy(doc), plain_lxml(doc)
    assert snapshot(ours) == snapshot(theirs)
    assert ours[0][1].get("value") == '@(ctx.Body.As<JObject>(true)["model"])'
    assert escape_expressions(doc) == doc  # already escaped: nothing to change


def well_formed_params() -> list[object]:
    """Corpus files that plain lxml already parses (escaped exports)."""
    params: list[object] = []
    for path in corpus_files():
        try:
            plain_lxml(read(path))
        except etree.XMLSyntaxError:
            continue
        params.append(pytest.param(path, id=file_id(path)))
    return params or [pytest.param(None, marks=NO_CORPUS, id="no-corpus")]


@pytest.mark.parametrize("path", well_formed_params())
def test_well_formed_corpus_matches_plain_lxml(path: Path) -> None:
    text = read(path)
    assert snapshot(parse_policy(text)) == snapshot(plain_lxml(text))


def test_csharp_lexing_details() -> None:
    doc = "\n".join(
        [
            "<policies>",
            "<a v=\"@(x == '\"' || y == '{' || z == '\\'')\" />",
            '<b v="@(@"C:\\dir ""q"" (" + $"{n:N2} {{lit}} {(a ? "}" : ")")}")" />',
            "<c v='@{ /* \" ' ( */ return \"it's\"; // don't (\n}' />",
            '<d>@{ if (a < b && c > d) { return $@"x{{{y}}}""z"; } }</d>',
            '<e v="{{named-value}}" w="{placeholder}">{{named}} and {x}</e>',
            '<f v="a && b < c">&nbsp; &amp; &#x22;</f><g v=" @(a("b"))" />',
            "</policies>",
        ]
    )
    root = parse_policy(doc)
    assert root[0].get("v") == "@(x == '\"' || y == '{' || z == '\\'')"
    assert root[1].get("v") == '@(@"C:\\dir ""q"" (" + $"{n:N2} {{lit}} {(a ? "}" : ")")}")'
    assert root[2].get("v") == "@{ /* \" ' ( */ return \"it's\"; // don't (\n}"
    assert root[3].text == '@{ if (a < b && c > d) { return $@"x{{{y}}}""z"; } }'
    assert dict(root[4].attrib) == {"v": "{{named-value}}", "w": "{placeholder}"}
    assert root[4].text == "{{named}} and {x}"
    assert root[5].get("v") == "a && b < c"
    assert root[5].text == '&nbsp; & "'
    assert root[6].get("v") == ' @(a("b"))'
    assert [el.sourceline for el in root] == [2, 3, 4, 6, 7, 8, 8]


def test_line_breaks_in_attributes_are_kept_and_lines_stay() -> None:
    doc = '<policies>\n<a\n  v="@{\r\n\tx = 1;\n  return x;\n}"\n  w="2" />\n<b />\n</policies>'
    escaped = escape_expressions(doc)
    assert escaped.count("\n") == doc.count("\n")
    root = parse_policy(doc)
    assert root[0].get("v") == "@{\n\tx = 1;\n  return x;\n}"
    assert root[0].sourceline == 2
    assert root[1].sourceline == 8


def test_comments_kept_and_processing_instructions_dropped() -> None:
    doc = (
        '<?xml version="1.0"?>\n<!-- top -->\n<policies>\n  <?pi data?>\n'
        '  <!-- <set-variable name="x" value="@(a("b") < 1)" /> -->\n'
        "  <inbound />\n</policies>"
    )
    root = parse_policy(doc)
    comments = list(root.iter(etree.Comment))
    assert [c.text for c in comments] == [' <set-variable name="x" value="@(a("b") < 1)" /> ']
    assert comments[0].sourceline == 5
    top = root.getprevious()
    assert top is not None and top.sourceline == 2
    assert not list(root.iter(etree.ProcessingInstruction))
    assert [el.tag for el in elements(root)] == ["policies", "inbound"]


def test_error_str_and_attributes() -> None:
    err = PolicyReadError("boom", 3)
    assert (err.message, err.line, str(err)) == ("boom", 3, "line 3: boom")
    assert str(PolicyReadError("boom")) == "boom"

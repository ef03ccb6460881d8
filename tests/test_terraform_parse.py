"""The HCL reader (tree-sitter-hcl): exact lines, template text as Terraform renders it, and
syntax errors that stay local, on hand-made text and on every real ``.tf`` file at hand."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from auditor.sources.iac.expr import Budget, Scope
from auditor.sources.terraform.parse import parse, parse_template

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REALWORLD = Path("/work/realworld/repos")
TF_FILES = sorted(
    p
    for root in (CORPUS, REALWORLD)
    if root.is_dir()
    for p in root.rglob("*.tf")
    if ".git" not in p.parts and ".terraform" not in p.parts
)


def value(text: str, name: str = "x") -> object:
    """What the attribute ``name`` of the first block (or of the file) evaluates to."""
    parsed = parse(text)
    attrs = parsed.blocks[0].attrs if parsed.blocks else parsed.attrs
    scope = Scope("main.tf", Budget())
    scope.fold_keys = False
    return scope.eval(attrs[name].node)


def test_blocks_labels_attributes_and_their_lines() -> None:
    text = (
        "# a comment\n"
        'resource "azurerm_api_management_api" /* c */ "chat" {\n'
        '  name = "chat" // trailing\n'
        "  count = 2\n"
        '  dynamic "log" {\n'
        "    for_each = [1]\n"
        "    content {\n"
        "      category = log.value\n"
        "    }\n"
        "  }\n"
        "}\n"
        "locals {\n"
        "  a = 1\n"
        "}\n"
    )
    parsed = parse(text)
    assert parsed.errors == []
    block, local = parsed.blocks
    assert (block.type, block.labels, block.line, block.end_line) == (
        "resource",
        ["azurerm_api_management_api", "chat"],
        2,
        11,
    )
    assert {k: a.line for k, a in block.attrs.items()} == {"name": 3, "count": 4}
    (dynamic,) = block.blocks
    assert (dynamic.type, dynamic.labels, dynamic.line) == ("dynamic", ["log"], 5)
    assert dynamic.first("content") is not None
    assert (local.type, list(local.attrs)) == ("locals", ["a"])


def test_strings_escapes_and_heredocs_as_terraform_reads_them() -> None:
    text = (
        'resource "a" "b" {\n'
        '  esc = "q\\"\\n\\t\\u00e9 $${literal} %%{also}"\n'
        "  flush = <<-EOT\n"
        "    <a>\n"
        "      <b/>\n"
        "    </a>\n"
        "    EOT\n"
        "  plain = <<XML\n"
        "<a/>\n"
        "XML\n"
        "}\n"
    )
    assert value(text, "esc") == 'q"\n\té ${literal} %{also}'
    assert value(text, "flush") == "<a>\n  <b/>\n</a>\n"
    heredoc = value(text, "plain")
    assert heredoc == "<a/>\n"
    assert getattr(heredoc, "origin", None) == ("main.tf", 9)  # its first line


def test_template_directives_and_strip_markers() -> None:
    node, errors = parse_template(
        "<a>\n%{ for k, v in m ~}\n  ${k}=${~ v ~}\n%{ endfor ~}\n"
        "%{ if x }yes%{ else }no%{ endif }</a>"
    )
    assert errors == []
    scope = Scope("t.tftpl", Budget())
    scope.fold_keys = False
    with scope.bound({"m": {"a": 1, "b": 2}, "x": False}):
        assert scope.eval(node) == "<a>\na=1b=2no</a>"


def test_template_lines_are_the_template_files_lines() -> None:
    node, _ = parse_template("<a>\n\n  ${missing}\n</a>\n", 1)
    scope = Scope("t.tftpl", Budget())
    result = scope.eval(node)
    assert getattr(result, "where", None) == "t.tftpl:3"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('resource "a" "b" {\n  y = 2\n', 1),  # no closing brace
        ('resource "a" "b" {\n  y = "open\n}\n', 2),  # unterminated string
        ('resource "a" "b" {\n  y =\n}\n', 2),  # no value (seen on the next line)
        ('resource "a" "b" {\n  y = 1\n}\nresource "c" "d" {\n  z = = 2\n}\n', 5),
        ('resource "a" "b" {\n  y = <<XML\nhi\n}\n', 2),  # a heredoc never closed
    ],
)
def test_a_syntax_error_is_located_and_the_blocks_around_it_are_read(text: str, line: int) -> None:
    parsed = parse("locals {\n  before = 1\n}\n" + text + "\nlocals {\n  after = 2\n}\n")
    assert parsed.errors, text
    first = parsed.errors[0]
    # Where it goes wrong (what is never closed: where it opens), or just after.
    assert first[0] in (line + 3, line + 4) and first[1].startswith("invalid HCL")
    assert "before" in parsed.blocks[0].attrs


@pytest.mark.parametrize("depth", [40, 2000])
def test_deep_nesting_never_raises(depth: int) -> None:
    parsed = parse('resource "a" "b" {\n  x = ' + "[" * depth + "]" * depth + "\n}\n")
    assert parsed.blocks or parsed.errors


def test_mutated_files_never_raise() -> None:
    """Random edits of a valid file: whatever the grammar makes of them, the reader returns
    blocks and located errors, never an exception."""
    base = (
        'resource "azurerm_api_management_api_policy" "p" {\n'
        "  api_name = azurerm_api_management_api.chat.name\n"
        "  xml_content = <<XML\n<policies>${var.x}</policies>\nXML\n"
        '  for_each = { for k, v in var.m : k => v if v != "" }\n'
        '  t = "a%{ if var.b }b%{ endif }${join(",", [1, 2])}"\n'
        "}\n"
    )
    rng = random.Random(20261207)
    alphabet = '{}[]()"=,.#\n <>$%-*/\t0~'
    for _ in range(300):
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars))
            op = rng.randrange(3)
            if op == 0:
                del chars[i]
            elif op == 1:
                chars.insert(i, rng.choice(alphabet))
            else:
                chars[i] = rng.choice(alphabet)
        parsed = parse("".join(chars))
        for block in parsed.blocks:
            for attr in block.attrs.values():
                assert attr.node[0] == "at"
        assert all(isinstance(line, int) and line >= 1 for line, _ in parsed.errors)


@pytest.mark.skipif(not TF_FILES, reason="no real Terraform files at hand")
def test_every_real_terraform_file_parses_without_error() -> None:
    failed = []
    for path in TF_FILES:
        parsed = parse(path.read_text(encoding="utf-8-sig"))
        if parsed.errors:
            failed.append((path, parsed.errors[:1]))
        for block in parsed.blocks:
            for attr in block.attrs.values():
                assert attr.node[0] == "at"  # every expression converts
    assert failed == []
    assert len(TF_FILES) > 20


TRICKY = r"""
# a "quoted" comment, and /* "one */ more = "here"
resource "azurerm_api_management_api" "x%(i)d" {
  name        = "api-%(i)d"
  description = "say \"hi\" to %(i)d" # and "this"
  path        = "${var.prefix}/%(i)d" == "x" ? "a" : "b"
  url         = "https://contoso.example/%(i)d"
  /* "open */ tags = { "k" = "v", (var.k) = "w" }
  policy      = <<XML
<policies>
  <set-header name="x-%(i)d" exists-action="override"><value>@("a" + "b")</value></set-header>
  <set-variable name="v" value="${var.value} and "quoted"" />
  <when condition="@(context.Variables.GetValueOrDefault<string>("k", "") == "}")" />
</policies>
XML
  expr        = join(",", [for s in ["a", "b"] : "${s}-%(i)d" if s != "}"])
}
"""


def test_a_large_file_reads_as_its_text_says_whatever_its_strings_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large file is parsed with the text of its plain strings blanked (see
    ``parse._tree``): what it reads must be exactly what the text itself gives."""
    from auditor.sources.terraform import parse as module

    text = "".join(TRICKY % {"i": i} for i in range(400))
    assert len(text.encode()) > module.BLANK_FROM

    def read(parsed: module.Parsed) -> list[object]:
        return [
            (b.type, b.labels, b.line, {k: (a.line, a.node) for k, a in b.attrs.items()})
            for b in parsed.blocks
        ] + [parsed.errors]

    fast = read(parse(text))
    monkeypatch.setattr(module, "BLANK_FROM", 1 << 40)
    assert fast == read(parse(text))
    monkeypatch.setattr(module, "BLANK_FROM", 64 * 1024)
    # Heredocs with quoted attributes and plain strings: the blanked text's tree is kept.
    plain = "".join(
        f'resource "a" "r{i}" {{\n  x = "plain text {i} / with: symbols"\n'
        f'  p = <<XML\n<a n="{i}" m="o"><b c="{{d}}" /></a>\nXML\n}}\n'
        for i in range(1500)
    )
    src = plain.encode()
    assert len(src) > module.BLANK_FROM
    root = module._tree(src).root_node
    assert root.text != src and root.text is not None and len(root.text) == len(src)
    fast = read(parse(plain))
    monkeypatch.setattr(module, "BLANK_FROM", 1 << 40)
    assert module._tree(src).root_node.text == src
    assert read(parse(plain)) == fast

"""The quick HCL reader gives exactly what python-hcl2 gives, block by block, or steps aside.

Every Terraform file of the test fixtures and the corpus, and samples of each construct the quick
reader handles or hands over, are read both ways; the results must be equal.
"""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest
from hcl2.rules.base import BlockRule

from auditor.sources import hclfull, hclquick, terraform

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT.parents[1] / "shared" / "corpus"
FILES = sorted(
    [*(ROOT / "fixtures").rglob("*.tf"), *CORPUS.rglob("*.tf")], key=lambda p: p.as_posix()
)

PLAIN = r"""
terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }
  }
}

provider "azurerm" {
  features {}
}

variable "names" {
  type    = map(string)
  default = {}
}

resource "azurerm_api_management_api_policy" "chat" {
  api_name            = azurerm_api_management_api.chat.name
  api_management_name = azurerm_api_management.gw.name
  resource_group_name = var.resource_group_name # where it lives
  xml_content         = file("${path.module}/policies/chat.xml")
  // a comment
  /* another */
  count_of  = 3
  ratio     = 1.5
  negative  = -2
  enabled   = true
  nothing   = null
  empty     = []
  nested    = [1, [2, "x"], { a = 1 }]
  bare      = string
  indexed   = azurerm_x.y[0].id
  keyed     = azurerm_x.y["k"].id
  splat     = azurerm_x.y[*].id
  calls     = merge(var.a, { team = "a", n = 1 }, lookup(var.m, "k", "d"))
  multiline = templatefile(
    "${path.module}/p.xml",
    {
      team   = "finance",
      region = var.region
    }
  )
  tags = {
    team = "finance"
    cost = "cc-1"
  }
  trailing = [
    "a",
    "b",
  ]
  heredoc = <<XML
<policies>
  <inbound><base /></inbound>
</policies>
XML
  indented = <<-EOT
    <policies />
  EOT
  encoded = jsonencode({ a = 1, b = ["x"] })
  dollars = "$${not_a_template}"
  spaced  = merge( var.a ,  var.b )
}

resource "azurerm_api_management_backend" "pool" {
  name = "pool"
  dynamic "member" {
    for_each = var.members
    content {
      id = member.value
    }
  }
  two "labels" "here" {
    k = "v"
  }
  repeated { x = 1 }
  repeated { x = 2 }
}
"""

HANDED_OVER = r"""
resource "azurerm_x" "conditional" {
  value = var.a ? "x" : "y"
}

resource "azurerm_x" "arithmetic" {
  value = 1 + 2 * var.c
}

resource "azurerm_x" "for_list" {
  value = [for s in var.l : upper(s)]
}

resource "azurerm_x" "for_map" {
  value = { for k, v in var.m : k => v }
}

resource "azurerm_x" "directive" {
  value = "%{if var.on}on%{endif}"
}

resource "azurerm_x" "escapes" {
  value = "a\"b\\c\n"
}

resource "azurerm_x" "template" {
  value = "${var.a}-${upper(var.b)}"
}

resource "azurerm_x" "quoted_keys" {
  value = { "quoted key" = 1 }
}

resource "azurerm_x" "heredoc_in_call" {
  value = trimspace(<<EOT
text
EOT
  )
}

resource "azurerm_x" "parens" {
  value = (var.a)
}

resource "azurerm_x" "attribute_after_call" {
  value = element(var.l, 0).id
}

resource "azurerm_x" "quote_in_template" {
  value = "${var.m["k"]}"
}

resource "azurerm_x" "plain_after_all" {
  value = "still read quickly"
}
"""


def reference(text: str) -> list[object]:
    """What python-hcl2 alone gives (the reader of every file before the quick one)."""
    tree = hcl2.parses(text)
    return [hclfull.block(b, text) for b in tree.body.children if isinstance(b, BlockRule)]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_terraform_file_reads_the_same(path: Path) -> None:
    text = read(path)
    try:
        expected = reference(text)
    except Exception as exc:  # noqa: BLE001 - a broken file must fail the quick path too
        with pytest.raises(type(exc)):
            terraform.parse_blocks(text)
        return
    assert terraform.parse_blocks(text) == expected


def test_plain_constructs_are_read_quickly_and_the_same() -> None:
    parts = hclquick.blocks(PLAIN)
    assert parts is not None
    assert all(isinstance(p, hclquick.Block) for p in parts), parts
    assert terraform.parse_blocks(PLAIN) == reference(PLAIN)


def test_other_constructs_are_handed_to_python_hcl2_block_by_block() -> None:
    parts = hclquick.blocks(HANDED_OVER)
    assert parts is not None
    raw = [p for p in parts if isinstance(p, hclquick.Raw)]
    assert len(raw) == len(parts) - 1  # all but the last block
    assert isinstance(parts[-1], hclquick.Block)
    assert terraform.parse_blocks(HANDED_OVER) == reference(HANDED_OVER)


def test_positions_of_handed_over_blocks_are_those_of_the_file() -> None:
    text = "\n\n" + HANDED_OVER
    assert terraform.parse_blocks(text) == reference(text)


@pytest.mark.parametrize(
    "text",
    [
        'x = 1\nresource "a" "b" {\n  y = 2\n}\n',  # a top-level argument: the whole file
        'resource "a" "b" { x = 1 y = 2 }\n',  # two arguments on one line: that block
        # Arguments commented out, also one before a closing brace: no argument is read.
        'resource "a" "b" {\n  # off = true\n  // gone = "x"\n  /* old = 1 */\n  on = 1\n}\n',
        'resource "a" "b" {\n  on = 1\n  # off = 2\n}\nresource "c" "d" { # x = 1\n}\n',
        # Numbers inside a call are written back as python-hcl2 writes them (01 -> 1).
        'resource "a" "b" {\n  x = 01\n  y = [-01, 1.50]\n  z = f({n = 007.5, m = -0})\n}\n',
    ],
)
def test_unusual_but_valid_files_read_the_same(text: str) -> None:
    assert terraform.parse_blocks(text) == reference(text)


@pytest.mark.parametrize(
    "text",
    [
        'resource "a" "b" {\n  y = 2\n',  # no closing brace
        'resource "a" "b" {\n  y = "open\n}\n',  # unterminated string
        'resource "a" "b" {\n  y =\n}\n',  # no value
        'resource "a" "b" {\n  y = 1\n}\nresource "c" "d" {\n  z = = 2\n}\n',  # second block
        'resource "a" "b" {\n  y = "$${open"\n}\n',  # an escaped template left open
        'resource "a" "b" {\n  y = <<XML\t\nhi\nXML\n}\n',  # a blank after a heredoc marker
        'resource # c\n "a" "b" {\n  y = 1\n}\n',
    ],
)
def test_broken_files_fail_as_python_hcl2_fails(text: str) -> None:
    with pytest.raises(Exception) as expected:  # noqa: PT011 - whatever python-hcl2 raises
        reference(text)
    with pytest.raises(type(expected.value)) as got:
        terraform.parse_blocks(text)
    assert getattr(got.value, "line", None) == getattr(expected.value, "line", None)


def test_mutated_files_read_the_same_or_fail_the_same() -> None:
    """Random edits of the plain sample (deleted, doubled or swapped characters): the quick path
    must never give something python-hcl2 would not."""
    import random

    rng = random.Random(20261122)
    alphabet = '{}[]()"=,.#\n <>$%-*/\t0'
    checked = 0
    for _ in range(300):
        chars = list(PLAIN)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars))
            op = rng.randrange(3)
            if op == 0:
                del chars[i]
            elif op == 1:
                chars.insert(i, rng.choice(alphabet))
            else:
                chars[i] = rng.choice(alphabet)
        text = "".join(chars)
        try:
            expected = reference(text)
        except Exception as exc:  # noqa: BLE001
            with pytest.raises(type(exc)):
                terraform.parse_blocks(text)
            continue
        assert terraform.parse_blocks(text) == expected, text
        checked += 1
    assert checked > 30  # some edits keep the file valid


@pytest.mark.parametrize("depth", [40, 400])
def test_deep_nesting_reads_or_fails_as_python_hcl2(depth: int) -> None:
    text = 'resource "a" "b" {\n  x = ' + "[" * depth + "]" * depth + "\n}\n"
    try:
        expected = reference(text)
    except RecursionError:
        with pytest.raises(RecursionError):
            terraform.parse_blocks(text)
        return
    assert terraform.parse_blocks(text) == expected


def test_comments_in_block_headers_are_skipped_as_terraform_skips_them(tmp_path: Path) -> None:
    """python-hcl2 refuses a comment between labels and keeps one before the brace as a label;
    the quick reader skips both, and the Terraform reader drops such a label."""
    text = 'resource "a" /* c */ "b" {\n  y = 1\n}\nlocals /* d */ {\n  z = 2\n}\n'
    assert [b[0] for b in terraform.parse_blocks(text)] == [["resource", "a", "b"], ["locals"]]
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever python-hcl2 raises
        reference(text)
    before_brace = 'resource "a" "b" /* c */ {\n  y = 1\n}\n'
    assert [b[0] for b in reference(before_brace)] == [["resource", "a", "b", "/* c */"]]
    # Read by python-hcl2 (another block is not plain): the resource is still there.
    (tmp_path / "main.tf").write_text(before_brace + "locals {\n  x = 1 + 2\n}\n")
    parsed = terraform.prepare(tmp_path)
    assert list(next(iter(parsed.modules.values())).decls) == ["a.b"]

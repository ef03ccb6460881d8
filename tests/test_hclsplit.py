"""A large Terraform configuration parsed in several processes reads exactly as parsed in one.

The cuts are only guesses (a line that looks like a block header after a closing brace); these
tests put guesses where they are wrong (inside a heredoc, in a file the quick reader hands over,
in a broken file) and check that such a file is read whole instead, with the same result.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor import parallel
from auditor.sources import hclsplit, terraform

pytestmark = pytest.mark.skipif(not parallel.can_fork(), reason="needs os.fork")


def resource(i: int) -> str:
    return (
        f'resource "azurerm_api_management_api" "api_{i:05d}" {{\n'
        "  api_management_name = azurerm_api_management.gw.name\n"
        f'  name                = "api-{i:05d}"\n'
        f'  path                = "team/{i}"\n'
        '  protocols           = ["https"]\n'
        "}\n\n"
    )


def many(start: int, count: int) -> str:
    return "".join(resource(i) for i in range(start, start + count))


#: A heredoc whose text holds what looks like the end of a block and the start of the next one.
TRAP = (
    'resource "azurerm_api_management_api_policy" "trap" {\n'
    "  xml_content = <<XML\n"
    "<policies>\n}\n\n"
    'resource "fake" "inside_the_heredoc" {\n'
    "</policies>\n"
    "XML\n"
    "}\n\n"
)


def test_plan_covers_every_text_in_order_and_cuts_only_before_block_headers() -> None:
    texts = [many(0, 40), "", many(40, 3), many(43, 80)]
    for pieces in (2, 3, 5):
        groups = hclsplit.plan(texts, pieces)
        assert len(groups) == pieces
        ranges = [r for group in groups for r in group]
        for i, text in enumerate(texts):
            mine = [(start, stop) for j, start, stop in ranges if j == i]
            covered = [start for start, _ in mine] + [len(text)]
            assert [0, *(stop for _, stop in mine)] == covered if mine else text == ""
            for start, _ in mine[1:]:
                assert text[start:].startswith('resource "')
                assert text[:start].endswith("}\n\n")
        assert [j for j, _, _ in ranges] == sorted(j for j, _, _ in ranges)
    # A piece that ends where a file does takes no sliver of the next file.
    same = many(0, 20)
    assert hclsplit.plan([same, same], 2) == [[(0, 0, len(same))], [(1, 0, len(same))]]


def test_a_split_read_gives_the_blocks_of_a_whole_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    texts = [many(0, 300), "# only a comment\n", many(300, 20)]
    got = hclsplit.parse(texts, 3, terraform.parse_range)
    assert got == [terraform.parse_blocks(t) for t in texts]


def test_a_cut_inside_a_heredoc_leaves_the_file_to_be_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    monkeypatch.setattr(hclsplit, "_PIECES_PER_WORKER", 1)  # the pieces planned here
    head, tail = many(0, 100), many(100, 140)
    fake_end = TRAP.index('\n}\n\nresource "fake"')
    # The cut is looked for from the middle of the text on: a comment line of the right length
    # puts the trap's fake block end just after the middle.
    filler = len(TRAP) + len(tail) - len(head) - 2 * fake_end + 10
    text = head + "#" * (filler - 1) + "\n" + TRAP + tail
    groups = hclsplit.plan([text], 2)
    cut = groups[1][0][1]
    assert text[cut:].startswith('resource "fake" "inside_the_heredoc"')
    # Both sides of the cut refuse it: the first range ends inside its last block, and the
    # second starts in the middle of a heredoc.
    assert terraform.parse_range(text, 0, cut) is None
    assert terraform.parse_range(text, cut, len(text)) is None
    assert hclsplit.parse([text], 2, terraform.parse_range) == [None]
    blocks = terraform.parse_blocks(text)
    assert [b[0][2] for b in blocks].count("trap") == 1
    assert "inside_the_heredoc" not in {b[0][2] for b in blocks}


@dataclass(frozen=True)
class _Block:
    start: int


def test_blocks_that_marshal_cannot_write_are_sent_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    texts = [many(0, 50), many(50, 50)]
    got = hclsplit.parse(texts, 2, lambda text, start, stop, lines: [_Block(start)])
    for text, blocks in zip(texts, got, strict=True):
        assert blocks is not None and len(blocks) > 1
        starts = [b.start for b in blocks]  # every range's, in the order of the text
        assert starts[0] == 0 and starts == sorted(set(starts))
        assert all(text[start:].startswith('resource "') for start in starts)


def test_a_range_whose_reader_fails_leaves_its_file_to_be_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    monkeypatch.setattr(hclsplit, "_PIECES_PER_WORKER", 1)  # the pieces planned here
    texts = [many(0, 60), many(60, 60)]

    def read(text: str, start: int, stop: int, lines: int) -> list[int] | None:
        if text is texts[1] and start > 0:
            raise RecursionError("too deep")
        return [start]

    assert any(i == 1 and start > 0 for group in hclsplit.plan(texts, 2) for i, start, _ in group)
    got = hclsplit.parse(texts, 2, read)
    assert got[0] is not None and got[0][0] == 0 and got[0] == sorted(got[0])
    assert got[1] is None  # the caller reads it whole, and reports what fails there


def test_below_the_size_that_pays_nothing_is_read_ahead() -> None:
    assert hclsplit.parse([many(0, 5)], 4, terraform.parse_range) == [None]
    assert hclsplit.parse([many(0, 5)] * 2, 1, terraform.parse_range) == [None, None]


def _loaded(path: Path, workers: int) -> object:
    parsed = terraform.prepare(path, workers)
    found, notes = parsed.resources()
    return found, notes, parsed.errors


def test_a_repository_parsed_in_parts_loads_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    (tmp_path / "main.tf").write_text(
        'resource "azurerm_api_management" "gw" {\n  name = "gw"\n}\n\n'
        + many(0, 150)
        + TRAP
        + many(150, 150)
    )
    (tmp_path / "broken.tf").write_text(many(400, 40) + 'resource "a" "b" {\n  x = \n}\n')
    (tmp_path / "handed_over.tf").write_text(
        many(500, 40) + 'resource "a" "c" {\n  x = 1 + 2\n}\n\n' + many(540, 40)
    )
    (tmp_path / "not_utf8.tf").write_bytes(b'resource "a" "d" {\n  x = "\xff"\n}\n')
    whole = _loaded(tmp_path, 1)
    for workers in (2, 3, 4):
        assert _loaded(tmp_path, workers) == whole
    errors = whole[2]  # type: ignore[index]
    assert [(e.location.path, e.location.line) for e in errors] == [
        ("broken.tf", 7 * 40 + 2),
        ("not_utf8.tf", None),
    ]


def test_the_caller_s_own_work_runs_once_whether_or_not_the_text_is_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    small = [many(0, 5)]
    assert hclsplit.parse(small, 2, terraform.parse_range, lambda: calls.append("small")) == [None]
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    texts = [many(0, 200)]
    got = hclsplit.parse(texts, 2, terraform.parse_range, lambda: calls.append("split"))
    assert got == [terraform.parse_blocks(texts[0])]
    assert calls == ["small", "split"]


def _signals() -> tuple[int, int]:
    inlet, outlet = os.pipe()
    return inlet, outlet


def _wait_for(fd: int, count: int) -> None:
    """Read ``count`` bytes from ``fd``, failing after 20 s (a worker that never wrote)."""
    got = 0
    while got < count:
        ready, _, _ = select.select([fd], [], [], 20)
        assert ready, f"{got} of {count} signals"
        got += len(os.read(fd, count - got))


def test_a_process_that_starts_late_reads_fewer_pieces_and_none_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    texts = [many(0, 400), many(400, 100)]
    ranges = sum(len(g) for g in hclsplit.plan(texts, 2 * hclsplit._PIECES_PER_WORKER))
    me = os.getpid()
    inlet, outlet = _signals()

    def read(text: str, start: int, stop: int, lines: int) -> list[tuple[int, int, int]]:
        assert lines == text.count("\n", 0, start)
        if os.getpid() != me:
            os.write(outlet, b"x")
        return [(start, stop, os.getpid())]

    # This process starts once the other has read more than half the ranges.
    try:
        got = hclsplit.parse(texts, 2, read, lambda: _wait_for(inlet, ranges // 2 + 1))
    finally:
        os.close(inlet)
        os.close(outlet)
    for text, blocks in zip(texts, got, strict=True):
        assert blocks is not None
        assert blocks[0][0] == 0 and blocks[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
    pids = [pid for blocks in got for _, _, pid in blocks or []]
    assert len(pids) == ranges
    # This process started only once the other had read more than half: how many of the
    # rest each one then took depends on the scheduler, so it is not asserted.
    assert len(pids) - pids.count(me) > ranges // 2


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def _children() -> set[int]:
    """This process's child processes (zombies included), where /proc tells."""
    out = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid():
            out.add(int(entry))
    return out


def test_a_worker_that_dies_leaves_every_text_to_be_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    texts = [many(0, 300), many(300, 10)]
    me = os.getpid()
    fds = _open_fds()
    inlet, outlet = _signals()

    def read(text: str, start: int, stop: int, lines: int) -> list[int]:
        if os.getpid() != me:
            os.write(outlet, b"x")
            os._exit(3)  # killed with a piece taken: its blocks never come
        return [start]

    try:
        got = hclsplit.parse(texts, 2, read, lambda: _wait_for(inlet, 1))
    finally:
        os.close(inlet)
        os.close(outlet)
    assert got == [None, None]
    assert _open_fds() == fds


def test_the_caller_s_failure_meanwhile_stops_the_workers_and_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hclsplit, "MIN_CHARS", 0)
    fds, children = _open_fds(), _children()

    def fail() -> None:
        raise ValueError("bad rules file")

    with pytest.raises(ValueError, match="bad rules file"):
        hclsplit.parse([many(0, 300)], 3, terraform.parse_range, fail)
    assert _open_fds() == fds
    assert _children() == children  # every worker stopped and reaped

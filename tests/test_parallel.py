"""Large estates are audited in forked processes with exactly the result of one process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from auditor import engine, parallel, rules, sources, suppress
from auditor.report import to_dict

COPIES = 25  # 9 demo APIs x 25 = 225 APIs, over the parallel threshold


@pytest.fixture(scope="module")
def big_estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("big") / "contoso-ai-gateway"
    shutil.copytree(sources.demo_path(), tree)
    apis = tree / "apis"
    for folder in sorted(p for p in apis.iterdir() if ";rev=" not in p.name):
        for i in range(1, COPIES):
            shutil.copytree(folder, apis / f"{folder.name}-{i:02d}")
    return tree


def report(tree: Path, workers: int, sup: suppress.Suppressor | None = None) -> dict:
    estate = sources.load(tree)
    audit = engine.run(estate, rules.load(), sup.apply if sup else None, workers=workers)
    return to_dict(audit)


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")
def test_two_processes_give_the_same_report(big_estate: Path) -> None:
    one = report(big_estate, 1)
    two = report(big_estate, 2)
    assert len(one["apis"]) >= parallel.MIN_PARALLEL
    assert one == two


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")
def test_waiver_use_is_tracked_across_processes(big_estate: Path) -> None:
    import datetime as dt

    waiver = suppress.Waiver(
        "COR002", "embeddings-spoofable-1*", "test", "me", dt.date.today() + dt.timedelta(days=9)
    )
    unused = suppress.Waiver(
        "COR002", "nothing-matches", "test", "me", dt.date.today() + dt.timedelta(days=9)
    )
    sup = suppress.Suppressor(waivers=[waiver, unused])
    out = report(big_estate, 2, sup)
    assert any(f["suppression"] for f in out["findings"])
    assert sup.warnings() == ["waiver COR002 'nothing-matches' (line None) matched no finding"]


def test_small_estates_stay_in_process() -> None:
    calls: list[int] = []
    assert parallel.map_apis(lambda i: calls.append(i) or i * 2, 5, workers=4) == [0, 2, 4, 6, 8]
    assert calls == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")
def test_fork_map_keeps_order_and_runs_the_caller_share_meanwhile() -> None:
    parent = os.getpid()
    results, here = parallel.fork_map(lambda i: (i, os.getpid()), 3, meanwhile=lambda: "here")
    assert [i for i, _ in results] == [0, 1, 2]
    assert all(pid != parent for _, pid in results)
    assert len({pid for _, pid in results}) == 3
    assert here == "here"


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")
def test_a_failing_worker_fails_the_run_with_its_traceback() -> None:
    def job(i: int) -> int:
        if i == 1:
            raise ValueError("broken check")
        return i

    with pytest.raises(parallel.WorkerError, match="broken check"):
        parallel.fork_map(job, 2)


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and a single thread")
def test_a_killed_worker_fails_the_run() -> None:
    def job(i: int) -> int:
        os.kill(os.getpid(), 9)
        return i

    with pytest.raises(parallel.WorkerError, match="without a result"):
        parallel.fork_map(job, 1)

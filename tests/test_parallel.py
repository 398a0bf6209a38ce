"""map_items: same results inline, on a process pool and on a Dask LocalCluster; errors isolated."""

from __future__ import annotations

import os

import pytest

from hepatokit.manifest import Manifest, excluded, kept
from hepatokit.parallel import make_executor, map_items


def square_or_fail(x: int) -> int:
    if x % 7 == 3:
        raise ValueError(f"item {x} is bad")
    return x * x


def crash_on_five(x: int) -> int:
    if x == 5:
        os._exit(13)  # a segfaulting C library looks like this to the pool
    return x + 1


def _expected(items):
    return [(x, None if x % 7 == 3 else x * x) for x in items]


def test_inline_and_process_pool_agree():
    items = list(range(40))
    inline = map_items(square_or_fail, items, workers=1)
    pooled = map_items(square_or_fail, items, workers=2, chunksize=3)
    assert [(r.item, r.value) for r in inline] == _expected(items)
    assert [(r.item, r.value, r.error) for r in pooled] == [
        (r.item, r.value, r.error) for r in inline
    ]
    bad = [r for r in pooled if not r.ok]
    assert [r.item for r in bad] == [x for x in items if x % 7 == 3]
    assert all("ValueError: item" in r.error for r in bad)


def test_failing_item_becomes_excluded_manifest_row(tmp_path):
    results = map_items(square_or_fail, list(range(10)), workers=1)
    rows = [
        kept(str(r.item), kind="n", stage="square")
        if r.ok
        else excluded(str(r.item), kind="n", stage="square", reason="error", detail=r.error)
        for r in results
    ]
    m = Manifest(tmp_path)
    m.record("square", rows, introduces=True)
    summary = m.check()
    assert summary.excluded == 1 and summary.kept == 9
    row = next(r for r in m.final().to_pylist() if r["outcome"] == "excluded")
    assert row["item_id"] == "3" and "item 3 is bad" in row["detail"]


def test_dead_worker_only_loses_its_item():
    results = map_items(crash_on_five, list(range(8)), workers=2, chunksize=4)
    by_item = {r.item: r for r in results}
    assert by_item[5].error is not None and "WorkerCrashed" in by_item[5].error
    assert [by_item[i].value for i in range(8) if i != 5] == [i + 1 for i in range(8) if i != 5]


@pytest.mark.slow
def test_dask_local_cluster_gives_same_result_as_process_pool():
    distributed = pytest.importorskip("distributed")
    items = list(range(25))
    pooled = map_items(square_or_fail, items, workers=2)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        make_executor(dask_address=cluster.scheduler_address) as executor,
    ):
        on_dask = map_items(square_or_fail, items, executor=executor, workers=2)
    assert [(r.item, r.value, r.error is None) for r in on_dask] == [
        (r.item, r.value, r.error is None) for r in pooled
    ]


def test_empty_input():
    assert map_items(square_or_fail, [], workers=2) == []


_PRELOAD_SCRIPT = """
import sys

from hepatokit.parallel import make_executor


def loaded():
    return "{module}" in sys.modules


if __name__ == "__main__":
    preload = sys.argv[1:]
    with make_executor(workers=2, preload=preload) as pool:
        print(pool.submit(loaded).result())
"""


@pytest.mark.parametrize("preload", [[], ["tabnanny"]])
def test_forkserver_preload_reaches_the_workers(tmp_path, preload):
    """A module named in ``preload`` is already imported in a worker before any task runs;
    without it, the worker has not imported it (a fresh process: no forkserver yet)."""
    import subprocess
    import sys

    script = tmp_path / "preload_probe.py"
    script.write_text(_PRELOAD_SCRIPT.replace("{module}", "tabnanny"))
    env = {**os.environ, "HEPATOKIT_MP_CONTEXT": "forkserver"}
    out = subprocess.run(
        [sys.executable, str(script), *preload], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == str(bool(preload))

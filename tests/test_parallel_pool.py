"""start_pool (the one way stages and pipelines start their executor) and executor_workers."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from hepatokit.parallel import executor_workers, start_pool


def worker_pid() -> int:
    return os.getpid()


class _Plain(Executor):
    """An executor that does not say how many workers it has (as Dask's does not)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


def test_executor_workers():
    with ThreadPoolExecutor(max_workers=3) as threads:
        assert executor_workers(threads) == 3
    with ProcessPoolExecutor(max_workers=2) as procs:
        assert executor_workers(procs) == 2
    assert executor_workers(None) is None
    assert executor_workers(_Plain()) is None


def test_given_executor_is_used_and_left_open():
    with ThreadPoolExecutor(max_workers=2) as threads:
        with start_pool(executor=threads, workers=5) as pool:
            assert pool is threads
        assert threads.submit(sum, [1, 2]).result() == 3  # not shut down by start_pool


def test_one_worker_runs_inline():
    with start_pool(workers=1, preload=("json",)) as pool:
        assert pool is None


def test_warm_task_runs_once_per_worker_before_exit():
    seen: list[str] = []
    lock = threading.Lock()

    def warm() -> None:
        with lock:
            seen.append(threading.current_thread().name)

    with ThreadPoolExecutor(max_workers=3) as threads:
        with start_pool(executor=threads, warm=warm):
            pass  # the warm-up thread is joined on exit
        threads.shutdown(wait=True)
    assert len(seen) == 3


@pytest.mark.parametrize("method", ["threads", "forkserver"])
def test_new_pool_has_the_workers_asked(monkeypatch, method):
    monkeypatch.setenv("HEPATOKIT_MP_CONTEXT", method)
    with start_pool(workers=2) as pool:
        assert pool is not None and executor_workers(pool) == 2
        pids = {pool.submit(worker_pid).result() for _ in range(4)}
    assert (pids == {os.getpid()}) == (method == "threads")

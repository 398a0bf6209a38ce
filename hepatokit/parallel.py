"""Map a function over items on any :class:`concurrent.futures.Executor`.

By default a local process pool of ``workers`` processes; with a Dask scheduler address the
Dask distributed client's executor (``Client.get_executor()``). Where a process pool cannot
start safely (a script without an ``if __name__ == "__main__":`` guard, whose re-import by
the workers would start pools again; a daemonic process such as a Dask worker) the pool is a
thread pool instead, and the debug log says why (:func:`start_method`). One item that raises never
crashes the run: its :class:`ItemResult` carries the error text, and the stage turns it into
an ``excluded`` manifest row. A worker process that dies (segfault in a C library on a
corrupt file) is isolated too: its chunk is retried one item at a time.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import logging
import math
import multiprocessing
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from hepatokit.progress import progress_bar

__all__ = [
    "ItemResult",
    "default_workers",
    "executor_workers",
    "make_executor",
    "map_items",
    "start_forkserver",
    "start_method",
    "start_pool",
]

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("hepatokit.parallel")


@dataclass(frozen=True)
class ItemResult(Generic[T, R]):
    """The outcome of ``fn(item)``: ``value`` on success, else ``error`` (one line)."""

    item: T
    value: R | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers() -> int:
    """Workers when none are given: ``HEPATOKIT_WORKERS`` or the usable CPU count."""
    env = os.environ.get("HEPATOKIT_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def executor_workers(executor: Executor | None) -> int | None:
    """How many workers ``executor`` runs: a local process or thread pool says; None when it
    does not (Dask's executor, or no executor at all)."""
    n = getattr(executor, "_max_workers", None)
    return n if isinstance(n, int) else None


def _error_text(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


def _run_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[tuple[Any, str | None]]:
    """Run ``fn`` over a chunk in a worker, catching each item's exception."""
    out: list[tuple[Any, str | None]] = []
    for item in chunk:
        try:
            out.append((fn(item), None))
        except Exception as exc:
            out.append((None, _error_text(exc)))
    return out


@contextlib.contextmanager
def make_executor(
    *,
    workers: int | None = None,
    dask_address: str | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Executor | None]:
    """Yield the executor a run uses; ``None`` means run inline (one worker).

    Parameters
    ----------
    workers
        Local processes; 1 runs inline in this process (no pickling, easiest to debug).
    dask_address
        ``tcp://host:port`` of a Dask scheduler; its client's executor is used instead.
    preload
        Modules the forkserver imports once, before it forks the workers, so that each worker
        starts with them loaded instead of importing them itself (the start-up of a short
        parallel stage). Only takes effect if this process has no forkserver running yet.
    """
    if dask_address:
        from distributed import Client

        with Client(dask_address) as client:
            yield client.get_executor()
        return
    n = default_workers() if workers is None else workers
    if n <= 1:
        yield None
        return
    method = start_method()
    if method == "threads":
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="hepatokit") as threads:
            yield threads
        return
    ctx = multiprocessing.get_context(method)
    if preload:
        start_forkserver(preload)
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        yield pool


@contextlib.contextmanager
def start_pool(
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    preload: Sequence[str] = (),
    warm: Callable[[], Any] | None = None,
) -> Iterator[Executor | None]:
    """The executor a stage or pipeline runs on, started the one way all of them start it.

    Parameters
    ----------
    executor
        An executor the caller already has: used as is (and not shut down here).
    workers, dask_address
        Otherwise a new one, from :func:`make_executor` (``None``: run inline).
    preload
        Modules the forkserver imports once before it forks the workers (see
        :func:`make_executor`); the server starts here, so a caller that enters this context
        before its own heavy imports overlaps both.
    warm
        A picklable no-op task: one per worker is submitted from a background thread, so that
        the workers start now while the caller goes on (e.g. lists a tree); the thread is
        joined before the pool shuts down.
    """
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(
                make_executor(workers=workers, dask_address=dask_address, preload=preload)
            )
        if executor is not None and warm is not None:
            starter = threading.Thread(
                target=_start_workers, args=(executor, warm, workers), daemon=True
            )
            starter.start()
            stack.callback(starter.join)  # before the pool shuts down, even on an early error
        yield executor


def _start_workers(executor: Executor, warm: Callable[[], Any], workers: int | None) -> None:
    """Submit ``warm`` once per worker so that the pool starts them now (blocks until forked)."""
    for _ in range(executor_workers(executor) or workers or 1):
        try:
            executor.submit(warm)
        except RuntimeError:  # the pool was shut down (the caller stopped early): nothing to do
            return


def start_method() -> str:
    """How local workers start: a multiprocessing start method, or ``"threads"``.

    ``HEPATOKIT_MP_CONTEXT`` decides if set (``forkserver``, ``spawn``, ``fork``, ``threads``).
    Otherwise ``forkserver`` (fast: workers fork from a server that imported the heavy modules
    once), unless that is unsafe here, then ``threads``:

    - this process is daemonic (a process-pool or Dask worker): it may not have children;
    - the call comes from the top-level code of a ``__main__`` script outside its
      ``if __name__ == "__main__":`` block: forkserver and spawn workers re-import the
      script, which would start the pool again while bootstrapping. Add the guard to get
      process workers. Interactive sessions, notebooks and ``python -c`` have no script to
      re-import and keep the forkserver.
    """
    env = os.environ.get("HEPATOKIT_MP_CONTEXT")
    if env:
        return env
    if multiprocessing.current_process().daemon:
        log.debug("daemonic process (a pool or Dask worker): local workers are threads")
        return "threads"
    line = _unguarded_main_line()
    if line is not None:
        log.debug(
            "called from the top level of the __main__ script (line %d) without an "
            "`if __name__ == '__main__':` guard: local workers are threads "
            "(add the guard for process workers)",
            line,
        )
        return "threads"
    return "forkserver"


def _unguarded_main_line() -> int | None:
    """The line of the ``__main__`` script's top-level code that is calling us, if that line
    is outside every ``if __name__ == "__main__":`` block (None: no such caller)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            break
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    line = frame.f_lineno
    guarded = _guarded_lines(os.fspath(path))
    if guarded is None:  # unreadable source: be safe
        return line
    return None if any(a <= line <= b for a, b in guarded) else line


@functools.lru_cache(maxsize=8)
def _guarded_lines(path: str) -> tuple[tuple[int, int], ...] | None:
    """Line spans of the top-level ``if __name__ == "__main__":`` blocks of a script."""
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    spans = []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return tuple(spans)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def _context() -> multiprocessing.context.BaseContext:
    method = start_method()
    return multiprocessing.get_context("spawn" if method == "threads" else method)


def start_forkserver(preload: Sequence[str]) -> None:
    """Start the forkserver that process pools fork their workers from, importing
    ``preload`` modules (it runs while this process goes on, e.g. with its own imports).

    Workers forked from it start with those modules loaded. No effect if the server already
    runs (its modules are fixed then) or the pools use another start method
    (``HEPATOKIT_MP_CONTEXT``).
    """
    if not isinstance(_context(), multiprocessing.context.ForkServerContext):
        return
    from multiprocessing import forkserver

    forkserver.set_forkserver_preload(["__main__", *preload])  # '__main__': the default list
    forkserver.ensure_running()


def map_items(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    chunksize: int | None = None,
    description: str = "working",
) -> list[ItemResult[T, R]]:
    """Apply ``fn`` to every item; results come back in input order.

    Parameters
    ----------
    fn
        A picklable (module-level) function of one item.
    items
        The items; each must be picklable.
    executor
        Any ``concurrent.futures.Executor`` (process pool, Dask's ``client.get_executor()``).
        If None, a local pool of ``workers`` is made for this call (inline when 1).
    chunksize
        Items per task; default splits the work into ~8 tasks per worker, at most 512 items.
    description
        Label of the progress bar.
    """
    items = list(items)
    if not items:
        return []
    if executor is None:
        n = default_workers() if workers is None else workers
        if n <= 1 or len(items) == 1:
            return _map_inline(fn, items, description)
        with make_executor(workers=n) as pool:
            return map_items(fn, items, executor=pool, chunksize=chunksize, description=description)
    n_workers = executor_workers(executor) or workers or default_workers()
    if chunksize is None:
        chunksize = max(1, min(512, math.ceil(len(items) / (n_workers * 8))))
    chunks = [items[i : i + chunksize] for i in range(0, len(items), chunksize)]
    results: list[list[tuple[Any, str | None]] | None] = [None] * len(chunks)
    with progress_bar(description, len(items)) as bar:
        futures: dict[Future[Any], int] = {
            executor.submit(_run_chunk, fn, chunk): i for i, chunk in enumerate(chunks)
        }
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                results[i] = None
            except Exception as exc:  # the task itself failed (unpicklable result, ...)
                results[i] = [(None, _error_text(exc))] * len(chunks[i])
            bar.advance(0, len(chunks[i]))  # type: ignore[arg-type]
    broken = [i for i, r in enumerate(results) if r is None]
    if broken:
        log.warning("a worker process died; retrying %d chunk(s) item by item", len(broken))
        for i in broken:
            results[i] = _retry_isolated(fn, chunks[i])
    out: list[ItemResult[T, R]] = []
    for chunk, res in zip(chunks, results, strict=True):
        assert res is not None
        out.extend(ItemResult(item, v, e) for item, (v, e) in zip(chunk, res, strict=True))
    return out


def _map_inline(fn: Callable[[T], R], items: list[T], description: str) -> list[ItemResult[T, R]]:
    out: list[ItemResult[T, R]] = []
    with progress_bar(description, len(items)) as bar:
        for item in items:
            ((value, error),) = _run_chunk(fn, [item])
            out.append(ItemResult(item, value, error))
            bar.advance(0)  # type: ignore[arg-type]
    return out


def _retry_isolated(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[tuple[Any, str | None]]:
    """Run each item of a chunk in its own one-process pool, so a crash hits only that item."""
    out: list[tuple[Any, str | None]] = []
    ctx = _context()
    for item in chunk:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                out.extend(pool.submit(_run_chunk, fn, [item]).result())
            except BrokenProcessPool:
                out.append((None, "WorkerCrashed: the worker process died on this item"))
    return out

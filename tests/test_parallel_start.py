"""Where local workers can start: plain scripts without a ``__main__`` guard, daemonic
processes and interactive code fall back to a safe start method; the guarded path keeps the
forkserver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hepatokit.parallel import make_executor, map_items, start_method

ROOT = Path(__file__).resolve().parents[1]

_BODY = """\
import logging, os
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
import hepatokit as hk
from hepatokit.parallel import start_method

def run():
    res = hk.map_items(abs, [-1, -2, -3, -4, -5], workers=2)
    print("VALUES", [r.value for r in res], "METHOD", start_method())
"""


def _run_script(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HEPATOKIT_MP_CONTEXT", None)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )


def test_script_without_main_guard_runs_on_threads(tmp_path):
    proc = _run_script(tmp_path, _BODY + "run()\n")
    assert proc.returncode == 0, proc.stderr
    assert "VALUES [1, 2, 3, 4, 5] METHOD threads" in proc.stdout
    assert "without an `if __name__ == '__main__':` guard" in proc.stderr
    assert "bootstrapping" not in proc.stderr


def test_guarded_script_keeps_the_forkserver(tmp_path):
    proc = _run_script(tmp_path, _BODY + 'if __name__ == "__main__":\n    run()\n')
    assert proc.returncode == 0, proc.stderr
    assert "VALUES [1, 2, 3, 4, 5] METHOD forkserver" in proc.stdout


def test_python_c_keeps_the_forkserver():
    code = textwrap.dedent(_BODY) + "run()\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HEPATOKIT_MP_CONTEXT", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "METHOD forkserver" in proc.stdout


def _map_in_daemon(queue) -> None:  # type: ignore[no-untyped-def]
    res = map_items(abs, [-1, -2, -3], workers=2)
    queue.put((start_method(), [r.value for r in res]))


def test_daemonic_process_uses_threads(monkeypatch):
    """A daemonic process (as Dask's nanny starts its workers) may not have children."""
    import multiprocessing

    monkeypatch.delenv("HEPATOKIT_MP_CONTEXT", raising=False)
    assert start_method() == "forkserver"  # pytest's entry point is guarded
    ctx = multiprocessing.get_context("forkserver")
    queue = ctx.Queue()
    proc = ctx.Process(target=_map_in_daemon, args=(queue,), daemon=True)
    proc.start()
    got = queue.get(timeout=60)
    proc.join(timeout=60)
    assert got == ("threads", [1, 2, 3])


@pytest.mark.parametrize("env", ["threads", "spawn"])
def test_environment_variable_decides(monkeypatch, env):
    monkeypatch.setenv("HEPATOKIT_MP_CONTEXT", env)
    with make_executor(workers=2) as pool:
        assert pool is not None
        assert type(pool).__name__ == (
            "ThreadPoolExecutor" if env == "threads" else "ProcessPoolExecutor"
        )
        assert [r.value for r in map_items(abs, [-3, 4], executor=pool)] == [3, 4]

"""Size of an install's site-packages and the time of ``import hepatokit`` in a fresh process.

    python bench/bench_light_install.py --python /path/to/light-venv/bin/python [--runs 7]

The import time is the best of ``--runs`` fresh processes of ``import hepatokit`` less the
best of as many of ``import json`` (the interpreter's own start-up), reported with that
reference in the same run.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path


def best_wall(python: str, code: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def site_packages_mb(python: str) -> float:
    sp = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    total = sum(p.stat().st_size for p in Path(sp).rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    ref = best_wall(args.python, "import json", args.runs)
    hk = best_wall(args.python, "import hepatokit", args.runs)
    heavy = subprocess.run(
        [args.python, "-c", "import sys, hepatokit; print(sorted(m for m in ('torch', "
         "'pydicom', 'pandas', 'pyarrow', 'datasets') if m in sys.modules))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    print(f"site-packages: {site_packages_mb(args.python):.0f} MiB")
    print(f"python -c 'import json' (reference): {ref * 1000:.0f} ms")
    print(f"python -c 'import hepatokit': {hk * 1000:.0f} ms (+{(hk - ref) * 1000:.0f} ms)")
    print(f"heavy modules loaded by the import: {heavy}")


if __name__ == "__main__":
    main()

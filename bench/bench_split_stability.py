"""How many existing groups change split when a cohort grows by 10 % (no ``previous``).

Not a speed benchmark: a stability measurement of :func:`hepatokit.plan_splits` over seeds.

    python bench/bench_split_stability.py [trials]
"""

from __future__ import annotations

import random
import statistics
import sys

import pyarrow as pa

from hepatokit.splits.assign import plan_splits

RATIOS = {"train": 360, "validation": 60, "test_id": 120}


def moved_fraction(n: int, labels: int, trial: int) -> float:
    rng = random.Random(trial)
    rows = [{"g": f"s{trial}-{i}", "y": f"L{rng.randrange(labels)}"} for i in range(n)]
    grown = rows + [
        {"g": f"n{trial}-{i}", "y": f"L{rng.randrange(labels)}"} for i in range(n // 10)
    ]
    kw = dict(group="g", stratify="y", ratios=RATIOS, seed=trial)
    before = plan_splits(pa.Table.from_pylist(rows), **kw).assignment
    after = plan_splits(pa.Table.from_pylist(grown), **kw).assignment
    return sum(after[g] != s for g, s in before.items()) / n


def main(trials: int = 30) -> None:
    for n in (600, 2000):
        for labels in (1, 4):
            fr = [moved_fraction(n, labels, t) for t in range(trials)]
            print(
                f"{n} -> {n + n // 10} groups, {labels} strata, {trials} seeds: "
                f"mean {100 * statistics.mean(fr):.2f} %, max {100 * max(fr):.2f} %"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)

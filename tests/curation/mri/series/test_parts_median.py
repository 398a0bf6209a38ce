"""A part's median (``parts._median``) equals ``np.median`` of the present values, also on the
shortcut for one repeated value (truth: numpy on the same values)."""

from __future__ import annotations

import math
import random

import numpy as np

from hepatokit.curation.mri.series.parts import _median, present


def _numpy(values: list) -> float | None:
    kept = present(values)
    return float(np.median(np.asarray(kept, dtype=float))) if kept else None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.copysign(1, a) == math.copysign(1, b) and (a == b or (a != a and b != b))


def test_median_equals_numpy() -> None:
    rng = random.Random(7)
    cases = [
        [], [None], [float("nan")], [0.0, -0.0], [-0.0, -0.0], [-0.0, 0.0, 0.0], [1e308, 1e308],
        [2.5] * 4, [2.5] * 5, [3, 3], [True, True], [1.1, 1.1, None, ""], [0.1, 0.2, 0.3, 0.4],
    ]  # fmt: skip
    for _ in range(300):
        v = rng.choice([0.0, -0.0, 1.5, 2.0000000000000004, -7.25, 1e-320, 3.0])
        n = rng.randint(1, 6)
        cases.append(
            [v] * n if rng.random() < 0.7 else [rng.choice([v, 1.5, None]) for _ in range(n)]
        )
    for values in cases:
        got = _median([{"k": v} for v in values], "k")
        assert _same(got, _numpy(values)), values

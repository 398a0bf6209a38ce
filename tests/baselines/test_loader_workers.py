"""DataLoader workers default to what the machine has (CPUs less the feeding process)."""

import pytest

from hepatokit.baselines.devices import loader_workers


@pytest.mark.parametrize(
    ("cpus", "requested", "expected"), [(2, 4, 1), (1, 4, 0), (8, 4, 4), (8, 0, 0)]
)
def test_loader_workers_are_capped_by_the_cpus(monkeypatch, cpus, requested, expected):
    monkeypatch.setenv("HEPATOKIT_WORKERS", str(cpus))
    assert loader_workers(requested) == expected

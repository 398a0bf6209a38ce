"""Convert's sidecar bytes are what ``write_json_atomic`` writes (truth: that helper)."""

from __future__ import annotations

from pathlib import Path

from hepatokit import atomic
from hepatokit.curation.mri.convert import run


def test_json_as_the_atomic_helper(tmp_path: Path) -> None:
    obj = {"b": [1.5, None], "a": "Müller", "c": {"z": 1, "y": Path("p")}}
    atomic.write_json_atomic(tmp_path / "x.json", obj, durable=False)
    assert run._json_bytes(obj) == (tmp_path / "x.json").read_bytes()

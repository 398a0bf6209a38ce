"""Run by ``make test`` with the light venv (``pip install .``, no extras), not by pytest.

The light core works without torch, pydicom, openslide or dask: a HepatoBench build's
split, publish, load and a missing extra's message.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

t0 = time.perf_counter()
import hepatokit as hk  # noqa: E402

import_s = time.perf_counter() - t0

for heavy in ("torch", "monai", "openslide", "distributed", "SimpleITK", "nibabel", "dcm2niix"):
    assert importlib.util.find_spec(heavy) is None, f"{heavy} is installed in the light venv"
assert callable(hk.load_hepatobench)

from hepatokit.synthetic.builds import make_fake_hepatobench_build  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    fake = make_fake_hepatobench_build(Path(tmp) / "hb")
    hk.split_build(build=fake.build)
    hk.publish_build(build=fake.build, out=Path(tmp) / "hf", workers=1)
    ds = hk.load_hepatobench(Path(tmp) / "hf")
    sizes = {name: len(split) for name, split in ds.items()}
    assert sum(sizes.values()) > 0, sizes
    print("loaded HepatoBench splits", sizes)

try:
    hk.convert_volumes  # noqa: B018
except hk.DependencyMissingError as exc:
    assert "hepatokit[mri]" in str(exc), exc
else:
    sys.exit("convert_volumes resolved without the mri extra")
try:
    hk.load_encoder("builtin:tiny-cnn")
except hk.DependencyMissingError as exc:
    assert "hepatokit[train]" in str(exc), exc
else:
    sys.exit("load_encoder ran without torch")
assert "torch" not in sys.modules
print(f"light install OK (import hepatokit: {import_s * 1000:.0f} ms)")

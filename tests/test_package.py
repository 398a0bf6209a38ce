"""The public API: every name in ``hepatokit.__all__`` resolves; the import stays light."""

from __future__ import annotations

import subprocess
import sys


def test_every_public_name_resolves():
    import hepatokit

    missing = [n for n in hepatokit.__all__ if getattr(hepatokit, n, None) is None]
    assert not missing
    for stage in ("build_lifs", "build_hepatobench", "split_build", "publish_build",
                  "run_probe", "evaluate_lifs", "quantify_slides", "run_demo"):  # fmt: skip
        assert callable(getattr(hepatokit, stage))


def test_resolving_the_api_imports_no_deep_learning_stack():
    code = (
        "import sys, hepatokit\n"
        "[getattr(hepatokit, n) for n in hepatokit.__all__]\n"
        "print(sorted(m for m in ('torch', 'monai', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

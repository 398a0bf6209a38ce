"""Importing the publish and loader packages pulls no heavy dependency."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, hepatokit.loaders, hepatokit.publish\n"
        "print(sorted(m for m in ('torch', 'monai', 'datasets', 'mlcroissant', 'matplotlib')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

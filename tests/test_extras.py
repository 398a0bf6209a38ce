"""Optional dependencies: a missing package names its extra; a broken one says what broke."""

from __future__ import annotations

import sys

import pytest

from hepatokit._extras import EXTRA_OF, import_optional
from hepatokit.errors import DependencyMissingError


def test_missing_package_names_the_extra(monkeypatch):
    # a package that is not on the path at all: the message must say "not installed" and
    # the hint the extra that pyproject maps it to
    monkeypatch.setitem(EXTRA_OF, "hk_absent_pkg", "train")
    with pytest.raises(DependencyMissingError, match="not installed") as info:
        import_optional("hk_absent_pkg", "encoder 'timm:x'")
    assert "hepatokit[train]" in str(info.value)


def test_installed_but_broken_package_reports_the_cause(tmp_path, monkeypatch):
    # a package that exists but dies at import the way timm / peft die beside a CUDA
    # torchvision and a CPU torch (RuntimeError from torchvision's operator registration,
    # re-raised by a lazy loader as ModuleNotFoundError of another name)
    pkg = tmp_path / "hk_broken_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "try:\n"
        "    raise RuntimeError('operator torchvision::nms does not exist')\n"
        "except RuntimeError as e:\n"
        "    raise ModuleNotFoundError(\"Could not import module 'BloomPreTrainedModel'\","
        " name='BloomPreTrainedModel') from e\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hk_broken_pkg", raising=False)
    with pytest.raises(DependencyMissingError, match="installed but fails to import") as info:
        import_optional(
            "hk_broken_pkg", "region-model encoder 'timm:x'", alternative="builtin:seg-cnn"
        )
    text = str(info.value)
    assert "torchvision::nms" in text  # the root cause is shown, not only the lazy loader's
    assert "download.pytorch.org/whl/cpu" in text  # and what to do about it
    assert "builtin:seg-cnn" in text


def test_importable_package_is_returned():
    import json

    assert import_optional("json", "test") is json

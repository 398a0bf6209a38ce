"""The report pages in a real browser: headless Chromium (Debian package ``chromium``;
``make test`` installs it where it can) opens each page from disk, with no console error,
every image loaded, the funnel's numbers those of the manifest, captions clear of the
images, the funnel's links opening the rows; a screenshot of each section is written to
``reports/screenshots/`` for the record."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.report.chromium import Browser, chromium_binary
from tests.report.page_checks import manifest_truth

BINARY = chromium_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="no chromium (make test installs the Debian package as root)"
)

_FUNNEL = """(() => { const out = {};
  document.querySelectorAll('[data-funnel]').forEach(e => {
    const k = e.dataset.funnel === 'excluded' ? e.dataset.stage + '/' + e.dataset.reason
                                               : e.dataset.funnel;
    out[k] = parseInt(e.textContent, 10); });
  return out; })()"""

_OVERLAPS = """(() => { const bad = [];
  document.querySelectorAll('figure').forEach(f => {
    const cap = f.querySelector('figcaption'), img = f.querySelector('img, .missing');
    if (!cap || !img) return;
    const c = cap.getBoundingClientRect(), i = img.getBoundingClientRect();
    if (c.top < i.bottom - 0.5) bad.push(f.outerHTML.slice(0, 120));
  });
  document.querySelectorAll('.row').forEach(row => {
    const boxes = Array.from(row.children).map(e => e.getBoundingClientRect());
    for (let a = 0; a < boxes.length; a++) for (let b = a + 1; b < boxes.length; b++) {
      const p = boxes[a], q = boxes[b];
      if (p.left < q.right - 0.5 && q.left < p.right - 0.5 &&
          p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) bad.push('overlap in a row');
    }
  });
  return bad; })()"""


@pytest.fixture(scope="module")
def browser():
    b = Browser(BINARY)
    yield b
    b.close()


def _check_page(browser: Browser, build: Path) -> list[str]:
    page = build / "reports" / "index.html"
    browser.open(page)
    assert browser.errors() == []
    n_images = browser.js("document.images.length")
    broken = browser.js(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))"
    )
    assert n_images > 0 and broken == []
    assert browser.js(_FUNNEL) == manifest_truth(build)
    assert browser.js(_OVERLAPS) == []
    # a funnel count opens the rows it counts
    link = browser.js("document.querySelector('a[data-funnel]').getAttribute('href')")
    browser.js("document.querySelector('a[data-funnel]').click()")
    assert browser.js(f"document.getElementById({link[1:]!r}).open") is True
    ids = browser.js("Array.from(document.querySelectorAll('section')).map(s => s.id)")
    shots = build / "reports" / "screenshots"
    for sid in ids:
        browser.screenshot(f"section#{sid}", shots / f"{sid}.png")
        with Image.open(shots / f"{sid}.png") as img:
            assert img.width > 100 and img.height > 20
            assert img.convert("L").getextrema()[0] < img.convert("L").getextrema()[1]  # not blank
    assert browser.errors() == []
    return ids


def test_hepatobench_page_in_chromium(browser: Browser, hb_build: Path) -> None:
    ids = _check_page(browser, hb_build)
    assert {"funnel", "qc", "dedup", "counts", "sample", "splits"} <= set(ids)


def test_lifs_page_in_chromium(browser: Browser, fake_lifs_build, tmp_path: Path) -> None:
    from hepatokit.report import build_report

    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    build_report(build=build)
    ids = _check_page(browser, build)
    assert {"funnel", "volumes", "missing", "splits"} <= set(ids)
    assert browser.js("document.querySelectorAll('figcaption').length") > 0

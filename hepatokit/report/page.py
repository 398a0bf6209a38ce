"""``BUILD/reports/index.html``: the curation report as one self-contained page.

Inline CSS and JavaScript, thumbnails as PNG files beside the page (``reports/pix/``,
cached by content key), no network and no server: it works opened from disk. Subjects,
series and patches appear by pseudonym / content id only; source paths never do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq

from hepatokit.atomic import write_text_atomic
from hepatokit.contracts import read_kind
from hepatokit.contracts.common import MANIFEST_DIR, RECIPE, REPORT_PAGE, REPORTS, SPLITS
from hepatokit.contracts.lifs import SUBJECTS
from hepatokit.errors import BuildStateError
from hepatokit.recipe import Recipe, read_recipe
from hepatokit.report.common import funnel_section, links_section, splits_section
from hepatokit.report.hepatobench import hepatobench_sections
from hepatokit.report.html import esc
from hepatokit.report.lifs import lifs_sections
from hepatokit.report.thumbs import THUMB_DIR, ThumbCache

__all__ = ["ReportResult", "build_report"]

log = logging.getLogger("hepatokit.report")

_CSS = """
:root { --fg:#1d2430; --muted:#5b6576; --line:#d9dee7; --ok:#2e7d32; --bad:#c62828; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       margin: 0; display: grid; grid-template-columns: 220px 1fr; }
nav { position: sticky; top: 0; height: 100vh; overflow: auto; padding: 16px;
      border-right: 1px solid var(--line); background: #f6f8fb; }
nav a { display: block; color: var(--fg); text-decoration: none; padding: 3px 0; }
main { padding: 16px 28px; min-width: 0; }
h1 { margin: 0 0 4px; font-size: 22px; } h2 { border-bottom: 1px solid var(--line);
     padding-bottom: 4px; margin-top: 32px; } h3 { font-size: 15px; margin: 16px 0 6px; }
.meta, .intro, .legend { color: var(--muted); font-weight: normal; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.kept th, tr.kept td { background: #eef7ee; } tr.inputs th { background: #f1f4f9; }
table.matrix td { text-align: center; padding: 1px 6px; }
td.present, span.present { color: var(--ok); }
td.absent, span.absent { color: var(--bad); background: #fdecec; font-weight: bold; }
table.series td { max-width: 60ch; word-break: break-word; }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
figure { margin: 0; width: 132px; display: flex; flex-direction: column; align-items: center; }
figure.overlay { width: auto; max-width: 100%; }
figure img { display: block; max-width: 128px; max-height: 128px; image-rendering: pixelated;
             background: #000; }
figure.overlay img { max-width: 100%; max-height: none; background: none; }
figcaption { font-size: 11px; line-height: 1.3; color: var(--muted); text-align: center;
             margin-top: 4px; word-break: break-all; }
.missing { width: 96px; height: 96px; display: flex; align-items: center; justify-content: center;
           background: #eceff4; color: var(--muted); border: 1px dashed var(--line); }
details { margin: 4px 0; } details > summary { cursor: pointer; }
details:target, .strip:target { outline: 2px solid #f0b400; }
.strip { border-bottom: 1px solid var(--line); padding-bottom: 8px; }
"""

_JS = """
function openTarget() {
  var id = decodeURIComponent(location.hash.slice(1));
  var el = id && document.getElementById(id);
  if (el && el.tagName === 'DETAILS') { el.open = true; }
}
window.addEventListener('hashchange', openTarget);
document.addEventListener('DOMContentLoaded', function () {
  openTarget();
  document.querySelectorAll('a[data-funnel]').forEach(function (a) {
    a.addEventListener('click', function () {
      var el = document.getElementById(a.getAttribute('href').slice(1));
      if (el) { el.open = true; }
    });
  });
});
"""


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote: the page, its sections, the funnel numbers shown,
    thumbnails made and reused, and the seconds it took."""

    path: Path
    sections: list[str]
    funnel: dict[str, Any] | None
    thumbs_made: int
    thumbs_reused: int
    seconds: float
    images: list[str] = field(default_factory=list)


def _split_of(build: Path) -> dict[str, str]:
    path = build / SPLITS
    if not path.is_file():
        return {}
    t = pq.read_table(path, columns=["id", "split"]).to_pydict()
    return dict(zip(t["id"], t["split"], strict=True))


def build_report(
    *,
    build: str | Path,
    recipe: str | Path | Recipe | None = None,
    evaluations: Sequence[str | Path] = (),
    pending: Sequence[str] = (),
) -> ReportResult:
    """(Re)write ``BUILD/reports/index.html``: the curation funnel, the dataset's own
    sections (LiFS: mid-slice strips, missing modalities, series recognition, volume QC,
    registration; HepatoBench: QC and duplicate galleries, counts, a sample per class), the
    splits and links to the build's other reports.

    Parameters
    ----------
    build
        A curated build folder (LiFS or HepatoBench).
    recipe
        Recipe name or path (default: ``BUILD/recipe.yaml``).
    evaluations
        Reports of evaluations on this build (files or folders of ``.md`` / ``.html``) to
        link in, by relative path.
    pending
        Reports the caller writes after the page (paths relative to the build, e.g.
        ``reports/phi_audit.md``: ``build`` audits the page itself once it is written):
        linked whether an earlier run left them or not, so that a re-run, or a run resumed
        after a kill, writes the same page as the first run.

    Raises
    ------
    BuildStateError
        ``build`` is not a build folder.
    ManifestError
        The manifest breaks ``inputs == kept + excluded``.
    """
    t0 = time.perf_counter()
    build = Path(build)
    if not build.is_dir() or not ((build / MANIFEST_DIR).is_dir() or (build / RECIPE).is_file()):
        raise BuildStateError(
            "not a build folder (no manifest/ or recipe.yaml)",
            path=build,
            hint="give the folder `hepatokit build --out` wrote",
        )
    rec = read_recipe(build, recipe, default=read_kind(build))
    reports = build / REPORTS
    reports.mkdir(parents=True, exist_ok=True)
    thumbs = ThumbCache(reports)
    split_of = _split_of(build)
    funnel_html, numbers = funnel_section(build)
    sections: list[tuple[str, str, str]] = [("funnel", "Curation funnel", funnel_html)]
    extra, labels, domains = _dataset_sections(build, rec, reports, thumbs, split_of)
    sections += extra
    sections.append(("splits", "Splits", splits_section(split_of, labels, domains)))
    sections.append(
        (
            "reports",
            "Other reports",
            links_section(
                reports,
                evaluations,
                [PurePosixPath(p).relative_to(REPORTS).as_posix() for p in pending],
            ),
        )
    )
    thumbs.remove_unused()
    path = write_text_atomic(build / REPORT_PAGE, render_page(rec, sections), durable=False)
    seconds = time.perf_counter() - t0
    log.info("report: %s (%d thumbnails made, %d reused, %.1f s)",
             path, thumbs.made, thumbs.reused, seconds)  # fmt: skip
    return ReportResult(
        path=path,
        sections=[sid for sid, _, _ in sections],
        funnel=numbers,
        thumbs_made=thumbs.made,
        thumbs_reused=thumbs.reused,
        seconds=seconds,
        images=sorted(f"{THUMB_DIR}/{n}" for n in thumbs.used),
    )


def _dataset_sections(
    build: Path, rec: Recipe, reports: Path, thumbs: ThumbCache, split_of: dict[str, str]
) -> tuple[list[tuple[str, str, str]], dict[str, str | None], dict[str, str] | None]:
    """The dataset's own sections, each item's label and (LiFS) domain for the splits
    section."""
    if rec.kind == "mri":
        sequences = list(rec.data.get("sequences") or [])
        sections = lifs_sections(build, reports, thumbs, sequences, split_of)
        subjects = (
            pq.read_table(build / SUBJECTS).to_pylist() if (build / SUBJECTS).is_file() else []
        )
        labels = {s["subject_id"]: s.get("stage") for s in subjects}
        domains = {s["subject_id"]: str(s.get("vendor")) for s in subjects}
        return sections, labels, domains
    sections, labels = hepatobench_sections(
        build,
        thumbs,
        list(rec.classes),
        split_of,
        int(rec.seed or 0),
        qc_limits=dict(rec.data.get("qc") or {}),
    )
    return sections, labels, None


def render_page(rec: Recipe, sections: Sequence[tuple[str, str, str]]) -> str:
    """The page: a navigation bar of the sections (id, title, HTML), a title, the recipe's
    name, seed and digest, then the sections in order."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(title)}</a>' for sid, title, _ in sections)
    title = str(rec.data.get("pretty_name") or rec.name)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}: curation report</title><style>{_CSS}</style>"
        f"<script>{_JS}</script></head><body>"
        f"<nav><strong>{esc(rec.name)}</strong>{nav}</nav><main>"
        f"<h1>{esc(title)}: curation report</h1>"
        f'<p class="meta">recipe <code>{esc(rec.name)}</code> · seed {esc(rec.seed)} · '
        f"recipe sha256 <code>{esc(rec.sha256[:12])}</code></p>"
        + "".join(html for _, _, html in sections)
        + "</main></body></html>\n"
    )

"""QC scores on hand-made images and the decisive reason."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc.measures import QC_CHECKS, qc_reason, qc_scores, quality_rank
from tests.curation.patho.helpers import he_patch

CFG = PatchQCConfig()


def _reason(rgb: np.ndarray) -> str | None:
    return qc_reason(qc_scores(rgb).as_dict(), CFG)


def test_clean_patches_pass() -> None:
    reasons = [_reason(he_patch(s)) for s in range(30)]
    assert reasons == [None] * 30


def test_blur_background_stain_pen() -> None:
    rgb = he_patch(1)
    blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(3)))
    assert _reason(blurred) == "blur"

    glass = np.full((150, 150, 3), 242, np.uint8)
    glass[:25] = rgb[:25]  # a sliver of tissue
    assert _reason(glass) == "background"
    assert _reason(np.full((150, 150, 3), 240, np.uint8)) == "background"

    assert _reason(he_patch(2, e_scale=0.0, h_scale=1.5)) == "stain"  # haematoxylin only
    assert _reason(he_patch(2, e_scale=0.3, h_scale=0.3)) == "stain"  # faded

    # eosin over-staining in the H&E plane: eosin_p90 1.26 > 1.0 at 4x the eosin (0.96 at 3x);
    # four times the haematoxylin (dense dark nuclei) is kept
    assert _reason(he_patch(2, e_scale=4.0)) == "stain"
    assert _reason(he_patch(2, e_scale=3.0)) is None
    assert _reason(he_patch(2, h_scale=4.0)) is None

    for colour in [(35, 60, 165), (28, 28, 34), (40, 135, 70)]:
        mask = Image.new("L", (150, 150), 0)
        ImageDraw.Draw(mask).line([(0, 40), (75, 90), (150, 60)], fill=255, width=20)
        alpha = np.asarray(mask, np.float32)[..., None] / 255 * 0.85
        inked = rgb * (1 - alpha) + rgb * np.array(colour) / 255 * alpha
        assert _reason(inked.astype(np.uint8)) == "pen", colour


def test_order_decides_reason() -> None:
    glass = np.full((150, 150, 3), 242, np.uint8)
    scores = qc_scores(glass).as_dict()
    assert qc_reason(scores, CFG) == "background"
    assert set(scores) == set(QC_CHECKS)
    custom = PatchQCConfig(sharpness_min=1e9, order=["blur", "background"])
    assert qc_reason(qc_scores(he_patch(3)).as_dict(), custom) == "blur"


def test_quality_rank_prefers_sharp() -> None:
    rgb = he_patch(5)
    blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1)))
    assert quality_rank(qc_scores(rgb).as_dict()) > quality_rank(qc_scores(blurred).as_dict())

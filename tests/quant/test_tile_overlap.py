"""Overlapping tiles for HepatoQuant's tissue map, against the planted tile classes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hepatokit.quant.tiles import combine_overlapping, overlap_origins
from tests.quant.conftest import HELD_OUT, TRAIN, slide_file

CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


def test_combine_weights_gaussian_offsets():
    # two cells side by side (s = 4); tiles: each cell's own and one shifted by half between them
    xs, ys = np.array([0, 4]), np.array([0, 0])
    tx, ty = np.array([0, 2, 4]), np.array([0, 0, 0])
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    got = combine_overlapping(xs, ys, 4, tx, ty, p)
    e2, e4 = np.exp(-2.0), np.exp(-4.0)  # offset ½ tile on one axis / on both (σ = ¼ tile)
    assert got[0] == pytest.approx([1 / (1 + e2), e2 / (1 + e2)])
    assert got[1] == pytest.approx([0.0, 1.0])
    got = combine_overlapping(np.array([0]), np.array([0]), 4, np.array([0, 2]), np.array([0, 2]),
                              np.array([[1.0, 0.0], [0.0, 1.0]]))  # fmt: skip
    assert got[0] == pytest.approx([1 / (1 + e4), e4 / (1 + e4)])
    # an unsure own tile is overruled by confident neighbours, a confident one is not
    four = (np.array([4, 2, 6, 4, 4]), np.array([4, 4, 4, 2, 6]))
    unsure = np.array([[0.45, 0.55]] + [[0.9, 0.1]] * 4)
    assert combine_overlapping(np.array([4]), np.array([4]), 4, *four, unsure).argmax() == 0
    sure = np.array([[0.05, 0.95]] + [[0.9, 0.1]] * 4)
    assert combine_overlapping(np.array([4]), np.array([4]), 4, *four, sure).argmax() == 1


def test_overlap_origins_half_stride():
    xs, ys = np.array([4]), np.array([4])  # one kept cell of side 4 in a 16×16 slide
    tx, ty = overlap_origins(xs, ys, 4, 0.5, (16, 16))
    got = set(zip(tx.tolist(), ty.tolist(), strict=True))
    # every stride-2 tile sharing area with [4, 8)²: origins 2, 4, 6 on each axis
    assert got == {(x, y) for x in (2, 4, 6) for y in (2, 4, 6)}
    with pytest.raises(ValueError, match="overlap"):
        overlap_origins(xs, ys, 4, 1.0, (16, 16))


def test_overlap_setting_checked():
    from hepatokit.errors import RecipeError
    from hepatokit.quant import QuantSettings

    with pytest.raises(RecipeError, match="tile overlap"):
        QuantSettings(tile_overlap=1.2)
    # the option stays out of the default settings' repr (the run key of the default path)
    assert "tile_overlap" not in repr(QuantSettings())
    assert repr(QuantSettings()) == repr(QuantSettings(tile_overlap=0.5))


class _Cached:
    """Wraps a classifier: probabilities remembered per tile (each tile embedded once);
    ``noise`` > 0 mixes in a seeded per-tile Dirichlet draw (a weak classifier whose errors are
    independent between tiles)."""

    def __init__(self, inner, noise: float = 0.0) -> None:
        self.inner, self.noise, self.memo = inner, noise, {}
        self.classes = inner.classes
        self.identity = {**inner.identity, "noise": noise}

    def probabilities(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        keys = [hashlib.sha1(img.tobytes()).hexdigest() for img in images]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            got = self.inner.probabilities(images[todo], xy[todo])
            for i, p in zip(todo, got, strict=True):
                self.memo[keys[i]] = p
        out = np.array([self.memo[k] for k in keys])
        if self.noise:
            draws = [np.random.default_rng([x, y]).dirichlet(np.full(len(self.classes), 0.5))
                     for x, y in xy.tolist()]  # fmt: skip
            out = (1 - self.noise) * out + self.noise * np.array(draws)
        return out

    def classify(self, images: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return self.probabilities(images, xy).argmax(1)


@pytest.fixture(scope="module")
def probe_classifier(region_slides: Path, tmp_path_factory: pytest.TempPathFactory):
    """A linear head (built-in tiny CNN) fitted on the planted grid tiles of the train slides."""
    from hepatokit.baselines import embed_images, load_encoder, save_head, train_linear_probe
    from hepatokit.curation.patho import tile_slide
    from hepatokit.quant import ProbeTileClassifier

    truth = json.loads((region_slides / "truth.json").read_text())
    planted = {s["name"]: {(t["x"], t["y"]): t["class"] for t in s["tiles"]}
               for s in truth["slides"]}  # fmt: skip
    images, labels = [], []
    for name in TRAIN:
        with tile_slide(slide_file(region_slides, name)) as tiling:
            for x, y, img in tiling.iter_tiles():
                images.append(img)
                labels.append(CLASSES.index(planted[name][(x, y)]))
    encoder = load_encoder("builtin:tiny-cnn")
    head = train_linear_probe(embed_images(encoder, images), np.array(labels), classes=CLASSES,
                              encoder_spec=encoder.spec,
                              encoder_identity=encoder.identity)  # fmt: skip
    path = save_head(head, tmp_path_factory.mktemp("overlap_head") / "head.npz")
    return _Cached(ProbeTileClassifier(encoder.spec, path, "cpu")), planted, truth


def _map_accuracy(clf, slides: list[Path], planted: dict, overlap: float) -> tuple[float, list]:
    from hepatokit.quant import QuantSettings
    from hepatokit.quant.tiles import classify_tiles

    hits = total = 0
    runs = []
    for slide in slides:
        tiles = classify_tiles(slide, clf, QuantSettings(tile_overlap=overlap))
        want = [CLASSES.index(planted[slide.stem][(x, y)])
                for x, y in zip(tiles.xs.tolist(), tiles.ys.tolist(), strict=True)]  # fmt: skip
        hits += int((tiles.labels == np.array(want)).sum())
        total += len(want)
        runs.append(tiles)
    return hits / total, runs


def test_overlap_map_agrees_with_truth_at_least_as_well(region_slides, probe_classifier):
    clf, planted, _ = probe_classifier
    slides = [slide_file(region_slides, n) for n in HELD_OUT]
    acc0, runs0 = _map_accuracy(clf, slides, planted, 0.0)
    acc5, runs5 = _map_accuracy(clf, slides, planted, 0.5)
    assert acc0 > 0.8, acc0  # a real classifier, not chance (1/7)
    assert acc5 >= acc0, (acc0, acc5)
    for a, b in zip(runs0, runs5, strict=True):
        # the same cells and tissue fractions; at f = 0.5 about 4× the tiles are read
        assert np.array_equal(a.xs, b.xs) and np.array_equal(a.ys, b.ys)
        assert np.array_equal(a.tissue_fraction, b.tissue_fraction)
        assert 3 * len(a.xs) < b.n_classified < 5 * len(a.xs)
    # a weak classifier (independent errors per tile): overlap averages them out
    noisy = _Cached(clf.inner, noise=0.6)
    noisy.memo = clf.memo
    n0, _ = _map_accuracy(noisy, slides, planted, 0.0)
    n5, _ = _map_accuracy(noisy, slides, planted, 0.5)
    assert n5 >= n0 + 0.03, (n0, n5)


def test_overlap_composition_consistent(region_slides, probe_classifier, tmp_path):
    from hepatokit.quant import QuantSettings, quantify_slide

    clf, _, truth = probe_classifier
    name = HELD_OUT[0]
    slide = slide_file(region_slides, name)
    regions = region_slides / "annotations" / f"{name}.geojson"
    reports = {f: quantify_slide(slide, classifier=clf, regions=regions, out=tmp_path / str(f),
                                 settings=QuantSettings(tile_overlap=f))
               for f in (0.0, 0.5)}  # fmt: skip
    planted = next(s for s in truth["slides"] if s["name"] == name)["proportions"]
    for region in ("tumor", "non_tumor"):
        a, b = (reports[f]["regions"][region] for f in (0.0, 0.5))
        assert a["n_tiles"] == b["n_tiles"] and sum(b["counts"].values()) == b["n_tiles"]
        assert a["tissue_area_mm2"] == pytest.approx(b["tissue_area_mm2"])
        for c in CLASSES:  # within the 5 points the classifier is held to (test_trained_head)
            assert abs(b["proportion_by_count"][c] - planted[region].get(c, 0.0)) <= 0.05
    assert "tile_overlap" not in reports[0.0] and "n_tiles_classified" not in reports[0.0]
    assert reports[0.5]["tile_overlap"] == 0.5
    assert reports[0.5]["n_tiles_classified"] > reports[0.5]["n_tiles"]
    assert reports[0.0]["run_key"] != reports[0.5]["run_key"]
    # run twice → byte-identical report and tissue map
    quantify_slide(slide, classifier=clf, regions=regions, out=tmp_path / "again",
                   settings=QuantSettings(tile_overlap=0.5))  # fmt: skip
    for f in ("report.json", "tissue_map.png"):
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / "0.5" / f).read_bytes(), f

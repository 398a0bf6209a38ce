"""HepatoQuant: whole-slide tissue composition per tumor / non-tumor region."""

from hepatokit.quant.classifier import ProbeTileClassifier, TileClassifier
from hepatokit.quant.composition import HEADLINE, RegionComposition, compose, tissue_map
from hepatokit.quant.evaluate_regions import RegionEvaluation, evaluate_regions
from hepatokit.quant.region_metrics import MaskScores, mask_scores, region_scores, sum_scores
from hepatokit.quant.regions import (
    GeoJSONRegions,
    MaskRegions,
    NoRegions,
    RegionSource,
    load_regions,
)
from hepatokit.quant.run import QuantSettings, find_region_file, quantify_slide, quantify_slides

__all__ = [
    "HEADLINE",
    "GeoJSONRegions",
    "MaskRegions",
    "MaskScores",
    "NoRegions",
    "ProbeTileClassifier",
    "QuantSettings",
    "RegionComposition",
    "RegionEvaluation",
    "RegionSource",
    "TileClassifier",
    "compose",
    "evaluate_regions",
    "find_region_file",
    "load_regions",
    "mask_scores",
    "quantify_slide",
    "quantify_slides",
    "region_scores",
    "sum_scores",
    "tissue_map",
]

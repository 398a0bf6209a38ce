"""hepatokit.publish: a curated build → a Hugging Face dataset folder (parquet shards with
embedded files, README card, Croissant, checksums) → the Hub.

Heavy dependencies (datasets, huggingface_hub, mlcroissant) are imported inside the
functions that need them.
"""

from hepatokit.publish.build import PublishResult, publish_build
from hepatokit.publish.checksums import verify_checksums, write_checksums
from hepatokit.publish.croissant import build_croissant, check_croissant
from hepatokit.publish.features import hepatobench_features, lifs_features
from hepatokit.publish.push import PushPlan, publish_push
from hepatokit.publish.sections import CardSection, GridSpec, PublishSection

__all__ = [
    "CardSection",
    "GridSpec",
    "PublishResult",
    "PublishSection",
    "PushPlan",
    "build_croissant",
    "check_croissant",
    "hepatobench_features",
    "lifs_features",
    "publish_build",
    "publish_push",
    "verify_checksums",
    "write_checksums",
]

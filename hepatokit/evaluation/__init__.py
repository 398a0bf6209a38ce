"""hepatokit.evaluation: metrics, DeLong, bootstrap CIs, collapse flags, LiFS/HepatoBench reports.

No torch import here or below: scoring a submission needs numpy, scipy, scikit-learn,
pandas and matplotlib only. See ``docs/evaluation.md``.
"""

from hepatokit.evaluation.aggregate import (
    RESULT_COLUMNS,
    aggregate_scores,
    ood_drop,
    read_results,
    validate_results,
)
from hepatokit.evaluation.binary import (
    BINARY_METRICS,
    binary_metrics,
    fast_auc,
    majority_rate,
    roc_auc,
    roc_curve_points,
)
from hepatokit.evaluation.bootstrap import (
    ConfidenceInterval,
    binary_bootstrap,
    bootstrap_ci,
    percentile_interval,
    stratified_resample_indices,
)
from hepatokit.evaluation.collapse import CollapseFlag, collapse_flag, collapse_pattern
from hepatokit.evaluation.delong import (
    DeLongResult,
    delong_auc_variance,
    delong_test,
    delong_unpaired_test,
)
from hepatokit.evaluation.hepatobench import (
    evaluate_hepatobench,
    read_hepatobench_truth,
    read_predictions,
)
from hepatokit.evaluation.hepatobench_report import HepatoBenchReport
from hepatokit.evaluation.lifs import evaluate_lifs
from hepatokit.evaluation.lifs_report import LifsReport
from hepatokit.evaluation.multiclass import (
    MULTICLASS_METRICS,
    MulticlassReport,
    encode_labels,
    multiclass_bootstrap,
    multiclass_metrics,
)
from hepatokit.evaluation.reader_study import compare_with_readers
from hepatokit.evaluation.submission import (
    SETTINGS,
    Submission,
    read_readers,
    read_submission,
    read_truth,
)
from hepatokit.evaluation.summarize import ResultsSummary, read_factors, summarize_results
from hepatokit.evaluation.tables import lifs_leaderboard

__all__ = [
    "BINARY_METRICS",
    "MULTICLASS_METRICS",
    "RESULT_COLUMNS",
    "SETTINGS",
    "CollapseFlag",
    "ConfidenceInterval",
    "DeLongResult",
    "HepatoBenchReport",
    "LifsReport",
    "MulticlassReport",
    "ResultsSummary",
    "Submission",
    "aggregate_scores",
    "binary_bootstrap",
    "binary_metrics",
    "bootstrap_ci",
    "collapse_flag",
    "collapse_pattern",
    "compare_with_readers",
    "delong_auc_variance",
    "delong_test",
    "delong_unpaired_test",
    "encode_labels",
    "evaluate_hepatobench",
    "evaluate_lifs",
    "fast_auc",
    "lifs_leaderboard",
    "majority_rate",
    "multiclass_bootstrap",
    "multiclass_metrics",
    "ood_drop",
    "percentile_interval",
    "read_factors",
    "read_hepatobench_truth",
    "read_predictions",
    "read_readers",
    "read_results",
    "read_submission",
    "read_truth",
    "roc_auc",
    "roc_curve_points",
    "stratified_resample_indices",
    "summarize_results",
    "validate_results",
]

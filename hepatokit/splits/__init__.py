"""hepatokit.splits: grouped, stratified ID/OOD splits, the split report, the leakage audit."""

from hepatokit.splits.assign import (
    SplitPlan,
    assign_splits,
    group_hash,
    plan_splits,
    splits_from_column,
)
from hepatokit.splits.grouping import grouping_warnings
from hepatokit.splits.leakage import audit_leakage
from hepatokit.splits.leaks import LeakageFinding, LeakageReport, find_leaks
from hepatokit.splits.policy import SplitPolicy, normalise_ratios, split_policy
from hepatokit.splits.rounding import controlled_round
from hepatokit.splits.stage import SplitResult, split_build

__all__ = [
    "LeakageFinding",
    "LeakageReport",
    "SplitPlan",
    "SplitPolicy",
    "SplitResult",
    "assign_splits",
    "audit_leakage",
    "controlled_round",
    "find_leaks",
    "group_hash",
    "grouping_warnings",
    "normalise_ratios",
    "plan_splits",
    "split_build",
    "split_policy",
    "splits_from_column",
]

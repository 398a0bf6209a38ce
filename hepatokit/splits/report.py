"""The split report: counts per split × class × domain, subtask labels, balance, stability.

``BUILD/reports/splits.md`` (markdown tables) and ``splits.png`` (stacked bars of the class,
domain and binary-label counts per split). The majority-class rate of each test split is
printed because it is what a collapsed model (one that always predicts the majority class)
scores on it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepatokit.atomic import atomic_path, write_text_atomic
from hepatokit.splits.assign import SplitPlan
from hepatokit.splits.policy import SplitPolicy

__all__ = ["Balance", "SplitSummary", "summarise", "write_split_report"]

NONE = "(none)"


@dataclass(frozen=True)
class Balance:
    """Worst absolute deviation (fraction) of a proportion in an ID split from the ID whole."""

    column: str
    level: str  # "rows" or "groups"
    deviation: float
    split: str | None
    value: str | None


@dataclass
class SplitSummary:
    """Everything the report shows, computed from the split table."""

    splits: list[str]
    rows: dict[str, int]
    groups: dict[str, int]
    target_groups: dict[str, float]
    classes: list[str]
    domains: list[str]
    by_class: dict[str, Counter[str]]
    by_domain: dict[str, Counter[str]]
    by_class_domain: dict[tuple[str, str], Counter[str]]
    binary: dict[str, dict[str, Counter[str]]]
    balance: list[Balance] = field(default_factory=list)


def _text(v: object) -> str:
    return NONE if v is None else str(v)


def _worst(
    counts: dict[str, Counter[str]], id_splits: Sequence[str], column: str, level: str
) -> Balance:
    total: Counter[str] = Counter()
    for s in id_splits:
        total.update(counts.get(s, Counter()))
    n = sum(total.values())
    worst = Balance(column, level, 0.0, None, None)
    if not n:
        return worst
    for s in id_splits:
        c = counts.get(s, Counter())
        m = sum(c.values())
        if not m:
            continue
        for v in sorted(total):
            dev = abs(c[v] / m - total[v] / n)
            if dev > worst.deviation + 1e-12:
                worst = Balance(column, level, dev, s, v)
    return worst


def summarise(
    rows: list[dict[str, object]], plan: SplitPlan, policy: SplitPolicy, classes: Sequence[str] = ()
) -> SplitSummary:
    """Counts and balance of a split table (``rows``: dicts with ``split`` and the columns)."""
    names = plan.split_names
    label, domain = policy.stratify, policy.domain
    seen_classes = {_text(r.get(label)) for r in rows} if label else set()
    ordered = [c for c in classes if c in seen_classes]
    ordered += sorted(seen_classes - set(ordered))
    domains = sorted({_text(r.get(domain)) for r in rows}) if domain else []
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    by_domain: dict[str, Counter[str]] = defaultdict(Counter)
    by_cd: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    binary: dict[str, dict[str, Counter[str]]] = {
        b: defaultdict(Counter) for b in policy.binary_labels
    }
    n_rows: Counter[str] = Counter()
    group_sets: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        s = str(r["split"])
        n_rows[s] += 1
        group_sets[s].add(str(r[policy.group]))
        cls = _text(r.get(label)) if label else NONE
        dom = _text(r.get(domain)) if domain else NONE
        by_class[s][cls] += 1
        by_domain[s][dom] += 1
        by_cd[(s, dom)][cls] += 1
        for b in policy.binary_labels:
            if b in r:
                binary[b][s][_text(r.get(b))] += 1
    id_names = list(plan.weights)
    n_id = sum(len(group_sets[s]) for s in id_names)
    targets = {s: float(w) * n_id for s, w in plan.weights.items()}
    # group-level proportions use each group's majority label / domain
    g_class: dict[str, Counter[str]] = defaultdict(Counter)
    g_domain: dict[str, Counter[str]] = defaultdict(Counter)
    for g, s in plan.assignment.items():
        info = plan.groups[g]
        g_class[s][_text(info.label)] += 1
        g_domain[s][_text(info.domain)] += 1
    balance = []
    if label:
        balance += [
            _worst(by_class, id_names, label, "rows"),
            _worst(g_class, id_names, label, "groups"),
        ]
    if domain:
        balance += [
            _worst(by_domain, id_names, domain, "rows"),
            _worst(g_domain, id_names, domain, "groups"),
        ]
    return SplitSummary(
        splits=names,
        rows={s: n_rows[s] for s in names},
        groups={s: len(group_sets[s]) for s in names},
        target_groups=targets,
        classes=ordered,
        domains=domains,
        by_class=dict(by_class),
        by_domain=dict(by_domain),
        by_class_domain=dict(by_cd),
        binary={b: dict(v) for b, v in binary.items()},
        balance=balance,
    )


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in body]
    return lines


def _majority_rate(counts: Counter[str]) -> tuple[str, float]:
    labelled = {k: v for k, v in counts.items() if k != NONE}
    n = sum(labelled.values())
    if not n:
        return NONE, float("nan")
    best = max(labelled.values())
    top = min(k for k, v in labelled.items() if v == best)
    return top, best / n


def render_markdown(
    summary: SplitSummary,
    plan: SplitPlan,
    policy: SplitPolicy,
    stability: Sequence[str],
    warnings: Sequence[str] = (),
) -> str:
    """The markdown report (deterministic text)."""
    lines = ["# Splits", "", *_method_lines(plan, policy)]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- **warning**: {w}" for w in warnings]
    lines += _count_sections(summary, plan, policy)
    lines += _majority_section(summary, policy)
    lines += _balance_section(summary)
    lines += ["", "## Stability", ""] + [f"- {s}" for s in stability]
    return "\n".join(lines) + "\n"


def _method_lines(plan: SplitPlan, policy: SplitPolicy) -> list[str]:
    """How the splits were made: method, seed, group, strata, OOD rule, ratios."""
    lines = [f"- method: {plan.method}; seed {plan.seed}"]
    lines.append(f"- group column: `{policy.group}` (a group is never cut)")
    if policy.stratify:
        lines.append(
            f"- stratified by: `{policy.stratify}`"
            + (f" × `{policy.domain}`" if policy.domain else "")
        )
    if plan.ood_split:
        lines.append(
            f"- out-of-distribution: `{policy.domain}` ∈ {{{', '.join(policy.ood_domains)}}}"
            f" → `{plan.ood_split}`"
        )
    if not plan.method.startswith("predefined"):
        ratio_text = " : ".join(f"{s} {float(w):.3f}" for s, w in plan.weights.items())
        lines.append(f"- in-distribution ratios: {ratio_text}")
    return lines


def _count_sections(summary: SplitSummary, plan: SplitPlan, policy: SplitPolicy) -> list[str]:
    """Groups and rows per split, then the class, domain and binary-label counts."""
    lines = ["", "## Groups and rows per split", ""]
    body = []
    for s in summary.splits:
        target = summary.target_groups.get(s)
        t = (
            f"{target:.1f}"
            if target is not None and not plan.method.startswith("predefined")
            else "–"
        )
        body.append([s, summary.groups[s], t, summary.rows[s]])
    lines += _table(["split", "groups", "target groups", "rows"], body)
    if policy.stratify:
        lines += ["", f"## `{policy.stratify}` per split (rows)", ""]
        lines += _table(
            ["split", *summary.classes, "total"],
            [
                [
                    s,
                    *[summary.by_class.get(s, Counter())[c] for c in summary.classes],
                    summary.rows[s],
                ]
                for s in summary.splits
            ],
        )
    if policy.domain:
        lines += ["", f"## `{policy.domain}` per split (rows)", ""]
        lines += _table(
            ["split", *summary.domains],
            [
                [s, *[summary.by_domain.get(s, Counter())[d] for d in summary.domains]]
                for s in summary.splits
            ],
        )
        if policy.stratify:
            lines += ["", f"## split × `{policy.domain}` × `{policy.stratify}` (rows)", ""]
            body = [
                [s, d, *[summary.by_class_domain[(s, d)][c] for c in summary.classes]]
                for s in summary.splits
                for d in summary.domains
                if (s, d) in summary.by_class_domain
            ]
            lines += _table(["split", policy.domain, *summary.classes], body)
    for b, per_split in summary.binary.items():
        values = sorted({v for c in per_split.values() for v in c})
        lines += ["", f"## `{b}` per split", ""]
        lines += _table(
            ["split", *values],
            [[s, *[per_split.get(s, Counter())[v] for v in values]] for s in summary.splits],
        )
    return lines


def _majority_section(summary: SplitSummary, policy: SplitPolicy) -> list[str]:
    """What a collapsed model scores on each test split (empty without labels or tests)."""
    tests = [s for s in summary.splits if s.startswith("test")]
    if not tests or not (policy.stratify or summary.binary):
        return []
    lines = ["", "## Majority-class rate of the test splits", ""]
    lines.append(
        "What a collapsed model that always predicts the majority class scores (accuracy)."
    )
    lines.append("")
    body = []
    for s in tests:
        if policy.stratify:
            top, rate = _majority_rate(summary.by_class.get(s, Counter()))
            body.append([s, policy.stratify, top, f"{rate:.3f}"])
        for b, per_split in summary.binary.items():
            top, rate = _majority_rate(per_split.get(s, Counter()))
            body.append([s, b, top, f"{rate:.3f}"])
    return lines + _table(["split", "label", "majority", "rate"], body)


def _balance_section(summary: SplitSummary) -> list[str]:
    """The worst deviation of each proportion in the ID splits (empty without any)."""
    if not summary.balance:
        return []
    lines = ["", "## Balance of the in-distribution splits", ""]
    lines.append(
        "Worst absolute deviation of a proportion in one split from the in-distribution whole."
    )
    lines.append("")
    body = [
        [b.column, b.level, f"{100 * b.deviation:.2f} pp", b.split or "–", b.value or "–"]
        for b in summary.balance
    ]
    return lines + _table(["column", "level", "worst deviation", "split", "value"], body)


def _stack(
    ax: object,
    splits: Sequence[str],
    counts: dict[str, Counter[str]],
    keys: Sequence[str],
    title: str,
) -> None:
    bottom = np.zeros(len(splits))
    cmap = __import__("matplotlib").colormaps["tab10"]
    for i, k in enumerate(keys):
        values = np.array([counts.get(s, Counter())[k] for s in splits], dtype=float)
        ax.bar(splits, values, bottom=bottom, label=k, color=cmap(i % 10))  # type: ignore[attr-defined]
        bottom += values
    ax.set_title(title)  # type: ignore[attr-defined]
    if keys:  # an empty build (everything excluded) has nothing to label
        ax.legend(fontsize=7, frameon=False)  # type: ignore[attr-defined]
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)  # type: ignore[attr-defined]


def render_png(summary: SplitSummary, policy: SplitPolicy, path: Path) -> None:
    """Stacked bars: class, domain and binary labels per split (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[dict[str, Counter[str]], list[str], str]] = []
    if policy.stratify:
        panels.append((summary.by_class, summary.classes, f"{policy.stratify} per split"))
    if policy.domain:
        panels.append((summary.by_domain, summary.domains, f"{policy.domain} per split"))
    for b, per_split in summary.binary.items():
        panels.append(
            (per_split, sorted({v for c in per_split.values() for v in c}), f"{b} per split")
        )
    if not panels:
        panels.append(
            (
                {s: Counter({"rows": summary.rows[s]}) for s in summary.splits},
                ["rows"],
                "rows per split",
            )
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (counts, keys, title) in zip(axes[0], panels, strict=True):
        _stack(ax, summary.splits, counts, keys, title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def write_split_report(
    reports: Path,
    rows: list[dict[str, object]],
    plan: SplitPlan,
    policy: SplitPolicy,
    *,
    classes: Sequence[str] = (),
    stability: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> SplitSummary:
    """Write ``reports/splits.md`` and ``reports/splits.png``; return the summary."""
    summary = summarise(rows, plan, policy, classes)
    write_text_atomic(
        reports / "splits.md", render_markdown(summary, plan, policy, stability, warnings)
    )
    render_png(summary, policy, reports / "splits.png")
    return summary

"""Reading and validating LiFS truth, submissions and reader scores.

Every problem names the file and the line (line 1 is the header), and all problems of a
file are reported together, so a team fixes its submission in one round.

Submission (2025, official): ``Case,Setting,Subtask1_prob_S4,Subtask2_prob_S1`` with
``Setting`` ∈ {Contrast, NonContrast}; the 2024 format ``Case,Task1_prob_S4,Task2_prob_S1``
(no setting) is accepted and scored as one setting (``legacy_setting``, default Contrast).
A submission may cover one setting or both; a covered setting must list every test case.

Reader scores: ``Case,Reader,score`` (one ordinal score per case, e.g. a 7-point fibrosis
scale, used for both subtasks) or ``Case,Reader,Subtask1_score,Subtask2_score``; optional
``Setting`` column (a reader who read only the non-contrast images scores only that track;
without the column a reader's scores apply to both tracks). Higher score = more fibrosis,
i.e. more likely S4 (Subtask 1) and more likely significant fibrosis S2–S4 (Subtask 2).
Readers may skip cases: comparisons use the case-aligned cohort.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hepatokit.errors import DataFormatError, SubmissionError

__all__ = [
    "DOMAINS",
    "SETTINGS",
    "Submission",
    "read_readers",
    "read_submission",
    "read_truth",
    "submission_problems",
]

SETTINGS: tuple[str, ...] = ("Contrast", "NonContrast")
DOMAINS: tuple[str, ...] = ("ID", "OOD")
FORMAT_2025 = ("Case", "Setting", "Subtask1_prob_S4", "Subtask2_prob_S1")
FORMAT_2024 = ("Case", "Task1_prob_S4", "Task2_prob_S1")
TRUTH_COLUMNS = ("Case", "split", "domain", "stage", "cirrhosis", "significant_fibrosis")
_MAX_LISTED = 20


@dataclass(frozen=True)
class Submission:
    """A validated submission: ``table`` has ``Case, Setting, p_s4, p_s1`` (floats)."""

    method: str
    path: Path
    format: str
    table: pd.DataFrame

    @property
    def settings(self) -> tuple[str, ...]:
        return tuple(s for s in SETTINGS if (self.table["Setting"] == s).any())


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataFormatError(f"{what} not found", path=path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise SubmissionError(f"{what} is empty", path=path) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{what} is not a readable CSV: {exc}", path=path) from exc
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    return table.apply(lambda col: col.str.strip())


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read ``private/test_truth.csv`` (docs/contracts.md), indexed by ``Case``.

    Returns columns ``split, domain, stage, cirrhosis, significant_fibrosis`` (int 0/1).
    """
    p = Path(path)
    table = _read_csv(p, "truth file")
    missing = [c for c in TRUTH_COLUMNS if c not in table.columns]
    if missing:
        raise DataFormatError(
            f"truth file lacks column(s) {', '.join(missing)}",
            path=p,
            hint=f"expected: {','.join(TRUTH_COLUMNS)} (hepatokit publish --withhold-test-labels)",
        )
    problems: list[str] = []
    for col in ("cirrhosis", "significant_fibrosis"):
        bad = ~table[col].isin(["0", "1"])
        for i in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(f"line {i + 2}: {col} must be 0 or 1, got {table[col].iloc[i]!r}")
    bad_dom = ~table["domain"].isin(DOMAINS)
    for i in np.flatnonzero(bad_dom.to_numpy())[:5]:
        problems.append(f"line {i + 2}: domain must be ID or OOD, got {table['domain'].iloc[i]!r}")
    dup = table["Case"].duplicated(keep="first")
    for i in np.flatnonzero(dup.to_numpy())[:5]:
        problems.append(f"line {i + 2}: duplicated Case {table['Case'].iloc[i]!r}")
    if problems:
        raise DataFormatError("invalid truth file: " + "; ".join(problems), path=p)
    out = table.set_index("Case")[list(TRUTH_COLUMNS[1:])].copy()
    for col in ("cirrhosis", "significant_fibrosis"):
        out[col] = out[col].astype(int)
    return out


def _line_of(problem: str) -> int:
    """Sort key: the line number a problem names (problems without one go last)."""
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 1 << 30


def _probability_problems(values: pd.Series, column: str) -> tuple[pd.Series, list[str]]:
    num = pd.to_numeric(values, errors="coerce")
    problems: list[str] = []
    for i in np.flatnonzero(num.isna().to_numpy()):
        problems.append(f"line {i + 2}: {column} {values.iloc[i]!r} is not a number")
    out_of_range = (num < 0) | (num > 1)
    for i in np.flatnonzero(out_of_range.to_numpy()):
        problems.append(f"line {i + 2}: {column} {values.iloc[i]} is outside [0, 1]")
    return num.astype(float), problems


def read_submission(
    path: str | Path,
    *,
    cases: Collection[str],
    legacy_setting: str = "Contrast",
    method: str | None = None,
) -> Submission:
    """Read and validate one LiFS submission CSV.

    Parameters
    ----------
    path
        The CSV (2025 or 2024 format, see the module docstring).
    cases
        The test cases (truth ``Case`` ids); every covered setting must list all of them.
    legacy_setting
        Setting assigned to a 2024-format file.
    method
        Method name (default: the file stem).

    Raises
    ------
    SubmissionError
        Naming the file and every offending line: missing columns, empty file, empty or
        unknown cases, unknown settings, non-numeric or out-of-range probabilities,
        duplicated (Case, Setting) rows, and test cases missing from a covered setting.
    """
    p = Path(path)
    fmt, df = _standard_columns(_read_csv(p, "submission"), p, legacy_setting)
    if df.empty:
        raise SubmissionError("the submission has a header but no rows", path=p)
    df, problems = submission_problems(df, set(cases))
    if problems:
        problems.sort(key=_line_of)
        more = len(problems) - _MAX_LISTED
        listed = problems[:_MAX_LISTED] + ([f"… and {more} more"] if more > 0 else [])
        raise SubmissionError(
            f"{len(problems)} problem(s):\n    " + "\n    ".join(listed),
            path=p,
            hint="fix these lines; the other submissions were scored",
        )
    return Submission(method=method or p.stem, path=p, format=fmt, table=df)


def _standard_columns(
    table: pd.DataFrame, path: Path, legacy_setting: str
) -> tuple[str, pd.DataFrame]:
    """``(format, Case/Setting/p_s4/p_s1 table)`` of a 2025 or 2024 submission (still text)."""
    cols = set(table.columns)
    if set(FORMAT_2025) <= cols:
        df = table.loc[:, list(FORMAT_2025)].copy()
        df.columns = ["Case", "Setting", "p_s4", "p_s1"]
        return "2025", df
    if set(FORMAT_2024) <= cols:
        df = table.loc[:, list(FORMAT_2024)].copy()
        df.columns = ["Case", "p_s4", "p_s1"]
        df.insert(1, "Setting", legacy_setting)
        return "2024", df
    raise SubmissionError(
        f"unknown columns {', '.join(table.columns) or '(none)'}",
        path=path,
        hint=f"expected {','.join(FORMAT_2025)} (or the 2024 {','.join(FORMAT_2024)})",
    )


def submission_problems(df: pd.DataFrame, cases: Collection[str]) -> tuple[pd.DataFrame, list[str]]:
    """Validate a standard-column submission table (pure: no file).

    Returns the table with float probabilities and the problems, each naming its line
    (line 1 is the header) in the order they were found: cases, settings, probabilities,
    duplicated ``(Case, Setting)`` rows, then test cases missing from a covered setting.
    """
    df = df.copy()
    problems: list[str] = []
    known = set(cases)
    for i, case in enumerate(df["Case"].tolist()):
        if not case:
            problems.append(f"line {i + 2}: empty Case")
        elif case not in known:
            problems.append(f"line {i + 2}: unknown Case {case!r} (not a test case)")
    for i, setting in enumerate(df["Setting"].tolist()):
        if setting not in SETTINGS:
            problems.append(
                f"line {i + 2}: unknown Setting {setting!r} (expected Contrast or NonContrast)"
            )
    df["p_s4"], bad4 = _probability_problems(df["p_s4"], "Subtask1_prob_S4")
    df["p_s1"], bad1 = _probability_problems(df["p_s1"], "Subtask2_prob_S1")
    problems += bad4 + bad1
    first_line: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(df["Case"], df["Setting"], strict=True)):
        if key in first_line:
            problems.append(
                f"line {i + 2}: duplicate of line {first_line[key]} (Case {key[0]!r}, {key[1]})"
            )
        else:
            first_line[key] = i + 2
    for setting in SETTINGS:
        covered = set(df.loc[df["Setting"] == setting, "Case"])
        if not covered:
            continue
        absent = sorted(known - covered)
        if absent:
            shown = ", ".join(absent[:5]) + (" …" if len(absent) > 5 else "")
            problems.append(f"{setting}: {len(absent)} test case(s) missing ({shown})")
    return df, problems


def read_readers(path: str | Path, *, cases: Collection[str]) -> pd.DataFrame:
    """Read reader scores (module docstring) into long form.

    Returns
    -------
    DataFrame
        ``Case, Reader, Setting, subtask, score``; ``Setting`` is ``"*"`` when the file has
        no Setting column (the score applies to both tracks), ``subtask`` is 1 or 2.

    Raises
    ------
    DataFormatError
        Missing columns, unknown cases or settings, non-numeric scores, duplicated rows.
    """
    p = Path(path)
    table = _read_csv(p, "reader file")
    if not {"Case", "Reader"} <= set(table.columns):
        raise DataFormatError(
            "reader file needs columns Case and Reader",
            path=p,
            hint="Case,Reader,score or Case,Reader,Subtask1_score,Subtask2_score[,Setting]",
        )
    if {"Subtask1_score", "Subtask2_score"} <= set(table.columns):
        score_cols = {1: "Subtask1_score", 2: "Subtask2_score"}
    elif "score" in table.columns:
        score_cols = {1: "score", 2: "score"}
    else:
        raise DataFormatError(
            "reader file needs a score column (score, or Subtask1_score and Subtask2_score)",
            path=p,
        )
    setting = table["Setting"] if "Setting" in table.columns else pd.Series("*", table.index)
    problems: list[str] = []
    known = set(cases)
    for i, case in enumerate(table["Case"].tolist()):
        if case not in known:
            problems.append(f"line {i + 2}: unknown Case {case!r}")
    for i, s in enumerate(setting.tolist()):
        if s not in (*SETTINGS, "*"):
            problems.append(f"line {i + 2}: unknown Setting {s!r}")
    frames = []
    for subtask, col in score_cols.items():
        num = pd.to_numeric(table[col], errors="coerce")
        if subtask == 1 or col != score_cols[1]:
            bad = np.flatnonzero(num.isna().to_numpy() & (table[col] != "").to_numpy())
            problems += [
                f"line {int(j) + 2}: {col} {table[col].iloc[int(j)]!r} is not a number" for j in bad
            ]
        frames.append(
            pd.DataFrame(
                {
                    "Case": table["Case"],
                    "Reader": table["Reader"],
                    "Setting": setting,
                    "subtask": subtask,
                    "score": num.astype(float),
                    "line": np.arange(len(table)) + 2,
                }
            )
        )
    long = pd.concat(frames, ignore_index=True)
    dup = long.duplicated(["Case", "Reader", "Setting", "subtask"], keep="first")
    for line in sorted(set(long.loc[dup, "line"].tolist()))[:5]:
        problems.append(f"line {line}: duplicated (Case, Reader, Setting)")
    if problems:
        problems.sort(key=_line_of)
        raise DataFormatError(
            f"invalid reader file, {len(problems)} problem(s): " + "; ".join(problems[:10]),
            path=p,
        )
    long = long.dropna(subset=["score"]).drop(columns="line")
    return long.reset_index(drop=True)

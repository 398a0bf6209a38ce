"""The identifier audit's result and its report (``phi_audit.json`` and ``phi_audit.md``,
masked values only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.identifier_audit.values import SkippedValue

__all__ = [
    "REPORT_FILES",
    "IdentifierAuditResult",
    "IdentifierHit",
    "report_markdown",
    "write_report",
]

#: the report's files, written into the report folder
REPORT_FILES = ("phi_audit.json", "phi_audit.md")


@dataclass(frozen=True)
class IdentifierHit:
    """One identifying value found in one file (``value`` masked)."""

    file: str
    tag: str
    value: str
    where: str


@dataclass
class IdentifierAuditResult:
    """Audit outcome: ``ok`` when no hit."""

    values: int
    files_scanned: int
    bytes_scanned: int
    hits: list[IdentifierHit] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[SkippedValue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.hits

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (masked values only)."""
        return {
            "ok": self.ok,
            "values": self.values,
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "hits": [asdict(h) for h in self.hits],
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": [asdict(s) for s in self.skipped_examples],
        }


def report_markdown(result: IdentifierAuditResult, *, title: str = "PHI audit") -> str:
    """The Markdown report of ``result``: counts, PASS/FAIL, hits and skipped examples."""
    lines = [
        f"# {title}",
        "",
        f"- identifying values looked for: {result.values}",
        f"- files scanned: {result.files_scanned} "
        f"({result.bytes_scanned} characters of decoded text)",
        f"- hits: {len(result.hits)} → {'PASS' if result.ok else 'FAIL'}",
        f"- values skipped: {sum(result.skipped.values())}"
        + "".join(f"; {reason} {n}" for reason, n in sorted(result.skipped.items())),
        "",
    ]
    if result.hits:
        lines += ["| file | origin | value (masked) | where |", "|---|---|---|---|"]
        lines += [f"| {h.file} | {h.tag} | {h.value} | {h.where} |" for h in result.hits]
        lines.append("")
    if result.skipped_examples:
        lines += ["## Skipped values (examples)", "", "| origin | value (masked) | reason |"]
        lines += ["|---|---|---|"]
        lines += [f"| {s.tag} | {s.value} | {s.reason} |" for s in result.skipped_examples]
    return "\n".join(lines) + "\n"


def write_report(
    report_dir: Path, result: IdentifierAuditResult, *, title: str = "PHI audit"
) -> None:
    """``phi_audit.json`` (read by ``publish build``) and ``phi_audit.md``
    (:data:`REPORT_FILES`)."""
    write_json_atomic(report_dir / REPORT_FILES[0], result.to_dict())
    write_text_atomic(report_dir / REPORT_FILES[1], report_markdown(result, title=title))

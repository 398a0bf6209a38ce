"""The curation report: ``BUILD/reports/index.html``, one self-contained page."""

from hepatokit.report.page import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]

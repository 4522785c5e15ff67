"""Self-contained HTML reports (plots embedded as PNG data URIs)."""

from worldclass.report.html import Report

__all__ = ["Report"]

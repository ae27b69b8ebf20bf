"""The run report: one self-contained HTML file per run (``runs/<run_id>/report.html``).

Usage::

    from carrental.report import build_report
    path = build_report("lake", "20240501T060000Z-3f9a1c")

plotly is imported only when a report is built, so that ``carrental status`` and every
other command start quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_report(lake_dir: str | Path, run_id: str, **kwargs: Any) -> Path:
    """Write ``<lake>/runs/<run_id>/report.html`` and return its path."""
    from carrental.report.render import build_report as _build

    return _build(lake_dir, run_id, **kwargs)


__all__ = ["build_report"]

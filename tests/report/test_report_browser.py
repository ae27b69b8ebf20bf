"""Open the reports in headless Chromium (offline) and check what actually renders."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_report_html import CHART_IDS, SECTION_IDS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def failed_dom(chromium, failed_report) -> str:
    return chromium.dump_dom(failed_report)


def chart_block(dom: str, chart_id: str) -> str:
    """The rendered DOM of one chart: from its div to the next chart wrapper."""
    start = dom.index(f'id="{chart_id}"')
    end = dom.find('class="chart"', start)
    return dom[start : end if end != -1 else len(dom)]


def test_every_section_and_chart_renders_offline(failed_dom, failed_report, artifacts_dir):
    dom = failed_dom
    for section in SECTION_IDS:
        assert re.search(rf'<(section|header) id="{section}"', dom), section
    for chart_id in CHART_IDS:
        block = chart_block(dom, chart_id)
        # plotly.js ran (from the embedded bundle, with every host unreachable)
        assert 'class="plot-container plotly"' in block, chart_id
        assert 'class="main-svg"' in block, chart_id
    # the location chart really draws 20 bars
    bars = re.findall(r'<g class="point">', chart_block(dom, "chart-location-revenue"))
    assert len(bars) == 20
    # the execution graph is inline SVG with every state drawn
    assert '<svg id="execution-graph"' in dom
    assert dom.count('class="state state-') == 14
    # nothing external is referenced by the rendered page either
    assert not re.search(r'<(script|img|iframe)[^>]+src="https?:', dom)
    assert not re.search(r'<link[^>]+href="https?:', dom)
    shutil.copy(failed_report, Path(artifacts_dir) / "report-failed-run.html")


def test_failed_run_report_shows_failure(failed_dom):
    dom = failed_dom
    block = dom[dom.index('id="failure-summary"') :]
    block = block[: block.index("</header>")]
    assert "RunDbtBuild" in block and "DbtTestsFailed" in block
    assert re.search(r'data-state="RunDbtBuild" data-outcome="caught"', dom)
    assert re.search(r'data-state="PipelineFailed" data-outcome="failed"', dom)


def test_screenshots(chromium, failed_report, success_report, artifacts_dir):
    for name, report in (("report-failed-run", failed_report), ("report-success", success_report)):
        out = chromium.screenshot(report, Path(artifacts_dir) / f"{name}.png")
        assert out.stat().st_size > 50_000  # a real rendered page, not a blank one

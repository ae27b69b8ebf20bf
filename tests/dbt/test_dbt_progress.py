"""run_dbt streams dbt's JSON events to on_line, and its stdout stays human text."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from dbt_support import DBT_TIMEOUT
from lake_fixtures import build_lake
from rich.console import Console

from carrental import console
from carrental.catalog import crawl
from carrental.dbt_runner import run_dbt
from carrental.progress import DbtProgress

MODEL = "stg_car_rental__overall_statistics"


def test_node_events_stream_to_the_callback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = build_lake(tmp_path / "lake")
    assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    stderr = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=stderr, width=200, force_terminal=False))
    monkeypatch.setattr(console, "MODE", console.OutputMode())
    render = DbtProgress()
    events: list[dict] = []

    def on_line(stream: str, line: str) -> None:
        events.append(json.loads(line))  # every line of a captured run is a dbt JSON event
        render(stream, line)

    result = run_dbt(lake, ["run", "-s", MODEL], on_line=on_line, timeout=DBT_TIMEOUT)

    assert result.returncode == 0, result.stdout[-3000:]
    names = [e["info"]["name"] for e in events if e["data"].get("node_info")]
    assert names == ["LogStartLine", "LogModelResult"]
    assert stderr.getvalue().splitlines()[0].startswith(f"dbt 1/1 OK model {MODEL} (")
    assert stderr.getvalue().splitlines()[-1].startswith("dbt Done. PASS=1 ")
    # stdout is what dbt's text format prints, for error tails in callers
    assert f"1 of 1 OK created sql view model car_rental_analytics.{MODEL}" in result.stdout
    assert not any(line.startswith("{") for line in result.stdout.splitlines())
    # ... and dbt's own file log keeps its default (debug text) format
    first = (lake / ".dbt" / "logs" / "dbt.log").read_text().lstrip().splitlines()[0]
    assert not first.startswith("{")

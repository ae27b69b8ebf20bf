"""The run report as HTML text: self-contained, escaped, masked, and showing the right facts."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import duckdb
import fake_lake
import pytest

from carrental.report import build_report
from carrental.report.charts import location_revenue

SECTION_IDS = (
    "section-summary",
    "section-graph",
    "section-quality",
    "section-kpis",
    "section-timing",
)
CHART_IDS = (
    "chart-rows-by-dataset",
    "chart-reason-codes",
    "chart-location-revenue",
    "chart-vehicle-type",
    "chart-daily",
    "chart-spending-tiers",
    "chart-state-timing",
)


def outcomes(html: str) -> dict[str, str]:
    """state name -> data-outcome, read from the SVG graph."""
    return {
        unescape(name): outcome
        for name, outcome in re.findall(r'data-state="([^"]+)" data-outcome="([^"]+)"', html)
    }


def test_report_written_to_run_folder(lake, failed_report):
    assert failed_report == lake / "runs" / fake_lake.FAILED_RUN / "report.html"
    html = failed_report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for element_id in (*SECTION_IDS, *CHART_IDS, "execution-graph", "kpi-headlines", "dbt-tests"):
        assert f'id="{element_id}"' in html, element_id


def test_report_is_self_contained(failed_report):
    html = failed_report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"<img[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "@import" not in html
    assert not re.search(r"url\(\s*[\"']?https?:", html, re.I)
    # the plotly.js bundle is embedded exactly once
    assert len(re.findall(r"\* plotly\.js v\d", html)) == 1


def test_failed_run_shows_failing_state_and_error(failed_report):
    html = failed_report.read_text(encoding="utf-8")
    block = html[html.index('id="failure-summary"') : html.index("</header>")]
    assert 'class="failing-state">RunDbtBuild<' in block
    assert "DbtTestsFailed" in block
    assert unescape(fake_lake.DBT_CAUSE) in unescape(block)
    assert 'id="run-status" class="badge badge-failed">FAILED<' in html


def test_graph_colours_the_path_taken(failed_report, success_report):
    failed = outcomes(failed_report.read_text(encoding="utf-8"))
    assert failed["VehicleLocationJob"] == "retried"  # failed once, then succeeded
    assert failed["RunDbtBuild"] == "caught"  # failed, handled by Catch -> NotifyFailure
    assert failed["NotifyFailure"] == "succeeded"
    assert failed["PipelineFailed"] == "failed"
    assert failed["PipelineSucceeded"] == "not-run"
    assert failed["VehicleJobFailed"] == "not-run"
    assert failed["ProcessData"] == "succeeded"
    ok = outcomes(success_report.read_text(encoding="utf-8"))
    assert ok["PipelineSucceeded"] == "succeeded"
    assert ok["NotifyFailure"] == "not-run"
    # every state of the ASL (including both Parallel branches) is drawn
    names = set()
    for state_name, state in fake_lake.ASL["States"].items():
        names.add(state_name)
        for branch in state.get("Branches", []):
            names.update(branch["States"])
    assert set(ok) == names


def test_state_durations_and_attempts(failed_report):
    html = failed_report.read_text(encoding="utf-8")
    table = html[html.index('id="state-table"') :]
    row = re.search(r"<tr><td>VehicleLocationJob</td>(.*?)</tr>", table).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    # Task, retried, 70 s of attempts + 0.4 s of scheduling + 0.1 s exit = 70.5 s -> "1 min 10 s"
    assert cells[:5] == ["Task", "retried", "1 min 10 s", "2", "1"]
    assert "SparkJobFailed: executor lost" in cells[5]


def test_pii_is_masked(failed_report):
    html = failed_report.read_text(encoding="utf-8")
    sample = html[html.index('id="quarantine-sample"') : html.index('id="dbt-tests"')]
    assert "INVALID_DATE" in sample and "MALFORMED_ROW" in sample
    assert "U900" in sample  # keys stay readable
    secrets = [value for user in fake_lake.QUARANTINED_USERS for value in user[1:6]]
    secrets += ["Xavier", "Hiddenfield", "xavier.hiddenfield@example.net", "555-0123"]
    for secret in secrets:
        assert secret not in html, secret
        assert secret.lower() not in html.lower(), secret


def test_kpis_and_dbt_results(failed_report):
    html = failed_report.read_text(encoding="utf-8")
    kpis = html[html.index('id="kpi-headlines"') :]
    kpis = kpis[: kpis.index("</div></div></div>")]
    assert "$12,345.67" in kpis
    assert ">990<" in kpis and ">26.5 h<" in kpis
    dbt = html[html.index('id="dbt-tests"') :]
    row = re.search(r"<tr><td>assert_revenue_reconciles</td><td>(\w+)</td><td>(\d+)</td>", dbt)
    assert row and row.groups() == ("fail", "2")
    assert "1 fail, 2 pass" in html


def test_timing_compares_with_previous_run(failed_report, success_report):
    html = failed_report.read_text(encoding="utf-8")
    assert fake_lake.PREVIOUS_RUN in html[html.index('id="timing-previous"') :]
    table = html[html.index('id="timing-table"') :]
    row = re.search(r"<tr><td>VehicleLocationJob</td>(.*?)</tr>", table).group(1)
    # this run 70 + 0.5 s; previous run 50 + 0.5 s
    assert re.findall(r"<td>(.*?)</td>", row) == ["1 min 10 s", "50.5 s", "+20.0 s (+40%)"]
    ok = success_report.read_text(encoding="utf-8")
    assert fake_lake.FAILED_RUN in ok[ok.index('id="timing-previous"') :]


def test_location_chart_top20_and_cumulative_share(lake):
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    cur = con.execute("select * from car_rental_analytics.location_leaderboard")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    con.close()
    fig = location_revenue(rows)
    bars, line = fig.data
    assert len(bars.x) == 20
    assert list(bars.y) == [100.0 * i for i in range(25, 5, -1)]
    assert bars.x[0].startswith("Branch 25")
    total = 100 * sum(range(1, 26))  # 32,500
    assert line.y[0] == pytest.approx(2500 / total * 100)
    assert line.y[-1] == pytest.approx(sum(100 * i for i in range(6, 26)) / total * 100)


def test_values_from_data_are_escaped(tmp_path, asl_path):
    lake = tmp_path / "lake"
    run = "20240601T000000Z-evil00"
    (lake / "runs" / run).mkdir(parents=True)
    evil = "<script>alert('x')</script>"
    (lake / "runs" / run / "execution.json").write_text(
        json.dumps(
            {
                "name": run,
                "status": "FAILED",
                "startDate": "2024-06-01T00:00:00Z",
                "stopDate": "2024-06-01T00:00:05Z",
                "error": evil,
                "cause": evil,
            }
        )
    )
    (lake / "runs" / run / "history.json").write_text(
        json.dumps(
            {
                "events": [
                    {
                        "id": 1,
                        "previousEventId": 0,
                        "timestamp": "2024-06-01T00:00:00Z",
                        "type": "TaskStateEntered",
                        "stateEnteredEventDetails": {"name": evil},
                    },
                    {
                        "id": 2,
                        "previousEventId": 1,
                        "timestamp": "2024-06-01T00:00:04Z",
                        "type": "TaskFailed",
                        "taskFailedEventDetails": {"error": evil, "cause": evil},
                    },
                ]
            }
        )
    )
    html = build_report(lake, run, asl_path=asl_path).read_text(encoding="utf-8")
    assert evil not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_run_that_failed_early_still_gets_a_report(tmp_path):
    """Only execution.json: no history, manifests, dbt, marts or ASL."""
    lake = tmp_path / "lake"
    run = "20240601T000000Z-early0"
    (lake / "runs" / run).mkdir(parents=True)
    (lake / "runs" / run / "execution.json").write_text(
        json.dumps(
            {
                "name": run,
                "status": "FAILED",
                "startDate": "2024-06-01T00:00:00Z",
                "stopDate": "2024-06-01T00:00:01Z",
                "error": "InputError",
                "cause": "users.csv: missing column email",
            }
        )
    )
    html = build_report(lake, run, asl_path=tmp_path / "missing.asl.json").read_text()
    for element_id in SECTION_IDS:
        assert f'id="{element_id}"' in html
    assert "users.csv: missing column email" in html
    assert "No job manifests were written for this run." in html
    assert "dbt did not run for this run." in html


def test_falls_back_to_spark_outputs_when_marts_missing(tmp_path, asl_path):
    lake = tmp_path / "lake"
    run = "20240601T000000Z-spark0"
    (lake / "runs" / run).mkdir(parents=True)
    base = lake / "data" / "processed" / "vehicle_location_performance"
    version = base / "_versions" / run / "location_performance"
    version.mkdir(parents=True)
    (base / "location_performance").symlink_to(version, target_is_directory=True)
    con = duckdb.connect()
    con.execute(
        "copy (select 7 as location_id, 'Harbor Point' as location_name, 'Oakland' as city, "
        "'CA' as state, cast(987.65 as decimal(18,2)) as total_revenue_at_location, "
        f"cast(4 as bigint) as total_transactions_at_location) to '{version}/part-0.parquet' "
        "(format parquet)"
    )
    stats = lake / "data/processed/user_transaction_analysis/overall_transaction_statistics"
    stats.mkdir(parents=True)
    con.execute(
        "copy (select cast(987.65 as decimal(18,2)) as overall_total_revenue, 246.91 as "
        "overall_avg_transaction_value, cast(4 as bigint) as overall_total_transactions, "
        "cast(3 as bigint) as overall_total_unique_users, cast(2 as bigint) as "
        f"overall_total_unique_vehicles_rented) to '{stats}/part-0.parquet' (format parquet)"
    )
    con.close()
    html = build_report(lake, run, asl_path=asl_path).read_text(encoding="utf-8")
    assert 'id="chart-location-revenue" class="plotly-graph-div"' in html
    assert "Harbor Point" in html
    kpis = html[html.index('id="kpi-headlines"') :][:2000]
    assert "$987.65" in kpis
    assert "Spark output tables" in html


@pytest.mark.parametrize(
    "damage",
    ["history.json", "execution.json", "manifests/user_transaction_analysis.json", "corrupt"],
)
def test_tolerates_missing_or_corrupt_run_files(lake, asl_path, tmp_path, damage):
    import shutil

    copy = tmp_path / "lake"
    run_dir = copy / "runs" / fake_lake.FAILED_RUN
    shutil.copytree(lake / "runs" / fake_lake.FAILED_RUN, run_dir)
    if damage == "corrupt":
        (run_dir / "history.json").write_text("{not json", encoding="utf-8")
        (run_dir / "dbt" / "run_results.json").write_text("[1, 2", encoding="utf-8")
    else:
        (run_dir / damage).unlink()
    out = build_report(copy, fake_lake.FAILED_RUN, asl_path=asl_path)
    html = Path(out).read_text(encoding="utf-8")
    for element_id in SECTION_IDS:
        assert f'id="{element_id}"' in html
    if damage == "corrupt":
        assert "could not read history.json" in html


def test_resumed_run_without_spark_jobs_takes_mode_from_the_execution_input(tmp_path, asl_path):
    """A run resumed at RunDbtBuild has no job manifests: the header reads the execution
    input (a JSON string, as DescribeExecution returns it) and says no Spark job ran."""
    lake = fake_lake.build_fake_lake(tmp_path / "lake")
    run_dir = lake / "runs" / fake_lake.SUCCESS_RUN
    for manifest in (run_dir / "manifests").glob("*.json"):
        manifest.unlink()
    execution = json.loads((run_dir / "execution.json").read_text(encoding="utf-8"))
    execution["input"] = json.dumps({"run_id": fake_lake.SUCCESS_RUN, "mode": "incremental"})
    (run_dir / "execution.json").write_text(json.dumps(execution), encoding="utf-8")

    html = build_report(lake, fake_lake.SUCCESS_RUN, asl_path=asl_path).read_text(encoding="utf-8")
    facts = dict(
        re.findall(r'<span class="label">([^<]+)</span><span class="value">([^<]*)</span>', html)
    )
    assert facts["Mode"] == "incremental"
    assert facts["Engine"] == "no Spark job in this run"

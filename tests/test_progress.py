"""SparkProgress / DbtProgress fed with lines recorded from real runs (tests/progress_events/).

The Spark lines are a spark-submit of vehicle_location_performance on a generated 20,000-rental
lake and of user_transaction_analysis on a lake whose users.csv header was broken; the dbt
lines are `dbt build --log-format json` on the catalog fixture lake, green and with the
reconciliation test failing. Expected texts were read off those lines by hand.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
from rich.console import Console

from carrental import console, progress
from carrental.dbt_runner import human_text
from orchestration.executor.bindings import LocalBindings

EVENTS = Path(__file__).parent / "progress_events"
VL = "vehicle_location_performance"


def recorded(name: str) -> list[tuple[str, str]]:
    """``(stream, line)`` pairs: the .txt files are ``<stream> <line>``, the .jsonl dbt's stdout."""
    text = (EVENTS / name).read_text(encoding="utf-8")
    if name.endswith(".jsonl"):
        return [("stdout", line) for line in text.splitlines()]
    return [tuple(line.split(" ", 1)) for line in text.splitlines()]  # type: ignore[misc]


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """console.err writing plain text (not a terminal, as in CI; 80 columns) to a buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, width=80, force_terminal=False))
    monkeypatch.setattr(console, "MODE", console.OutputMode())
    return buffer


def feed(renderer, lines: list[tuple[str, str]]) -> None:
    for stream, line in lines:
        renderer(stream, line)


def test_spark_plain_lines_show_stages_validation_and_outcome(stderr: io.StringIO) -> None:
    with progress.SparkProgress(VL, heartbeat=0) as render:
        feed(render, recorded("spark_vehicle_location_performance.txt"))
    lines = stderr.getvalue().splitlines()
    assert f"{VL} stage 2 (collect at pipeline.py:71): 8/64 tasks" in lines
    assert f"{VL} stage 2 (collect at pipeline.py:71): 64/64 tasks" in lines
    assert f"{VL} stage 42: 23/64 tasks" in lines  # a JVM-internal call site shows no name
    assert f"{VL} stage 79 (parquet): 90/90 tasks" in lines
    assert f"{VL} validated users: 2,000 rows read, 2,000 valid, 0 rejected" in lines
    assert (
        f"{VL} validated rental_transactions: 20,000 rows read, 20,000 valid, 0 rejected" in lines
    )
    assert lines[-1] == (
        f"{VL} succeeded in 121.6s: location_performance 71, vehicle_type_performance 6, "
        "rentals_fact 20,000 rows"
    )
    # 12 stage events, 4 datasets, 1 outcome; job_started and the JVM's own lines are skipped
    assert len(lines) == 17
    assert all(line.startswith(f"{VL} ") for line in lines)
    assert "\x1b" not in stderr.getvalue()


def test_spark_plain_stage_lines_are_throttled(stderr: io.StringIO) -> None:
    with progress.SparkProgress(VL, heartbeat=3600) as render:
        feed(render, recorded("spark_vehicle_location_performance.txt"))
    stage_lines = [line for line in stderr.getvalue().splitlines() if " stage " in line]
    assert stage_lines == [f"{VL} stage 2 (collect at pipeline.py:71): 0/64 tasks"]
    assert stderr.getvalue().count(" validated ") == 4


def test_spark_failed_job_names_the_error(stderr: io.StringIO) -> None:
    job = "user_transaction_analysis"
    with progress.SparkProgress(job) as render:
        feed(render, recorded("spark_user_transaction_analysis_failed.txt"))
    (line,) = stderr.getvalue().splitlines()  # one long line: CI logs get no hard wraps
    assert line.startswith(f"{job} failed (exit 3): InputFileError: dataset 'users'")
    assert "column 'first_name' is missing; found 'firstname' instead (renamed?)" in line


def test_spark_terminal_bars_for_two_parallel_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, width=120, force_terminal=True))
    monkeypatch.setattr(console, "MODE", console.OutputMode())
    stage_2 = [
        x for x in recorded("spark_vehicle_location_performance.txt") if '"stage_id": 2,' in x[1]
    ]
    running, finished = stage_2[:-1], stage_2[-1:]
    errors: list[BaseException] = []

    def job(name: str) -> None:
        try:
            with progress.SparkProgress(name) as render:
                feed(render, running)
                board = progress._BOARD
                bar = next(t for t in board._progress.tasks if t.id == board._tasks[(name, 2)])
                assert (bar.completed, bar.total) == (58, 64)
                feed(render, finished)
                assert (name, 2) not in progress._BOARD._tasks
                feed(render, running[:1])  # a stage left running when the job dies ...
        except BaseException as exc:  # surface assertion errors from the threads
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(name,)) for name in ("job_a", "job_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert progress._BOARD._tasks == {} and progress._BOARD._progress is None  # ... is cleared
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    for name in ("job_a", "job_b"):
        assert f"{name} stage 2 (collect at pipeline.py:71)" in shown


def test_dbt_lines_per_node_and_tally(stderr: io.StringIO) -> None:
    feed(progress.DbtProgress(), recorded("dbt_build_green.jsonl"))
    assert stderr.getvalue().splitlines() == [
        "dbt  42/114 OK model stg_car_rental__overall_statistics (0.43s)",
        "dbt  98/114 PASS unit_test test_mask_email (0.34s)",
        "dbt 101/114 NO-OP exposure pipeline_run_report (0.00s)",
        "dbt Done. PASS=112 WARN=0 ERROR=0 SKIP=0 NO-OP=2 TOTAL=114",
    ]


def test_dbt_failure_skips_and_reasons(stderr: io.StringIO) -> None:
    feed(progress.DbtProgress(), recorded("dbt_build_failed.jsonl"))
    assert stderr.getvalue().splitlines() == [
        "dbt  63/114 FAIL 1 test assert_revenue_and_counts_reconcile (0.07s)",
        "dbt  67/114 SKIP model business_kpis",
        "dbt Failure in test assert_revenue_and_counts_reconcile "
        "(dbt_project/tests/reconciliation/assert_revenue_and_counts_reconcile.sql)",
        "dbt   Got 1 result, configured to fail if != 0",
        "dbt Done. PASS=72 WARN=0 ERROR=1 SKIP=41 NO-OP=0 TOTAL=114",
    ]


@pytest.mark.parametrize("mode", ["quiet", "json"])
@pytest.mark.parametrize("terminal", [False, True])
def test_quiet_and_json_print_nothing(
    monkeypatch: pytest.MonkeyPatch, mode: str, terminal: bool
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, force_terminal=terminal))
    monkeypatch.setattr(console, "MODE", console.OutputMode(**{mode: True}))
    with progress.SparkProgress(VL, heartbeat=0) as render:
        feed(render, recorded("spark_vehicle_location_performance.txt"))
        feed(render, recorded("spark_user_transaction_analysis_failed.txt"))
    for name in ("dbt_build_green.jsonl", "dbt_build_failed.jsonl"):
        feed(progress.DbtProgress(), recorded(name))
    assert buffer.getvalue() == ""
    assert progress._BOARD._progress is None


def test_dbt_stdout_is_rebuilt_as_text() -> None:
    jsonl = (EVENTS / "dbt_build_failed.jsonl").read_text(encoding="utf-8")
    text = human_text(jsonl + "not json: kept as is\n")
    lines = text.splitlines()
    assert lines[0] == (
        "00:50:16  63 of 114 START test assert_revenue_and_counts_reconcile "
        "....................... [RUN]"
    )
    assert "00:50:17    Got 1 result, configured to fail if != 0" in lines
    assert lines[-1] == "not json: kept as is"
    assert not any(line.startswith("{") for line in lines)


def test_local_bindings_pass_the_renderers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import spark_ingest.submit as submit

    seen: dict[str, object] = {}

    def fake_submit(job, lake_dir, run_id, **kwargs):
        seen["spark"] = kwargs["on_line"]
        return subprocess.CompletedProcess([], 0, "", "")

    def fake_run_dbt(lake_dir, args, **kwargs):
        seen["dbt"] = kwargs["on_line"]
        return types.SimpleNamespace(returncode=0, stdout="", failed_nodes=[], run_results=None)

    monkeypatch.setattr(submit, "submit_job", fake_submit)
    fake_runner = types.ModuleType("carrental.dbt_runner")
    fake_runner.run_dbt = fake_run_dbt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "carrental.dbt_runner", fake_runner)
    bindings = LocalBindings(tmp_path, "r-1")
    entry = f"s3://local-lake/artifacts/jobs/{VL}.py"
    bindings.emr_start_job_run({"JobDriver": {"SparkSubmit": {"EntryPoint": entry}}}, None)
    bindings.codebuild_start_build({"ProjectName": "p"}, None)
    assert isinstance(seen["spark"], progress.SparkProgress) and seen["spark"].job == VL
    assert isinstance(seen["dbt"], progress.DbtProgress)

"""The harness's bookkeeping on hand-made inputs: failed repeats, the target lines, the
correctness check, the incremental side's checks, the partial file and the child processes.

Pure Python: nothing here starts Spark, a JVM or spark-submit (the project's jobs, the local
driver and the references' commands are replaced by fakes that write what a job would).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bench import harness
from bench.harness import (
    BASELINE,
    DUCKDB_SQL,
    INCREMENTAL,
    PROJECT,
    PROJECT_DUCKDB,
    TOTAL,
    BenchConfig,
    SideResult,
    build_rows,
    compare_overall,
    render_markdown,
    target_notes,
    total_runs,
)
from spark_ingest.layout import JOBS, VALIDATE_JOB

VLP, UTA = JOBS


def run(wall: float, returncode: int = 0, **extra) -> dict:
    return {
        "wall_s": wall,
        "cpu_s": wall,
        "peak_rss_mb": 100.0,
        "returncode": returncode,
        "rss_method": "x",
        **extra,
    }


# ---------------------------------------------------------------------------- failed repeats


def test_a_repeat_with_a_job_killed_by_a_signal_is_failed() -> None:
    per_job = {
        VALIDATE_JOB: [run(1.0), run(1.0), run(1.0)],
        # repeat 1: killed by SIGKILL (-9), repeat 2: exit 2 then -9 later
        VLP: [run(2.0), run(2.0, -9), run(2.0, 2)],
        UTA: [run(3.0), run(3.0), run(3.0, -9)],
    }
    totals = total_runs(per_job)
    assert [t["returncode"] for t in totals] == [0, -9, 2]
    assert [t["wall_s"] for t in totals] == [6.0, 6.0, 6.0]
    # only the first repeat counts: the median is its 6 s, over 1 repeat
    rows = build_rows({PROJECT: SideResult(PROJECT, "failed", runs=per_job)})
    total = next(row for row in rows if row["side"] == PROJECT and row["job"] == TOTAL)
    assert (total["wall_s"], total["runs_ok"], total["runs"]) == (6.0, 1, 3)


# ---------------------------------------------------------------------------- target lines


def test_a_printed_ratio_never_contradicts_its_verdict() -> None:
    totals = {
        # 29.996 / 10 = 2.9996: "3.00x" would read as met
        BASELINE: {"wall_s": 29.996, "runs": 1},
        PROJECT: {"wall_s": 10.0, "runs": 1},
        # 15.004 / 10 = 1.5004: "1.50x" would read as met
        PROJECT_DUCKDB: {"wall_s": 15.004, "runs": 2},
        DUCKDB_SQL: {"wall_s": 10.0, "runs": 2},
    }
    per_repeat = {
        PROJECT_DUCKDB: [{"wall_s": 15.004, "returncode": 0}, {"wall_s": 14.0, "returncode": 0}],
        DUCKDB_SQL: [{"wall_s": 10.0, "returncode": 0}, {"wall_s": 10.0, "returncode": 0}],
    }
    notes = target_notes(totals, per_repeat)
    assert notes[0] == (
        "speed-up of the project full run over the baseline (all jobs, wall): 2.9996x "
        "(target: >= 3x; not met)"
    )
    assert notes[-1] == (
        "duckdb engine wall / duckdb SQL reference wall (all jobs, wall): 1.5004x "
        "(target: <= 1.5x; not met); per repeat 1.5004x, 1.40x: met in 1 of 2"
    )


def test_a_target_whose_side_has_no_successful_repeat_says_so() -> None:
    totals = {
        # ran, every repeat failed
        PROJECT: {"wall_s": None, "runs": 3},
        INCREMENTAL: {"wall_s": 20.0, "runs": 3},
        # not requested: its targets stay out
        BASELINE: {"wall_s": None, "runs": 0},
        PROJECT_DUCKDB: {"wall_s": None, "runs": 2},
        DUCKDB_SQL: {"wall_s": None, "runs": 2},
    }
    assert target_notes(totals) == [
        "speed-up of incremental +1% over the project full run (all jobs, wall): not measured "
        "(side project had no successful repeat; target: >= 5x)",
        "duckdb engine wall / duckdb SQL reference wall (all jobs, wall): not measured "
        "(sides project_duckdb and duckdb_sql had no successful repeat; target: <= 1.5x)",
    ]


# ---------------------------------------------------------------------------- medians


def minimal_report(rows: list[dict], correctness: dict, notes: list[str]) -> dict:
    return {
        "stamp": "x",
        "config": {"seed": 42, "dirty_fraction": 0.0, "repeats": 3},
        "input": {"rentals": 100, "raw_root": "/raw"},
        "machine": {
            key: "m"
            for key in (
                "cores",
                "cpu_model",
                "memory_gb",
                "loadavg_at_start",
                "java",
                "spark",
                "master",
                "spark_submit",
                "python",
                "duckdb",
                "sqlframe",
                "os",
            )
        },
        "rss_method": ["x"],
        "sides": {},
        "rows": rows,
        "correctness": correctness,
        "notes": notes,
    }


def test_the_report_says_how_many_repeats_a_median_is_over() -> None:
    runs = {
        VLP: [run(10.0), run(30.0, 1), run(14.0)],
        UTA: [run(5.0), run(5.0), run(5.0)],
    }
    rows = build_rows({DUCKDB_SQL: SideResult(DUCKDB_SQL, "failed", runs=runs)})
    by_job = {row["job"]: row for row in rows}
    # the mean of the two good repeats, not the median of three
    assert (by_job[VLP]["wall_s"], by_job[VLP]["runs_ok"], by_job[VLP]["runs"]) == (12.0, 2, 3)
    assert (by_job[UTA]["runs_ok"], by_job[UTA]["runs"]) == (3, 3)
    text = render_markdown(minimal_report(rows, {"sides": {}}, []))
    assert (
        "- duckdb SQL reference, vehicle_location_performance: median of 2 of 3 repeats "
        "(1 failed)" in text
    )
    assert "user_transaction_analysis: median of" not in text
    assert "medians of the successful repeats" in text


def test_fewer_than_three_repeats_add_a_note() -> None:
    assert harness.repeats_note(1) == (
        "--repeats 1: the performance issue asks for at least 3 repeats per side; each median "
        "here is of fewer."
    )
    assert harness.repeats_note(3) is None


# ---------------------------------------------------------------------------- correctness


def overall(revenue: str, transactions: int) -> dict:
    return {"overall_total_revenue": revenue, "overall_total_transactions": transactions}


def test_sides_that_agree_raise_no_mismatch() -> None:
    result = compare_overall(
        {
            PROJECT: overall("635154931.54", 1000),
            PROJECT_DUCKDB: overall("635154931.54", 1000),
            DUCKDB_SQL: overall("635154931.54", 1000),
            # the baseline's float sum, $0.34 off
            BASELINE: overall("635154931.2", 1000),
            # the append case: 10 more rentals worth 123.45
            INCREMENTAL: overall("635155054.99", 1010),
        },
        increment={"appended": True, "rows": 10, "revenue": "123.45"},
    )
    assert result["reference"] == PROJECT
    assert result["mismatches"] == []


def test_a_disagreement_is_a_mismatch() -> None:
    result = compare_overall(
        {
            PROJECT: overall("1000.50", 10),
            PROJECT_DUCKDB: overall("1000.50", 9),
            # the increment not added: the same totals as the full run
            INCREMENTAL: overall("1000.50", 10),
        },
        increment={"appended": True, "rows": 1, "revenue": "12.25"},
    )
    assert result["mismatches"] == [
        "MISMATCH: project (duckdb engine): 9 rentals and revenue 1000.50 against 10 and "
        "1000.50 expected (as project (spark engine))",
        "MISMATCH: project incremental +1%: 10 rentals and revenue 1000.50 against 11 and "
        "1012.75 expected (project (spark engine) plus the increment: 1 rentals, 12.25)",
    ]
    text = render_markdown(minimal_report([], result, []))
    assert "- **MISMATCH: project (duckdb engine): 9 rentals" in text


def test_the_split_increment_ends_at_the_same_totals() -> None:
    sides = {PROJECT: overall("1000.50", 10), INCREMENTAL: overall("1000.50", 10)}
    split = {"appended": False, "rows": 1, "revenue": None}
    assert compare_overall(sides, increment=split)["mismatches"] == []


def test_on_dirty_input_only_the_project_sides_are_held_to_agree() -> None:
    result = compare_overall(
        {
            DUCKDB_SQL: overall("990.00", 11),
            BASELINE: overall("1500.00", 12),  # no quarantine
            PROJECT: overall("1000.50", 10),
            PROJECT_DUCKDB: overall("1000.50", 10),
            INCREMENTAL: overall("1010.50", 11),
        },
        dirty=True,
        # a dirty increment: its valid rows and revenue are not known here
        increment={"appended": True, "rows": 1, "revenue": None},
    )
    assert result["mismatches"] == []
    assert sorted(result["not_compared"]) == [BASELINE, DUCKDB_SQL, INCREMENTAL]


def test_python_m_bench_exits_non_zero_on_a_mismatch(tmp_path: Path, monkeypatch) -> None:
    from bench import __main__ as cli

    correctness = compare_overall({PROJECT: overall("10.00", 1), PROJECT_DUCKDB: overall("9", 1)})
    report = minimal_report([], correctness, [])
    monkeypatch.setattr(cli, "run_bench", lambda config: report)
    assert cli.main(["--results-dir", str(tmp_path)]) == 1
    assert "MISMATCH" in (tmp_path / "bench-x.md").read_text()

    agreeing = compare_overall({PROJECT: overall("10.00", 1), PROJECT_DUCKDB: overall("10", 1)})
    monkeypatch.setattr(cli, "run_bench", lambda config: minimal_report([], agreeing, []))
    assert cli.main(["--results-dir", str(tmp_path)]) == 0


# ---------------------------------------------------------------------------- the increment


def test_the_increment_note_says_which_case_ran() -> None:
    assert harness.increment_note(appended=True, delta_rows=10_000, rentals=1_000_000) == (
        "incremental: the timed --mode incremental run adds 10,000 new rentals to the "
        "1,000,000 of its untimed --mode full set-up run, so it ends at 1,010,000 rentals and "
        "is compared with the project side's full run over 1,000,000: a conservative "
        "comparison (a full run over 1,010,000 would take longer)."
    )
    assert harness.increment_note(appended=False, delta_rows=10_000, rentals=1_000_000) == (
        "incremental: the last 10,000 rentals are held back from the untimed --mode full "
        "set-up run (990,000 rentals) and added by the timed --mode incremental run, which "
        "ends at the 1,000,000 rentals every other side reads."
    )


def test_a_dirty_bench_appends_a_dirty_day(tmp_path: Path, monkeypatch) -> None:
    import carrental.generate as generate

    lake = tmp_path / "lake"
    rentals = lake / "data" / "raw" / "rental_transactions"
    rentals.mkdir(parents=True)
    (rentals / "rentals.csv").write_text("rental_id\n" + "".join(f"R{i}\n" for i in range(300)))
    (lake / harness.GENERATOR_MANIFEST).write_text("{}")
    manifest = {"arguments": {"start_date": "2024-01-01", "days": 90}, "appends": []}
    calls = []

    def fake_append_day(lake_dir, day, transactions, *, dirty_fraction=0.0, progress=None):
        calls.append((str(day), transactions, dirty_fraction))
        (rentals / f"rentals_{day:%Y-%m-%d}.csv").write_text("rental_id\nN1\nN2\nN3\n")

    monkeypatch.setattr(generate, "read_manifest", lambda lake_dir: manifest)
    monkeypatch.setattr(generate, "append_day", fake_append_day)
    parked, rows, how = harness.make_increment(lake, dirty_fraction=0.05)
    assert calls == [("2024-03-31", 3, 0.05)]
    assert (rows, parked.name) == (3, "rentals_2024-03-31.csv")
    assert how == "carrental.generate.append_day(2024-03-31)"


def test_increment_totals_sum_the_amounts(tmp_path: Path) -> None:
    path = tmp_path / "delta.csv"
    path.write_text("rental_id,total_amount,user_id\nR1,10.10,U1\nR2,0.05,U2\nR3,99.99,U3\n")
    assert harness.increment_totals(path) == (3, "110.14")


def test_a_manifest_or_a_log_line_shows_a_run_that_did_not_run_incrementally(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    folder = lake / "runs" / "bench-r1" / "manifests"
    folder.mkdir(parents=True)

    def manifest(job: str, **data) -> None:
        (folder / f"{job}.json").write_text(json.dumps({"job": job, **data}))

    manifest(VALIDATE_JOB, mode="incremental", status="SUCCEEDED")
    manifest(VLP, mode="full", status="SUCCEEDED")
    fallback = {"reason": "state_unreadable", "from_mode": "incremental"}
    manifest(UTA, mode="full", status="SUCCEEDED", fallback=fallback)
    check = harness.not_incremental
    assert check(lake, "bench-r1", VALIDATE_JOB, "") is None
    assert check(lake, "bench-r1", VLP, "") == (
        "vehicle_location_performance ran as --mode full (its manifest's mode)"
    )
    assert check(lake, "bench-r1", UTA, "") == (
        "user_transaction_analysis ran as --mode full (its manifest's mode; fallback: "
        "state_unreadable)"
    )
    # no manifest: the job's log lines
    log = '{"level": "INFO", "event": "mode_first_run", "job": "x", "effective": "full"}\n'
    assert check(lake, "bench-r2", VLP, log) == (
        "vehicle_location_performance ran as --mode full (its log says 'mode_first_run')"
    )
    assert check(lake, "bench-r2", VLP, '{"event": "job_succeeded"}\n') is None


# ---------------------------------------------------------------------------- run_bench, faked


class FakeDriver:
    """Stands in for :class:`spark_ingest.local_driver.LocalDriver` (which starts nothing
    until a job runs); the fake jobs below never use it."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self) -> FakeDriver:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass


def fake_input(tmp_path: Path) -> Path:
    raw = tmp_path / "input" / "data" / "raw"
    for dataset in ("vehicles", "locations", "users"):
        (raw / dataset).mkdir(parents=True)
        (raw / dataset / f"{dataset}.csv").write_text("id\n1\n")
    (raw / "rental_transactions").mkdir()
    lines = "".join(f"R{i},1.00\n" for i in range(200))
    (raw / "rental_transactions" / "rentals.csv").write_text("rental_id,total_amount\n" + lines)
    return raw


@pytest.fixture
def no_spark(monkeypatch):
    """run_bench without a JVM: no java -version, no --help of the jobs, no archive."""
    machine = {"cores": 2, "loadavg_at_start": [0.0, 0.0, 0.0]}
    monkeypatch.setattr(harness, "machine_description", lambda: dict(machine))
    features = {"exists": True, "engine_duckdb": True, "incremental": True, "help": ""}
    monkeypatch.setattr(harness, "job_features", lambda job: dict(features))
    monkeypatch.setattr(harness, "submit_available", lambda: None)
    monkeypatch.setattr(harness, "prime_jvm_archive", lambda work, timeout: "archive: faked")
    monkeypatch.setattr(harness, "LocalDriver", FakeDriver)


def test_an_incremental_repeat_that_ran_full_or_whose_set_up_failed_is_failed(
    tmp_path: Path, monkeypatch, no_spark
) -> None:
    calls: list[tuple[str, str, str]] = []

    def fake_run_project(job, lake, run_id, log_path, timeout, *, engine, mode, driver=None):
        repeat = "r1" if "-r1-" in run_id else "r2"
        calls.append((repeat, mode, job))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        ran = mode
        if repeat == "r2" and mode == "incremental" and job == VALIDATE_JOB:
            ran = "full"  # the ledger was not found: it ran as a first run
        log_path.write_text(f'{{"event": "job_started", "mode": "{mode}"}}\n')
        folder = lake / "runs" / run_id / "manifests"
        folder.mkdir(parents=True, exist_ok=True)
        # repeat 2's fact job stays incremental but rebuilds its partials from every segment
        path = "rebuild" if (repeat, job) == ("r2", VLP) else "append"
        check = {"path": path, "reason": "not_chained" if path == "rebuild" else None}
        manifest = {"job": job, "mode": ran, "ingest": {"check": check}}
        (folder / f"{job}.json").write_text(json.dumps(manifest))
        # repeat 1: the untimed full set-up run's validate_inputs fails
        return 1 if (repeat, mode, job) == ("r1", "full", VALIDATE_JOB) else 0

    monkeypatch.setattr(harness, "run_project", fake_run_project)
    config = BenchConfig(
        repeats=2,
        raw_dir=fake_input(tmp_path),
        results_dir=tmp_path / "results",
        sides=(INCREMENTAL,),
    )
    report = harness.run_bench(config)
    jobs = harness.PIPELINE_JOBS
    # repeat 1: the set-up stopped at its failed job, and its timed run is not run
    assert calls == [
        ("r1", "full", VALIDATE_JOB),
        *[("r2", "full", job) for job in jobs],
        *[("r2", "incremental", job) for job in jobs],
    ]
    side = report["sides"][INCREMENTAL]
    assert side["status"] == "failed"
    first, second = side["runs"][VALIDATE_JOB]
    assert first["returncode"] == 1
    assert first["failure"] == (
        "the untimed --mode full set-up run failed (validate_inputs: exit 1); not timed"
    )
    assert second["returncode"] == 0
    assert second["failure"] == "validate_inputs ran as --mode full (its manifest's mode)"
    assert [r["failure"] for r in side["runs"][VLP]] == [first["failure"], None]
    total = next(r for r in report["rows"] if r["side"] == INCREMENTAL and r["job"] == TOTAL)
    assert (total["wall_s"], total["runs_ok"], total["runs"]) == (None, 0, 2)
    assert "validate_inputs ran as --mode full" in side["note"]
    assert "set-up run failed" in side["note"]
    # a rebuild is timed as it ran (it did run incrementally), and the notes say so
    assert side["runs"][VLP][1]["path"] == (
        "vehicle_location_performance took the 'rebuild' path (not_chained): timed as it ran "
        "(more work than an append)"
    )
    rebuilt = [n for n in report["notes"] if "'rebuild' path" in n]
    assert len(rebuilt) == 1 and rebuilt[0].startswith("incremental repeat 2: vehicle_location")
    assert "path" not in side["runs"][UTA][1]  # an append adds no note


def test_a_manifest_shows_an_incremental_run_that_did_more_than_append(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r" / "manifests"
    folder.mkdir(parents=True)

    def manifest(job: str, data: object) -> None:
        (folder / f"{job}.json").write_text(json.dumps(data))

    manifest(
        VALIDATE_JOB,
        {"ingest": {"check": {"path": "recheck", "reason": "duplicate_keys_across_runs"}}},
    )
    manifest(VLP, {"ingest": {"check": {"path": "append", "reason": None}}})
    manifest(UTA, {"ingest": {}})
    check = harness.not_appended
    assert check(tmp_path, "r", VALIDATE_JOB) == (
        "validate_inputs took the 'recheck' path (duplicate_keys_across_runs): timed as it ran "
        "(more work than an append)"
    )
    assert check(tmp_path, "r", VLP) is None
    assert check(tmp_path, "r", UTA).startswith(
        "user_transaction_analysis: no ingest.check.path in "
    )
    assert "KeyError" in check(tmp_path, "r", UTA)
    assert check(tmp_path, "r", UTA).endswith("so whether it only appended is unknown")
    assert "FileNotFoundError" in check(tmp_path, "other", UTA)


def test_an_interruption_in_the_first_repeat_leaves_the_partial_file(
    tmp_path: Path, monkeypatch, no_spark
) -> None:
    class Interrupted(Exception):
        pass

    calls = []

    def fake_run_logged(cmd, log_path, timeout):
        calls.append(log_path.name)
        if len(calls) == 2:
            raise Interrupted
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("ok\n")
        return 0

    monkeypatch.setattr(harness, "run_logged", fake_run_logged)
    config = BenchConfig(
        repeats=1,
        raw_dir=fake_input(tmp_path),
        results_dir=tmp_path / "results",
        sides=(BASELINE, DUCKDB_SQL),
    )
    with pytest.raises(Interrupted):
        harness.run_bench(config)
    (partial,) = (tmp_path / "results").glob("bench-*.partial.json")
    data = json.loads(partial.read_text())
    assert data["completed_repeats"] == 0
    assert [r["returncode"] for r in data["results"][BASELINE]["runs"][VLP]] == [0]
    assert UTA not in data["results"][BASELINE]["runs"]
    note = harness.repeats_note(1)
    assert note in data["notes"]
    restored = harness.report_from_partial(partial)
    assert restored["notes"][0].startswith("interrupted run: 0 of 1 repeats completed")
    assert note in restored["notes"]


# ---------------------------------------------------------------------------- child processes

#: a child that starts two sleeping grandchildren: one it waits for, and one whose parent
#: exits at once (so it is re-parented and no longer below the child)
SPAWNER = """
sleep 300 &
echo $! > "$1/waited.pid"
sh -c 'sleep 300 & echo $! > "$0/orphan.pid"' "$1"
wait
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_timeout_kills_the_grandchildren_too(tmp_path: Path) -> None:
    script = tmp_path / "spawner.sh"
    script.write_text(SPAWNER)
    pids: list[int] = []
    try:
        code = harness.run_logged(
            ["sh", str(script), str(tmp_path)], tmp_path / "logs" / "job.log", timeout=1.0
        )
        for name in ("waited.pid", "orphan.pid"):
            pids.append(int((tmp_path / name).read_text()))
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert code == 124
        assert "timed out after 1.0 s" in (tmp_path / "logs" / "job.log").read_text()
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        for pid in pids:  # the test's own sleeps, if the harness left them
            if alive(pid):
                os.kill(pid, 9)

"""Validate once per run: ``validate_inputs`` + the KPI jobs with ``--inputs validated``.

A pipeline run's KPI jobs read what the validate job handed over instead of validating the
same raw files again. Their tables must equal those of jobs that read the raw files
themselves (counts and sums exactly, averages to 1e-9 relative), and the validate job's one
quarantine must equal each raw-reading job's, step after step of incremental runs and on both
engines. A KPI job without a handover of its own run stops with a message naming the job to
run first.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from lake_compare import ENTRY, VALIDATED, assert_equals_full_run, assert_same_outputs, run_both

from carrental.generate import DimensionSizes, append_day, generate
from spark_ingest.jobs import vehicle_location_performance as vlp
from spark_ingest.layout import DATASETS, JOBS, VALIDATE_JOB
from spark_ingest.pipeline import EXIT_FAILED, run_job
from spark_ingest.submit import job_args, submit_job

pytestmark = pytest.mark.slow
RENTALS_DIR = Path("data/raw/rental_transactions")
USERS_CSV = Path("data/raw/users/users.csv")
HANDOVER = Path("data/processed") / VALIDATE_JOB / "_handover" / "handover.json"


def dirty_lake(lake: Path) -> Path:
    sizes = DimensionSizes(vehicles=40, locations=12, users=60)
    generate(lake, 1500, seed=7, dirty_fraction=0.06, days=3, split="daily", sizes=sizes)
    return lake


def check_of(step: dict[str, dict]) -> dict[str, tuple]:
    """job -> (how its rentals were checked or planned, how its partials were made)."""
    out = {}
    for job, manifest in step.items():
        check = manifest["ingest"]["check"]
        partials = manifest["ingest"].get("partials", {}).get("how")
        out[job] = (check["path"], check["reason"], partials)
    return out


def assert_counts_handed_over(step: dict[str, dict]) -> None:
    """Every KPI manifest reports the validate job's counts, and they reconcile."""
    validate = step[VALIDATE_JOB]["inputs"]
    for dataset in DATASETS:
        counts = validate[dataset]
        assert counts["rows_read"] == counts["valid"] + counts["rejected"], dataset
    for job in JOBS:
        assert step[job]["inputs"] == validate
        assert step[job]["reconciled"] is True
        assert step[job]["quarantine"].startswith(f"written by {VALIDATE_JOB}")


@pytest.mark.timeout(900)
def test_validated_steps_equal_raw_full_runs(spark, tmp_path: Path) -> None:
    lake = dirty_lake(tmp_path / "lake")
    rentals = lake / RENTALS_DIR

    # 1) first run: every job runs full; the handover names the validate job's stored frames
    step = run_both(spark, lake, "v-1", "incremental", validated=True)
    assert {m["mode"] for m in step.values()} == {"full"}
    assert check_of(step)[vlp.JOB] == ("rebuild", "no_previous_run", "built")
    assert_counts_handed_over(step)
    handover = json.loads((lake / HANDOVER).read_text())
    assert handover["run_id"] == "v-1" and handover["check"] == "recheck"
    assert all("/validate_inputs/_state/" in uri for uri in handover["datasets"]["users"]["frames"])
    assert not (lake / "data/quarantine/users" / f"job={vlp.JOB}").exists()
    assert_equals_full_run(spark, lake, "v-1", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 2) a new daily file: validated once and appended; the KPI jobs add its partials as a layer
    append_day(lake, date(2024, 1, 4), 300, dirty_fraction=0.06)
    step = run_both(spark, lake, "v-2", "incremental", validated=True)
    assert step[VALIDATE_JOB]["ingest"]["check"]["path"] == "append"
    for job in JOBS:
        assert check_of(step)[job] == ("append", None, "appended")
        assert step[job]["ingest"]["check"]["new_segments"] == 1
    assert_counts_handed_over(step)
    assert_equals_full_run(spark, lake, "v-2", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 3) a KPI job run again on the same handover (a retried task) reuses its partials
    again = json.loads(json.dumps(step[vlp.JOB]["outputs"]))
    compute, partials = ENTRY[vlp.JOB]
    args = job_args(lake, "v-2", "incremental") + VALIDATED
    assert run_job(vlp.JOB, compute, args, session=spark, partials=partials) == 0
    manifest = json.loads((lake / "runs/v-2/manifests" / f"{vlp.JOB}.json").read_text())
    assert manifest["ingest"]["partials"]["how"] == "reused"
    assert {t: o["rows"] for t, o in manifest["outputs"].items()} == {
        t: o["rows"] for t, o in again.items()
    }

    # 4) the users file changes (a row added): the validate job rechecks every row, the
    # KPI jobs' stored partials no longer chain, and they are built again
    users_header, *users_rows = (lake / USERS_CSV).read_text().splitlines()
    donor = users_rows[0].split(",")
    donor[0] = "U_NEW"
    (lake / USERS_CSV).write_text("\n".join([users_header, *users_rows, ",".join(donor)]) + "\n")
    step = run_both(spark, lake, "v-3", "incremental", validated=True)
    assert step[VALIDATE_JOB]["ingest"]["check"]["path"] == "recheck"
    for job in JOBS:
        assert check_of(step)[job] == ("rebuild", "not_chained", "built")
    assert_equals_full_run(spark, lake, "v-3", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 5) a changed rentals file (one row dropped) replaces its earlier rows
    changed = sorted(rentals.iterdir())[0]
    head, *rows = changed.read_text().splitlines()
    changed.write_text("\n".join([head, *rows[1:]]) + "\n")
    step = run_both(spark, lake, "v-4", "incremental", validated=True)
    assert step[VALIDATE_JOB]["ingest"]["check"]["reason"] == "files_changed_or_removed"
    assert step[VALIDATE_JOB]["inputs"]["rental_transactions"]["rows_read"] == (
        sum(len(p.read_text().splitlines()) - 1 for p in rentals.iterdir())
    )
    assert_equals_full_run(spark, lake, "v-4", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 6) a KPI job skipped a run (the validate job ran twice): not chained, built again
    append_day(lake, date(2024, 1, 5), 200, dirty_fraction=0.06)
    run_both(spark, lake, "v-5", "incremental", jobs=(), validated=True)
    append_day(lake, date(2024, 1, 6), 200, dirty_fraction=0.06)
    step = run_both(spark, lake, "v-6", "incremental", validated=True)
    assert step[VALIDATE_JOB]["ingest"]["check"]["path"] == "append"
    assert check_of(step)[vlp.JOB] == ("rebuild", "not_chained", "built")
    assert_equals_full_run(spark, lake, "v-6", tmp_path, got_quarantine_job=VALIDATE_JOB)


def test_a_kpi_job_without_a_handover_of_its_run_stops(spark, tmp_path: Path) -> None:
    lake = dirty_lake(tmp_path / "lake")
    compute, partials = ENTRY[vlp.JOB]

    def kpi(run_id: str) -> dict:
        args = job_args(lake, run_id, "full") + VALIDATED
        assert run_job(vlp.JOB, compute, args, session=spark, partials=partials) == EXIT_FAILED
        manifest = json.loads(
            (lake / "runs" / run_id / "manifests" / f"{vlp.JOB}.json").read_text()
        )
        assert manifest["status"] == "FAILED" and manifest["outputs"] == {}
        return manifest["error"]

    error = kpi("h-1")
    assert error["type"] == "HandoverError"
    assert "no validated inputs" in error["message"]
    assert f"run {VALIDATE_JOB} with --run-id h-1 first" in error["message"]

    run_both(spark, lake, "h-2", "full", jobs=(), validated=True)
    error = kpi("h-3")  # the handover is h-2's
    assert "validated by run 'h-2', not by this run" in error["message"]
    assert not (lake / "data/processed" / vlp.JOB / "location_performance").exists()


@pytest.mark.timeout(900)
def test_validated_inputs_on_duckdb_equal_spark_raw(spark, tmp_path: Path) -> None:
    """The DuckDB engine (no incremental state) writes the checked frames for the KPI jobs;
    their tables and the one quarantine equal Spark's raw-reading jobs'."""
    spark_lake = dirty_lake(tmp_path / "spark")
    duckdb_lake = tmp_path / "duckdb"
    shutil.copytree(spark_lake / "data" / "raw", duckdb_lake / "data" / "raw")
    run_both(spark, spark_lake, "d-1", "full")
    for job in (VALIDATE_JOB, *JOBS):
        extra = [] if job == VALIDATE_JOB else VALIDATED
        proc = submit_job(job, duckdb_lake, "d-1", mode="full", engine="duckdb", extra_args=extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
    handover = json.loads((duckdb_lake / HANDOVER).read_text())
    assert handover["engine"] == "duckdb" and handover["check"] == "full"
    assert all("/_handover/run=d-1/" in uri for uri in handover["datasets"]["users"]["frames"])
    spark.conf.set("spark.sql.parquet.inferTimestampNTZ.enabled", "false")
    try:
        assert_same_outputs(spark, duckdb_lake, spark_lake, "d-1", got_quarantine_job=VALIDATE_JOB)
    finally:
        spark.conf.unset("spark.sql.parquet.inferTimestampNTZ.enabled")

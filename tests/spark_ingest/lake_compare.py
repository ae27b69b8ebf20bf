"""Running both jobs in the test session and comparing two lakes' outputs, table by table.

Counts, sums and every non-float value must be equal; floats (the averages) agree to 1e-9
relative. ``source_file`` is compared from ``data/raw/`` on, so two lakes in different folders
compare equal.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from pyspark.sql import functions as F

from spark_ingest.jobs import user_transaction_analysis as uta
from spark_ingest.jobs import validate_inputs as vi
from spark_ingest.jobs import vehicle_location_performance as vlp
from spark_ingest.layout import DATASETS, JOB_TABLES, JOBS, VALIDATE_JOB
from spark_ingest.pipeline import EXIT_OK, run_job
from spark_ingest.submit import job_args

ENTRY = {
    vlp.JOB: (vlp.compute, vlp.PARTIALS),
    uta.JOB: (uta.compute, uta.PARTIALS),
    vi.JOB: (vi.compute, ()),
}
VALIDATED = ["--inputs", "validated"]
#: a quarantine row's columns naming the job and run that wrote it (compared by the folder)
QUARANTINE_RUN_COLUMNS = ("run_id", "job")


def run_both(
    spark,
    lake: Path,
    run_id: str,
    mode: str,
    jobs: tuple[str, ...] = JOBS,
    *,
    validated: bool = False,
) -> dict[str, dict]:
    """Run ``jobs`` (default: both KPI jobs) in the test session; return job -> its manifest.
    ``validated``: run validate_inputs first and the KPI jobs with ``--inputs validated``."""
    manifests = {}
    for job in (VALIDATE_JOB, *jobs) if validated else jobs:
        compute, partials = ENTRY[job]
        args = job_args(lake, run_id, mode)
        if validated and job != VALIDATE_JOB:
            args += VALIDATED
        code = run_job(job, compute, args, session=spark, partials=partials)
        manifest = json.loads((lake / "runs" / run_id / "manifests" / f"{job}.json").read_text())
        assert code == EXIT_OK, manifest["error"]
        manifests[job] = manifest
    return manifests


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def rows_of(df) -> list[tuple]:
    if "source_file" in df.columns:  # the two lakes live in different folders
        df = df.withColumn("source_file", F.regexp_extract("source_file", "/data/raw/(.*)$", 1))
    columns = sorted(df.columns)
    return sorted(
        (tuple(row[c] for c in columns) for row in df.select(*columns).collect()),
        key=repr,
    )


def assert_same_rows(got, want, what: str) -> None:
    assert_close_rows(rows_of(got), rows_of(want), what)


def assert_close_rows(got_rows: list[tuple], want_rows: list[tuple], what: str) -> None:
    assert len(got_rows) == len(want_rows), f"{what}: {len(got_rows)} rows vs {len(want_rows)}"
    for g, w in zip(got_rows, want_rows, strict=True):
        assert all(_close(a, b) for a, b in zip(g, w, strict=True)), f"{what}: {g} != {w}"


def assert_same_outputs(
    spark,
    got: Path,
    want: Path,
    run_id: str,
    *,
    same_schema: bool = False,
    jobs: tuple[str, ...] = JOBS,
    got_quarantine_job: str | None = None,
) -> None:
    """Every output table and every quarantine of run ``run_id`` of ``jobs`` in lake ``got``
    equals lake ``want``'s (``same_schema``: the column types too, as Spark reads them).
    ``got_quarantine_job``: ``got``'s quarantine is that job's (validate_inputs), one copy
    compared with each of ``want``'s."""
    pairs = [
        (f"{job}.{table}", Path("data/processed") / job / table, ())
        for job in jobs
        for table in JOB_TABLES[job]
    ]
    pairs = [(what, path, path, dropped) for what, path, dropped in pairs]
    pairs += [
        (
            f"quarantine {dataset} of {job}",
            Path("data/quarantine") / dataset / f"job={got_quarantine_job or job}",
            Path("data/quarantine") / dataset / f"job={job}",
            QUARANTINE_RUN_COLUMNS,
        )
        for job in jobs
        for dataset in DATASETS
    ]
    for what, got_path, want_path, dropped in pairs:
        quarantine = dropped == QUARANTINE_RUN_COLUMNS
        got_path, want_path = (
            (p / f"run_id={run_id}" if quarantine else p) for p in (got_path, want_path)
        )
        got_df = spark.read.parquet(str(got / got_path)).drop(*dropped)
        want_df = spark.read.parquet(str(want / want_path)).drop(*dropped)
        if same_schema:
            assert sorted(got_df.dtypes) == sorted(want_df.dtypes), what
        assert_same_rows(got_df, want_df, what)


def assert_equals_full_run(
    spark,
    lake: Path,
    run_id: str,
    tmp_path: Path,
    jobs: tuple[str, ...] = JOBS,
    got_quarantine_job: str | None = None,
) -> None:
    """Compare ``lake`` (after an incremental run) with a full run over a copy of its raw
    (every job reading the raw files): the output tables, the quarantine and each job's
    input counts (an incremental run takes most of them from its ledger)."""
    reference = tmp_path / f"reference-{run_id}"
    shutil.copytree(lake / "data" / "raw", reference / "data" / "raw")
    want = run_both(spark, reference, run_id, "full", jobs)
    assert_same_outputs(
        spark, lake, reference, run_id, jobs=jobs, got_quarantine_job=got_quarantine_job
    )
    for job in jobs:
        manifest = lake / "runs" / run_id / "manifests" / f"{job}.json"
        got = json.loads(manifest.read_text())
        assert input_counts(got) == input_counts(want[job]), f"{job}: input counts"
    shutil.rmtree(reference)


def input_counts(manifest: dict) -> dict[str, dict]:
    """dataset -> its row counts in a job's manifest (the file paths left out)."""
    return {
        dataset: {name: value for name, value in counts.items() if name != "files"}
        for dataset, counts in manifest["inputs"].items()
    }

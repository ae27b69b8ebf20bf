"""The jobs on an object store: the code an ``s3://`` lake runs, run for real, with no network.

On EMR the lake is ``s3://<bucket>/``, where the local shortcuts do not apply: every table is
staged under ``processed/<job>/_staging/<run>/`` and copied to its live prefix on publish (no
symbolic or hard links), an incremental run stages the fact's changed partitions whole and
moves them over the live ones (no links to the unchanged files), the ledger, the
handover and the manifests go through Hadoop's FileSystem, and a raw file's fingerprint is the
file system's checksum, or when there is none (EMRFS has none) the checksum S3 keeps for the
object, or else the SHA-256 of its bytes, read in the driver's JVM (never by Python).

Here Hadoop's ``ViewFileSystemOverloadScheme`` (in the Hadoop client that pyspark ships) serves
the scheme ``s3`` from a local folder, so the jobs get ``s3://`` URIs and take those paths
unchanged. Each step's tables, quarantine and input counts are compared with a full run over a
local copy of the same raw files. What this cannot show is S3 itself: its checksums and ETags
(this file system has no checksum and no S3 API answers, so the bytes are hashed; moto's S3
answers them in ``test_state.py``), its listing and its request costs.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from functools import partial
from hashlib import sha256
from pathlib import Path

import pytest
from lake_compare import ENTRY, VALIDATED, assert_equals_full_run, rows_of

from carrental.generate import DimensionSizes, append_day, generate
from spark_ingest import state
from spark_ingest.layout import JOB_TABLES, JOBS, VALIDATE_JOB
from spark_ingest.pipeline import EXIT_FAILED, EXIT_OK, run_job
from spark_ingest.publish import Publisher
from spark_ingest.submit import job_args

BUCKET = "carrental-test"
STORE = f"s3://{BUCKET}"
RENTALS = Path("data/raw/rental_transactions")
PROCESSED = Path("data/processed")


@pytest.fixture
def object_store(spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local folder served as ``s3://carrental-test/`` to this session's Hadoop file
    systems (its ``data/`` and ``runs/`` prefixes); the settings are undone afterwards. No
    S3 API answers for it (the driver's S3 client is None, as where boto3 is missing), so a
    raw file's fingerprint is the SHA-256 of its bytes; ``test_state.py`` asks moto's S3 for
    an object's checksum."""
    monkeypatch.setattr(state, "_s3_client", lambda: None)
    root = tmp_path / "bucket"
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "fs.s3.impl": "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme",
        "fs.viewfs.overload.scheme.target.s3.impl": "org.apache.hadoop.fs.LocalFileSystem",
        "fs.s3.impl.disable.cache": "true",
    }
    for prefix in ("data", "runs"):
        (root / prefix).mkdir(parents=True)
        settings[f"fs.viewfs.mounttable.{BUCKET}.link./{prefix}"] = (root / prefix).as_uri()
    before = {key: conf.get(key) for key in settings}
    for key, value in settings.items():
        conf.set(key, value)
    yield root
    for key, value in before.items():
        if value is None:
            conf.unset(key)
        else:
            conf.set(key, value)


def store_args(run_id: str) -> list[str]:
    """The entry scripts' arguments for the lake at ``s3://carrental-test/`` (as on EMR)."""
    return [
        *("--raw-root", f"{STORE}/data/raw"),
        *("--processed-root", f"{STORE}/data/processed"),
        *("--quarantine-root", f"{STORE}/data/quarantine"),
        *("--run-id", run_id, "--mode", "incremental"),
    ]


def run_pipeline(spark, root: Path, run_id: str, jobs: tuple[str, ...] = JOBS) -> dict:
    """validate_inputs, then ``jobs`` with ``--inputs validated`` (the state machine's order),
    on the object store; job -> (exit code, manifest)."""
    done = {}
    for job in (VALIDATE_JOB, *jobs):
        compute, partials = ENTRY[job]
        argv = store_args(run_id) + (VALIDATED if job != VALIDATE_JOB else [])
        code = run_job(job, compute, argv, session=spark, partials=partials)
        manifest = root / "runs" / run_id / "manifests" / f"{job}.json"
        done[job] = (code, json.loads(manifest.read_text()))
    return done


def succeeded(done: dict) -> dict[str, dict]:
    """job -> manifest, once every job exited 0."""
    for job, (code, manifest) in done.items():
        assert code == EXIT_OK, f"{job}: {manifest['error']}"
    return {job: manifest for job, (_, manifest) in done.items()}


def staged_runs(root: Path) -> list[str]:
    """What is left under any job's ``_staging/`` prefix (empty after a publish or a discard)."""
    return sorted(
        str(path.relative_to(root))
        for path in (root / PROCESSED).glob("*/_staging/*")
        if any(path.rglob("*.parquet"))
    )


def ledger(root: Path, job: str = VALIDATE_JOB) -> dict:
    return json.loads((root / PROCESSED / job / "_state" / "ledger.json").read_text())


def redeliver(path: Path) -> None:
    """``path`` put again with the same bytes: on S3 a new object, with a later time."""
    stamp = path.stat().st_mtime
    path.write_bytes(path.read_bytes())
    os.utime(path, (stamp + 60, stamp + 60))


def generated_lake(root: Path) -> list[Path]:
    """Three daily rentals files with 5% defects; the rentals files, oldest first."""
    sizes = DimensionSizes(vehicles=30, locations=8, users=50)
    generate(root, 900, seed=23, dirty_fraction=0.05, days=3, split="daily", sizes=sizes)
    return sorted((root / RENTALS).iterdir())


FACT_JOB, FACT = "vehicle_location_performance", "rentals_fact"


def marker(root: Path) -> Path:
    """The marker the fact job leaves beside the fact's folder while it replaces its objects."""
    return root / PROCESSED / FACT_JOB / f"_publishing.{FACT}"


def fact_partitions(spark, root: Path) -> dict[str, tuple[list, list]]:
    """The live fact's partition value -> (its files: name and modification time; its rows),
    read straight from the bucket's folder."""
    table = root / PROCESSED / FACT_JOB / FACT
    facts = spark.read.parquet(str(table))
    out = {}
    for folder in sorted(table.glob("rental_date=*")):
        value = folder.name.split("=", 1)[1]
        files = sorted((f.name, f.stat().st_mtime_ns) for f in folder.iterdir())
        out[value] = (files, rows_of(facts.filter(facts.rental_date == value)))
    assert not marker(root).exists(), "a publish left its marker"
    return out


def assert_only_these_partitions_changed(before: dict, after: dict, changes: dict) -> None:
    """The partitions a run says it rewrote or dropped are exactly those whose rows changed,
    and every other partition keeps its very files (the publish never touched them)."""
    replaced = set(changes["rewritten"]) | set(changes["dropped"])
    differ = {
        p
        for p in before.keys() | after.keys()
        if before.get(p, ([], []))[1] != after.get(p, ([], []))[1]
    }
    assert replaced == differ and differ
    for value in before.keys() - replaced:
        assert after[value][0] == before[value][0], f"rental_date={value} was written again"
    assert changes["kept"] == len(before.keys() - replaced)


@pytest.mark.timeout(900)
def test_incremental_steps_on_an_object_store_equal_a_full_run(
    spark, object_store: Path, tmp_path: Path
) -> None:
    root = object_store
    files = generated_lake(root)

    # 1) the first run: no ledger, so --mode incremental runs as full
    step = succeeded(run_pipeline(spark, root, "s3-1"))
    assert {manifest["mode"] for manifest in step.values()} == {"full"}
    entries = ledger(root)["files"]
    assert sorted(entry["path"] for entry in entries) == [
        f"{STORE}/{RENTALS}/{path.name}" for path in files
    ]
    # the file system's checksum, else S3's, else the bytes' SHA-256: here neither answers
    assert {entry["path"]: entry["checksum"] for entry in entries} == {
        f"{STORE}/{RENTALS}/{path.name}": f"sha256:{sha256(path.read_bytes()).hexdigest()}"
        for path in files
    }
    assert staged_runs(root) == []
    assert_equals_full_run(spark, root, "s3-1", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 2) a new daily file: its rows are checked and appended, its partials stored as a second
    # layer; the fact partitions its rows fall in are staged whole and moved over the live
    # ones, and no other partition's files are touched. The users snapshot is delivered
    # again with the same bytes: a new object, with a new modification time, but the same
    # checksum, so its stored snapshot is reused and nothing is rechecked
    before = fact_partitions(spark, root)
    append_day(root, date(2024, 1, 4), 300, dirty_fraction=0.05)
    redeliver(root / "data/raw/users/users.csv")
    step = succeeded(run_pipeline(spark, root, "s3-2"))
    validate = step[VALIDATE_JOB]["ingest"]
    assert validate["files"] == {"new": 1, "changed": 0, "unchanged": 3, "removed": 0}
    assert validate["check"]["path"] == "append"
    assert validate["dimensions"]["users"] == "snapshot"
    for job in JOBS:
        assert step[job]["mode"] == "incremental"
        assert step[job]["ingest"]["partials"]["how"] == "appended"
    changes = step[FACT_JOB]["partitions"][FACT]
    assert changes["found_by"] == "appended_rows"
    assert_only_these_partitions_changed(before, fact_partitions(spark, root), changes)
    assert "2024-01-04" in changes["rewritten"]
    assert staged_runs(root) == []
    assert_equals_full_run(spark, root, "s3-2", tmp_path, got_quarantine_job=VALIDATE_JOB)

    # 3) one file delivered again with the same bytes (a new modification time, as S3 gives a
    # new object) is skipped; another whose content changed replaces its rows: every stored
    # row is rechecked
    again, changed = files[0], files[1]
    redeliver(again)
    head, *rows = changed.read_text().splitlines()
    changed.write_text("\n".join([head, *rows[:-2]]) + "\n")
    before = fact_partitions(spark, root)
    step = succeeded(run_pipeline(spark, root, "s3-3"))
    validate = step[VALIDATE_JOB]["ingest"]
    assert validate["files"] == {"new": 0, "changed": 1, "unchanged": 3, "removed": 0}
    assert validate["parsed"] == [f"{STORE}/{RENTALS}/{changed.name}"]
    assert validate["check"]["path"] == "recheck"
    changes = step[FACT_JOB]["partitions"][FACT]
    assert changes["found_by"] == "fingerprints"
    assert_only_these_partitions_changed(before, fact_partitions(spark, root), changes)
    assert staged_runs(root) == []
    assert_equals_full_run(spark, root, "s3-3", tmp_path, got_quarantine_job=VALIDATE_JOB)


def published_rows(spark, root: Path, job: str) -> dict[str, list[tuple]]:
    return {
        table: rows_of(spark.read.parquet(str(root / PROCESSED / job / table)))
        for table in JOB_TABLES[job]
    }


@pytest.mark.parametrize("where", ["object store", "local"])
def test_a_run_that_fails_before_publishing_deletes_what_it_staged(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request, where: str
) -> None:
    """The tables stay the last run's, the ledger too, and the failed run's staged copy is
    deleted: on S3 nothing else would ever remove its ``_staging/<run>/`` prefix."""
    job = JOBS[0]
    compute, partials = ENTRY[job]
    if where == "object store":
        root = request.getfixturevalue("object_store")
        argv = store_args
        staged = root / PROCESSED / job / "_staging" / "broken-2"
    else:
        root = tmp_path / "lake"
        argv = partial(job_args, root)
        staged = root / PROCESSED / job / "_versions" / "broken-2"
    generated_lake(root)

    def run(run_id: str) -> int:
        return run_job(job, compute, argv(run_id), session=spark, partials=partials)

    assert run("good-1") == EXIT_OK
    before = published_rows(spark, root, job)
    append_day(root, date(2024, 1, 4), 200)

    seen: list[str] = []  # the tables staged when the run failed

    def failing_quarantine(*args) -> None:  # the last step before publish
        seen.extend(table for table in JOB_TABLES[job] if (staged / table).is_dir())
        raise OSError("injected: the quarantine write failed")

    with monkeypatch.context() as patch:
        patch.setattr("spark_ingest.pipeline._write_quarantine", failing_quarantine)
        assert run("broken-2") == EXIT_FAILED
    manifest = json.loads((root / "runs" / "broken-2" / "manifests" / f"{job}.json").read_text())
    assert manifest["error"]["message"] == "injected: the quarantine write failed"
    assert sorted(seen) == sorted(JOB_TABLES[job]), "the failed run staged nothing to delete"
    assert not staged.exists()
    assert published_rows(spark, root, job) == before
    assert ledger(root, job)["run_id"] == "good-1"
    # the next run appends the new day as if the failed one had never been
    assert run("good-3") == EXIT_OK
    assert published_rows(spark, root, job) != before
    assert_equals_full_run(spark, root, "good-3", tmp_path, jobs=(job,))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("cut_off", ["moving partitions", "copying the table"])
def test_a_publish_cut_off_half_way_is_repaired_by_the_next_run(
    spark, object_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut_off: str
) -> None:
    """The fact job run on its own (its ledger its own). A run's publish fails half way and
    leaves the live fact wrong, with its marker: after moving the new day's partition (rows
    of a run whose ledger was never written), or, in a ``--mode full`` run, after copying the
    table but one partition (a partition missing). The next run is an append (the failed
    run's day was taken back, another day arrived) whose new rows alone would not name the
    partition left wrong: the marker makes it compare every partition, so the fact equals a
    full run over the raw files again."""
    root = object_store
    generated_lake(root)
    compute, partials = ENTRY[FACT_JOB]
    table = root / PROCESSED / FACT_JOB / FACT

    def run(run_id: str, mode: str = "incremental") -> dict:
        argv = store_args(run_id)
        argv[argv.index("--mode") + 1] = mode
        code = run_job(FACT_JOB, compute, argv, session=spark, partials=partials)
        manifest = root / "runs" / run_id / "manifests" / f"{FACT_JOB}.json"
        return {"code": code, **json.loads(manifest.read_text())}

    def move_then_fail(self, fs, source: str, target: str) -> None:
        real_move(self, fs, source, target)
        raise OSError("injected: the store failed after moving one partition")

    def copy_all_but_one(self, name: str, staged: str) -> None:
        real_copy(self, name, staged)
        if name == FACT:
            shutil.rmtree(table / "rental_date=2024-01-02")
            raise OSError("injected: the copy stopped with one partition missing")

    real_move, real_copy = Publisher._move_partition, Publisher._copy_table
    assert run("p-1")["code"] == EXIT_OK
    append_day(root, date(2024, 1, 4), 300)
    with monkeypatch.context() as patch:
        if cut_off == "moving partitions":
            patch.setattr(Publisher, "_move_partition", move_then_fail)
            assert run("p-2")["code"] == EXIT_FAILED
            wrong = {"dropped": "2024-01-04"}  # holds the failed run's rows
        else:
            patch.setattr(Publisher, "_copy_table", copy_all_but_one)
            assert run("p-2", "full")["code"] == EXIT_FAILED
            wrong = {"rewritten": "2024-01-02"}  # missing
    assert marker(root).read_text() == "p-2"
    assert ledger(root, FACT_JOB)["run_id"] == "p-1"

    (root / RENTALS / "rentals_2024-01-04.csv").unlink()
    append_day(root, date(2024, 1, 5), 300)
    step = run("p-3")
    assert step["code"] == EXIT_OK
    assert step["ingest"]["check"]["path"] == "append"
    changes = step["partitions"][FACT]
    assert changes["found_by"] == "fingerprints"
    assert changes["note"] == "an earlier publish did not finish"
    assert "2024-01-05" in changes["rewritten"]
    for kind, value in wrong.items():
        assert value in changes[kind]
    assert not (table / "rental_date=2024-01-04").exists()
    assert not marker(root).exists()
    assert_equals_full_run(spark, root, "p-3", tmp_path, jobs=(FACT_JOB,))

"""Incremental runs equal a full recomputation, step after step (issue: exactly once).

One lake is only ever run with ``--mode incremental``. After each step its published tables
and its quarantine are compared with those of a FULL run over a copy of the same raw files in
a fresh lake: counts and sums exactly, averages to 1e-9 relative. The steps cover new daily
files, a late-arriving dimension row (an orphan re-evaluated), a re-delivered unchanged file,
a changed file and a removed file, and both ways a run checks its rentals: appending the new
rows to the stored verdicts (with the KPIs built from the stored layers of partial
aggregates and the new rows' layer, and the new fact rows added beside the live files), or
rechecking every stored row (changed dimensions, changed or removed files, a key repeated
across runs). Each comparison also checks the input counts, which an incremental run takes
from its ledger for the rows it does not read again.
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lake_compare import (
    ENTRY,
    JOBS,
    assert_close_rows,
    assert_equals_full_run,
    input_counts,
    rows_of,
    run_both,
)

from carrental.generate import DimensionSizes, append_day, generate
from spark_ingest.jobs import vehicle_location_performance as vlp
from spark_ingest.layout import DATASETS, JOB_TABLES, RENTALS_FACT

RENTALS_DIR = Path("data/raw/rental_transactions")
USERS_CSV = Path("data/raw/users/users.csv")
FACT_DIR = Path("data/processed") / vlp.JOB / RENTALS_FACT
STATE_DIR = Path("data/processed") / vlp.JOB / "_state"


def assert_checked(
    step: dict[str, dict],
    path: str,
    reason: str | None,
    segments: int,
    partials: str,
    layers: int = 1,
) -> None:
    """How the run checked its rentals, and how it got its partial aggregates (and into how
    many stored layers)."""
    for job, manifest in step.items():
        assert manifest["ingest"]["check"] == {
            "path": path,
            "reason": reason,
            "segments": segments,
        }
        assert manifest["ingest"]["partials"] == {
            "how": partials,
            "names": list(ENTRY[job][1]),
            "layers": layers,
        }


def assert_cross_run_keys(step: dict[str, dict], how: str | None) -> None:
    """How an append run ruled out a valid key shared with an earlier run (None: it had no new
    rows to compare)."""
    for manifest in step.values():
        assert manifest["ingest"].get("cross_run_keys") == how


def read_ledger(lake: Path) -> dict:
    return json.loads((lake / STATE_DIR / "ledger.json").read_text())


def without_keys(counts: dict) -> dict:
    return {name: value for name, value in counts.items() if name != "valid_keys"}


def rental_counts(step: dict[str, dict]) -> dict:
    """The rentals' input counts in a step's manifest (the same in every job)."""
    counts = [input_counts(manifest)["rental_transactions"] for manifest in step.values()]
    assert all(c == counts[0] for c in counts)
    return {name: value for name, value in counts[0].items() if name != "rejected"}


def assert_dimensions(step: dict[str, dict], **sources: str) -> None:
    for manifest in step.values():
        assert manifest["ingest"]["dimensions"] == sources


def partials_folders(lake: Path) -> dict[str, list[str]]:
    """job -> its stored partials folders (older ones are pruned when the ledger is written)."""
    root = lake / "data/processed"
    return {job: sorted(p.name for p in (root / job / "_state/partials").iterdir()) for job in JOBS}


def segment_folders(lake: Path) -> list[str]:
    return sorted(p.name for p in (lake / STATE_DIR / "rentals_checked").iterdir())


def fact_inodes(lake: Path) -> dict[str, set[int]]:
    """partition folder -> inodes of its Parquet files in the live fact version."""
    fact = (lake / FACT_DIR).resolve()
    return {
        folder.name: {f.stat().st_ino for f in folder.glob("*.parquet")}
        for folder in fact.iterdir()
        if folder.is_dir()
    }


def _valid_unique_rows(rentals: Path, rows: list[str], valid_ids: set[str]) -> list[str]:
    """Rows that made it into the fact and whose rental id appears once across all files."""
    ids: dict[str, int] = {}
    for path in rentals.iterdir():
        for line in path.read_text().splitlines()[1:]:
            key = line.split(",")[0]
            ids[key] = ids.get(key, 0) + 1
    return [row for row in rows if row.split(",")[0] in valid_ids and ids[row.split(",")[0]] == 1]


@pytest.mark.timeout(900)
def test_incremental_steps_equal_a_full_recomputation(spark, tmp_path: Path, monkeypatch) -> None:
    lake = tmp_path / "lake"
    sizes = DimensionSizes(vehicles=40, locations=12, users=60)
    generate(lake, 1500, seed=7, dirty_fraction=0.05, days=4, split="daily", sizes=sizes)
    rentals = lake / RENTALS_DIR
    first_files = sorted(p.name for p in rentals.iterdir())
    assert len(first_files) == 4

    # 1) no ledger yet: --mode incremental runs as full and writes the ledger
    step = first_step = run_both(spark, lake, "step-1", "incremental")
    for manifest in step.values():
        assert manifest["mode"] == "full"
        assert manifest["ingest"]["files"] == {"new": 4, "changed": 0, "unchanged": 0, "removed": 0}
        assert manifest["ingest"]["hashed"] == 4
    ledger = read_ledger(lake)
    assert sorted(Path(e["path"]).name for e in ledger["files"]) == first_files
    assert all(
        e["checksum"].startswith("sha256:") and e["run_id"] == "step-1" for e in ledger["files"]
    )
    before = fact_inodes(lake)
    assert_dimensions(step, users="validated", vehicles="validated", locations="validated")

    # 2) a new daily file, plus a rental whose user arrives only in the next users snapshot
    append_day(lake, date(2024, 1, 5), 400, dirty_fraction=0.05)
    header, first = (rentals / first_files[0]).read_text().splitlines()[:2]
    late = first.split(",")
    late[0], late[1] = "R_LATE_USER", "U_LATE"
    (rentals / "rentals_2024-01-06.csv").write_text(f"{header}\n{','.join(late)}\n")
    step = run_both(spark, lake, "step-2a", "incremental")
    assert step[vlp.JOB]["ingest"]["files"]["new"] == 2
    # same dimension files, only new rentals files: the new rows are checked and appended,
    # and their partials are stored as a second layer beside step 1's
    assert_checked(step, "append", None, 2, "appended", layers=2)
    # rental ids grow with the day: the new valid keys' range overlaps no stored segment's,
    # so no stored key was read to rule out a key shared across runs
    assert_cross_run_keys(step, "key_ranges_disjoint")
    assert segment_folders(lake) == ["segment=step-1", "segment=step-2a"]
    # the ledger keeps each segment's counts: the stored one's are step 1's, the new one
    # counted the new files' lines
    counts = read_ledger(lake)["segment_counts"]
    assert sorted(counts) == ["step-1", "step-2a"]
    assert without_keys(counts["step-1"]) == rental_counts(first_step)
    new_lines = sum(
        len((rentals / name).read_text().splitlines()) - 1
        for name in ("rentals_2024-01-05.csv", "rentals_2024-01-06.csv")
    )
    new = counts["step-2a"]
    assert new["rows_read"] == new_lines
    assert new["rows_read"] == new["valid"] + sum(new["rejected_by_reason"].values())
    assert new["rejected_by_reason"]["ORPHAN_USER"] >= 1  # R_LATE_USER
    assert [key[:10] for key in new["valid_keys"]] == ["R20240105-"] * 2
    assert partials_folders(lake) == {job: ["run=step-1", "run=step-2a"] for job in JOBS}
    # same dimension files: their stored validated rows are read, not validated again
    assert_dimensions(step, users="snapshot", vehicles="snapshot", locations="snapshot")
    quarantine = spark.read.parquet(
        str(lake / "data/quarantine/rental_transactions" / f"job={vlp.JOB}" / "run_id=step-2a")
    )
    assert quarantine.filter("rental_id = 'R_LATE_USER'").first()["reason_code"] == "ORPHAN_USER"
    # new fact rows were added to exactly the start dates of the new file's valid rentals,
    # beside every earlier file (none was rewritten)
    fact_ids = {r["rental_id"] for r in spark.read.parquet(str(lake / FACT_DIR)).collect()}
    new_rows = (rentals / "rentals_2024-01-05.csv").read_text().splitlines()[1:]
    days = sorted({r.split(",")[3][:10] for r in new_rows if r.split(",")[0] in fact_ids})
    assert days == ["2024-01-05"]
    assert step[vlp.JOB]["partitions"][RENTALS_FACT] == {
        "rewritten": [],
        "appended": days,
        "kept": len(before),
        "dropped": [],
        "found_by": "appended_rows",
    }
    after = fact_inodes(lake)
    assert sorted(set(after) - set(before)) == [f"rental_date={day}" for day in days]
    assert {f: i for f, i in after.items() if f in before} == before
    assert_equals_full_run(spark, lake, "step-2a", tmp_path)

    users_header, *users_rows = (lake / USERS_CSV).read_text().splitlines()
    donor = users_rows[0].split(",")
    donor[0] = "U_LATE"
    (lake / USERS_CSV).write_text("\n".join([users_header, *users_rows, ",".join(donor)]) + "\n")
    step = run_both(spark, lake, "step-2b", "incremental")
    manifest = step[vlp.JOB]
    assert manifest["mode"] == "incremental"
    assert manifest["ingest"]["parsed"] == []  # no rentals file is new: only the users changed
    assert manifest["ingest"]["files"]["unchanged"] == 6
    assert_checked(step, "recheck", "dimensions_changed", 1, "built")
    assert_dimensions(step, users="validated", vehicles="snapshot", locations="snapshot")
    assert segment_folders(lake) == ["segment=step-2b"]  # the earlier segments are pruned
    fact = spark.read.parquet(str(lake / FACT_DIR))
    assert fact.filter("rental_id = 'R_LATE_USER'").count() == 1  # the orphan is now valid
    assert_equals_full_run(spark, lake, "step-2b", tmp_path)

    # only partitions whose content changed were written; the others are the same files
    after = fact_inodes(lake)
    rewritten = set(manifest["partitions"][RENTALS_FACT]["rewritten"])
    late_day = f"rental_date={late[3][:10]}"
    assert late_day.split("=")[1] in rewritten
    for folder, inodes in after.items():
        if folder.split("=")[1] not in rewritten and folder in before:
            assert inodes == before[folder], f"{folder} was rewritten"

    # 3) a file re-delivered unchanged (new mtime, same bytes) is skipped; a changed file
    # replaces its earlier rows (one row dropped, one amount changed); a removed file takes
    # its rows with it
    same = rentals / first_files[1]
    same.write_bytes(same.read_bytes())
    os.utime(same, (1e9, 1e9))
    changed = rentals / first_files[2]
    head, *rows = changed.read_text().splitlines()
    valid_ids = {r["rental_id"] for r in fact.select("rental_id").collect()}
    unique = _valid_unique_rows(rentals, rows, valid_ids)
    dropped, edited = rows.index(unique[0]), unique[1].split(",")
    edited[-1] = "12345.67"
    rows[rows.index(unique[1])] = ",".join(edited)
    dropped_id = rows.pop(dropped).split(",")[0]
    changed.write_text("\n".join([head, *rows]) + "\n")
    (rentals / first_files[3]).unlink()
    step = run_both(spark, lake, "step-3", "incremental")
    for manifest in step.values():
        assert manifest["ingest"]["files"] == {"new": 0, "changed": 1, "unchanged": 4, "removed": 1}
        assert [Path(p).name for p in manifest["ingest"]["parsed"]] == [first_files[2]]
    assert_checked(step, "recheck", "files_changed_or_removed", 1, "built")
    fact = spark.read.parquet(str(lake / FACT_DIR))
    assert fact.filter(f"rental_id = '{dropped_id}'").count() == 0
    edited_rows = fact.filter(f"rental_id = '{edited[0]}'").collect()
    assert [r["total_amount"] for r in edited_rows] == [Decimal("12345.67")]
    assert_equals_full_run(spark, lake, "step-3", tmp_path)

    # 4) a new file repeats the key of a valid earlier rental: the later file name wins, so
    # the earlier row becomes DUPLICATE_KEY; appending cannot see that, every row is rechecked
    valid_ids = {r["rental_id"] for r in fact.select("rental_id").collect()}
    repeated = _valid_unique_rows(rentals, changed.read_text().splitlines()[1:], valid_ids)[0]
    again = repeated.split(",")
    again[-1] = "777.70"
    (rentals / "rentals_2024-01-07.csv").write_text(f"{header}\n{','.join(again)}\n")
    step = run_both(spark, lake, "step-4", "incremental")
    assert_checked(step, "recheck", "duplicate_keys_across_runs", 1, "built")
    assert_cross_run_keys(step, "joined")
    fact = spark.read.parquet(str(lake / FACT_DIR))
    amounts = [r["total_amount"] for r in fact.filter(f"rental_id = '{again[0]}'").collect()]
    assert amounts == [Decimal("777.70")]
    assert_equals_full_run(spark, lake, "step-4", tmp_path)

    # 5) nothing new: the stored verdicts are the answer, no segment is added; the tables and
    # the quarantine equal step 4's (a recheck, compared with a full run above)
    def snapshot(run_id: str) -> dict[str, list]:
        tables = {
            f"{job}.{table}": rows_of(
                spark.read.parquet(str(lake / "data/processed" / job / table))
            )
            for job, names in JOB_TABLES.items()
            for table in names
        }
        for job in JOBS:
            for dataset in DATASETS:
                where = lake / "data/quarantine" / dataset / f"job={job}" / f"run_id={run_id}"
                tables[f"{job} {dataset}"] = rows_of(spark.read.parquet(str(where)).drop("run_id"))
        return tables

    after_recheck = snapshot("step-4")
    step = run_both(spark, lake, "step-5", "incremental")
    assert step[vlp.JOB]["ingest"]["files"]["new"] == 0
    assert_checked(step, "append", None, 1, "reused")
    assert_cross_run_keys(step, None)  # no new row: nothing to compare
    assert segment_folders(lake) == ["segment=step-4"]
    assert partials_folders(lake) == {job: ["run=step-4"] for job in JOBS}
    after_append = snapshot("step-5")
    assert after_append.keys() == after_recheck.keys()
    for what, rows in after_append.items():
        assert_close_rows(rows, after_recheck[what], what)

    # 6) a new key that sorts between stored keys but equals none: the ranges overlap, so the
    # stored keys are joined with it; none is shared, and the run appends. With the layer
    # limit at one, its partials are merged with the stored layer and written as one.
    monkeypatch.setattr("spark_ingest.pipeline.MAX_PARTIAL_LAYERS", 1)
    fact = spark.read.parquet(str(lake / FACT_DIR))
    lowest = fact.selectExpr("min(rental_id) as low").first()["low"]
    between = [f"{lowest}x", *again[1:]]
    (rentals / "rentals_2024-01-08.csv").write_text(f"{header}\n{','.join(between)}\n")
    step = run_both(spark, lake, "step-6", "incremental")
    assert_checked(step, "append", None, 2, "merged")
    assert partials_folders(lake) == {job: ["run=step-6"] for job in JOBS}
    assert_cross_run_keys(step, "joined")
    assert read_ledger(lake)["segment_counts"]["step-6"]["valid_keys"] == [between[0]] * 2
    assert_equals_full_run(spark, lake, "step-6", tmp_path)


def _raw_rentals(lake: Path) -> tuple[list[str], Decimal]:
    """Every rental id in the raw rentals files, and the sum of their amounts (the CSV text
    itself, no job code)."""
    ids, amount = [], Decimal(0)
    for path in sorted((lake / RENTALS_DIR).iterdir()):
        header, *lines = path.read_text().splitlines()
        columns = header.split(",")
        for line in lines:
            values = dict(zip(columns, line.split(","), strict=True))
            ids.append(values["rental_id"])
            amount += Decimal(values["total_amount"])
    return ids, amount


def _run_vlp(spark, lake: Path, run_id: str) -> tuple[int, dict]:
    """Run vehicle_location_performance incrementally; (exit code, manifest)."""
    from spark_ingest.submit import job_args

    code = vlp.main(job_args(lake, run_id, "incremental"), session=spark)
    path = lake / "runs" / run_id / "manifests" / f"{vlp.JOB}.json"
    return code, json.loads(path.read_text())


def _published(spark, lake: Path) -> tuple[int, int, int, Decimal, Decimal]:
    """The live fact's rows, distinct rental ids and amounts' sum, and the vehicle type KPIs'
    total transactions and revenue: (rows, ids, transactions, revenue, fact amount)."""
    fact = spark.read.parquet(str(lake / FACT_DIR))
    kpis = spark.read.parquet(str(lake / "data/processed" / vlp.JOB / "vehicle_type_performance"))
    totals = kpis.agg(
        {"total_transactions_by_vehicle_type": "sum", "total_revenue_by_vehicle_type": "sum"}
    ).first()
    return (
        fact.count(),
        fact.select("rental_id").distinct().count(),
        totals["sum(total_transactions_by_vehicle_type)"],
        Decimal(str(totals["sum(total_revenue_by_vehicle_type)"])),
        Decimal(str(fact.agg({"total_amount": "sum"}).first()[0])),
    )


def _fail_commit_once(monkeypatch) -> list[str]:
    """The next ledger write fails (disk full) after the tables were published; the list
    gets the run id it failed for. Later writes work."""
    from spark_ingest import state as state_module

    real_commit, failures = state_module.IngestState.commit, []

    def commit_once_failing(self, plan, run_id):
        if not failures:
            failures.append(run_id)
            raise OSError(28, "No space left on device (writing the ledger)")
        return real_commit(self, plan, run_id)

    monkeypatch.setattr(state_module.IngestState, "commit", commit_once_failing)
    return failures


@pytest.mark.timeout(600)
def test_a_run_that_published_but_lost_its_ledger_is_not_appended_twice(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """A run that published its tables and then failed writing its ledger leaves the live
    fact holding the new file's rows while the ledger still calls the file new: the next
    append run must not add them beside the live files again."""
    lake = tmp_path / "lake"
    sizes = DimensionSizes(vehicles=10, locations=4, users=20)
    generate(lake, 60, seed=3, days=2, split="daily", sizes=sizes)

    assert _run_vlp(spark, lake, "r1")[0] == 0
    append_day(lake, date(2024, 1, 3), 20)
    failures = _fail_commit_once(monkeypatch)
    code, manifest = _run_vlp(spark, lake, "r2")
    assert (code, failures) == (1, ["r2"])
    assert manifest["ingest"]["check"]["path"] == "append"
    assert read_ledger(lake)["run_id"] == "r1"  # the tables show r2, the ledger is r1's

    code, manifest = _run_vlp(spark, lake, "r3")
    assert code == 0, manifest["error"]
    assert manifest["ingest"]["check"]["path"] == "append"  # the ledger still names r1's files
    ids, amount = _raw_rentals(lake)
    assert len(ids) == len(set(ids)) == 80  # 60 + 20 generated, all valid and distinct
    assert _published(spark, lake) == (80, 80, 80, amount, amount)
    assert manifest["partitions"][RENTALS_FACT]["found_by"] == "fingerprints"

    # the ledger now names the live version: the next day is appended beside its files
    append_day(lake, date(2024, 1, 4), 10)
    code, manifest = _run_vlp(spark, lake, "r4")
    assert code == 0, manifest["error"]
    assert manifest["partitions"][RENTALS_FACT]["found_by"] == "appended_rows"
    ids, amount = _raw_rentals(lake)
    assert _published(spark, lake) == (90, 90, 90, amount, amount)


@pytest.mark.timeout(600)
def test_the_store_keeps_the_rows_of_the_bytes_the_ledger_accepted(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """A run that parses a file's changed bytes and fails before its ledger, then the file's
    original bytes put back: the next run finds the file unchanged and must use the rows of
    those bytes, not the failed run's."""
    lake = tmp_path / "lake"
    sizes = DimensionSizes(vehicles=10, locations=4, users=20)
    generate(lake, 60, seed=5, days=2, split="daily", sizes=sizes)
    assert _run_vlp(spark, lake, "r1")[0] == 0
    ids, amount = _raw_rentals(lake)
    assert len(set(ids)) == 60
    assert _published(spark, lake) == (60, 60, 60, amount, amount)

    day = sorted((lake / RENTALS_DIR).iterdir())[-1]
    original = day.read_text()
    header, *lines = original.splitlines()
    column = header.split(",").index("total_amount")
    edited = []
    for line in lines:  # every amount of the day one unit higher
        values = line.split(",")
        values[column] = str(Decimal(values[column]) + 1)
        edited.append(",".join(values))
    day.write_text("\n".join([header, *edited]) + "\n")
    failures = _fail_commit_once(monkeypatch)
    code, manifest = _run_vlp(spark, lake, "r2")
    assert (code, failures) == (1, ["r2"])
    assert manifest["ingest"]["files"]["changed"] == 1
    assert _published(spark, lake)[4] == amount + len(edited)  # r2's tables are live

    day.write_text(original)  # the operator puts the accepted bytes back
    # and a user arrives: the dimensions changed, so every stored parsed row is checked again
    users = lake / USERS_CSV
    last = users.read_text().splitlines()[-1].split(",")
    with users.open("a") as handle:
        handle.write(",".join(["U_EXTRA", *last[1:]]) + "\n")
    code, manifest = _run_vlp(spark, lake, "r3")
    assert code == 0, manifest["error"]
    assert manifest["ingest"]["files"] == {"new": 0, "changed": 0, "unchanged": 2, "removed": 0}
    assert manifest["ingest"]["check"]["path"] == "recheck"
    assert _published(spark, lake) == (60, 60, 60, amount, amount)


@pytest.mark.timeout(600)
def test_raw_file_names_with_url_characters_run_incrementally(spark, tmp_path: Path) -> None:
    """Hadoop lists local files as unencoded URIs: a raw file named with a ``#`` or a space is
    fingerprinted, parsed and, unchanged, skipped by the next run."""
    lake = tmp_path / "lake"
    sizes = DimensionSizes(vehicles=10, locations=4, users=20)
    generate(lake, 40, seed=9, days=2, split="daily", sizes=sizes)
    first, second = sorted((lake / RENTALS_DIR).iterdir())
    first.rename(first.with_name("rentals#1.csv"))
    second.rename(second.with_name("rentals 2.csv"))
    ids, amount = _raw_rentals(lake)
    assert len(set(ids)) == 40

    code, manifest = _run_vlp(spark, lake, "r1")
    assert code == 0, manifest["error"]
    assert _published(spark, lake) == (40, 40, 40, amount, amount)
    code, manifest = _run_vlp(spark, lake, "r2")
    assert code == 0, manifest["error"]
    assert manifest["ingest"]["files"] == {"new": 0, "changed": 0, "unchanged": 2, "removed": 0}
    assert _published(spark, lake) == (40, 40, 40, amount, amount)

"""Publishing: staged versions, atomic symlink swap, pruning, and the quarantine location."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spark_ingest.publish import KEEP_VERSIONS, Publisher, write_quarantine


def read_values(table_dir: Path) -> list[int]:
    files = [p for p in table_dir.rglob("*.parquet") if not p.name.startswith(("_", "."))]
    return sorted(v for f in files for v in pq.read_table(f).column("x").to_pylist())


def test_swap_is_atomic_and_keeps_two_versions(spark, tmp_path):
    root = tmp_path / "processed"
    link = root / "job" / "t"
    old = Publisher(spark, str(root), "job", "run1")
    assert old.stage("t", spark.createDataFrame([(1,), (2,)], "x int")) == 2
    assert not link.exists()  # staged only: nothing published yet
    old.publish()
    assert link.is_symlink() and read_values(link) == [1, 2]

    new = Publisher(spark, str(root), "job", "run2")
    new.stage("t", spark.createDataFrame([(3,)], "x int"))
    assert read_values(link) == [1, 2]  # the old version stays readable until the swap
    new.publish()
    assert os.readlink(link) == os.path.join("_versions", "run2", "t")
    assert read_values(link) == [3]  # exactly the current data, nothing stale beside it

    for run in ("run3", "run4"):
        pub = Publisher(spark, str(root), "job", run)
        pub.stage("t", spark.createDataFrame([(4,)], "x int"))
        pub.publish()
    versions = sorted(os.listdir(root / "job" / "_versions"))
    assert versions == ["run3", "run4"] and len(versions) == KEEP_VERSIONS
    assert sorted(os.listdir(root / "job")) == ["_versions", "t"]  # no temp symlinks left


def test_rerun_with_same_run_id_does_not_overwrite_live_version(spark, tmp_path):
    root = tmp_path / "processed"
    first = Publisher(spark, str(root), "job", "same")
    first.stage("t", spark.createDataFrame([(1,)], "x int"))
    first.publish()
    second = Publisher(spark, str(root), "job", "same")
    second.stage("t", spark.createDataFrame([(2,)], "x int"))
    assert read_values(root / "job" / "t") == [1]
    second.publish()
    assert read_values(root / "job" / "t") == [2]


def test_quarantine_location_and_leading_columns(spark, tmp_path):
    rejected = spark.createDataFrame(
        [("f.csv", "NULL_KEY", ["NULL_KEY"], "detail", ",a", "", "a")],
        "source_file string, reason_code string, reason_codes array<string>, "
        "reason_detail string, raw_record string, user_id string, first_name string",
    )
    uri = write_quarantine(rejected, str(tmp_path / "q"), "users", "job1", "run1")
    assert uri.endswith("q/users/job=job1/run_id=run1")
    table = pq.read_table(uri)
    assert table.column_names[:8] == [
        "dataset",
        "job",
        "run_id",
        "source_file",
        "reason_code",
        "reason_codes",
        "reason_detail",
        "raw_record",
    ]
    assert table.column("dataset").to_pylist() == ["users"]


def test_rentals_fact_is_hive_partitioned_by_rental_date(spark, tmp_path):
    # 60 rentals over 2 dates, spread round-robin over 6 input partitions: without the
    # shuffle by rental_date every task would write its own file into both folders
    rows = [(f"R{i}", "2024-01-01" if i % 3 else "2024-01-02") for i in range(60)]
    df = (
        spark.createDataFrame(rows, "rental_id string, d string")
        .selectExpr("rental_id", "to_date(d) as rental_date")
        .repartition(6)
    )
    pub = Publisher(spark, str(tmp_path), "vehicle_location_performance", "run1")
    assert pub.stage("rentals_fact", df) == 60
    pub.publish()
    table = tmp_path / "vehicle_location_performance" / "rentals_fact"
    assert sorted(p.name for p in table.iterdir()) == [
        "rental_date=2024-01-01",
        "rental_date=2024-01-02",
    ]
    for folder, expected_rows in (("2024-01-01", 40), ("2024-01-02", 20)):
        files = list((table / f"rental_date={folder}").glob("*.parquet"))
        assert len(files) == 1
        assert pq.read_table(files[0]).num_rows == expected_rows


def _fail_second_replace(monkeypatch):
    """Make the 2nd os.replace (the 2nd table's swap) fail with ENOSPC; later calls work."""
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_failed_swap_rolls_back_tables_already_swapped(spark, tmp_path, monkeypatch):
    root = tmp_path / "processed"
    tables = ("a", "b", "c")
    old = Publisher(spark, str(root), "job", "run1")
    for i, table in enumerate(tables):
        old.stage(table, spark.createDataFrame([(i,)], "x int"))
    old.publish()

    new = Publisher(spark, str(root), "job", "run2")
    for table in tables:
        new.stage(table, spark.createDataFrame([(100,)], "x int"))
    _fail_second_replace(monkeypatch)
    with pytest.raises(OSError) as info:
        new.publish()
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    # every table still shows run1 (a was swapped to run2, then pointed back)
    for i, table in enumerate(tables):
        link = root / "job" / table
        assert os.readlink(link) == os.path.join("_versions", "run1", table)
        assert read_values(link) == [i]
    assert sorted(os.listdir(root / "job")) == ["_versions", *tables]  # no temp links left


def test_failed_first_publish_leaves_no_table_visible(spark, tmp_path, monkeypatch):
    root = tmp_path / "processed"
    pub = Publisher(spark, str(root), "job", "run1")
    for table in ("a", "b"):
        pub.stage(table, spark.createDataFrame([(1,)], "x int"))
    _fail_second_replace(monkeypatch)
    with pytest.raises(OSError):
        pub.publish()
    monkeypatch.undo()
    assert sorted(os.listdir(root / "job")) == ["_versions"]  # neither a nor b is exposed


def fact_frame(spark, data):
    """A tiny rentals_fact-like frame: (rental_id, total, rental_date)."""
    return spark.createDataFrame(data, "rental_id string, total int, d string").selectExpr(
        "rental_id", "total", "cast(d as date) as rental_date"
    )


def partition_inodes(live: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_ino for p in live.resolve().rglob("*.parquet")}


def test_partition_only_stage_rewrites_changed_partitions_and_links_the_rest(spark, tmp_path):
    root = tmp_path / "processed"
    table = "rentals_fact"
    rows = [("a", 1, "2024-01-01"), ("b", 2, "2024-01-02"), ("c", 3, "2024-01-03")]

    first = Publisher(spark, str(root), "job", "run1")
    first.stage(table, fact_frame(spark, rows))
    first.publish()
    live = root / "job" / table
    inode = partition_inodes(live)

    # b changes, c goes away, d arrives; a is the same
    second = Publisher(spark, str(root), "job", "run2")
    changed = [rows[0], ("b", 20, "2024-01-02"), ("d", 4, "2024-01-04")]
    assert second.stage(table, fact_frame(spark, changed), only_changed_partitions=True) == 3
    assert second.partition_changes[table] == {
        "rewritten": ["2024-01-02", "2024-01-04"],
        "kept": 1,
        "dropped": ["2024-01-03"],
        "found_by": "fingerprints",
    }
    second.publish()
    got = sorted(tuple(r) for r in spark.read.parquet(str(live)).collect())
    want = sorted(tuple(r) for r in fact_frame(spark, changed).collect())
    assert got == want
    after = partition_inodes(live)
    assert after["rental_date=2024-01-01"] == inode["rental_date=2024-01-01"]  # linked
    assert after["rental_date=2024-01-02"] != inode["rental_date=2024-01-02"]

    # a column added since the live version: everything is written again, nothing fails
    third = Publisher(spark, str(root), "job", "run3")
    wider = fact_frame(spark, changed).selectExpr("*", "'x' as note")
    assert third.stage(table, wider, only_changed_partitions=True) == 3
    assert third.partition_changes[table]["rewritten"] == ["*"]
    assert third.partition_changes[table]["kept"] == 0


def test_partition_only_stage_of_appended_rows_adds_files_beside_the_live_ones(spark, tmp_path):
    """An append run passes the rows of its new rentals only: they are written into their
    partitions, every live file is linked (none rewritten), nothing is dropped."""
    root = tmp_path / "processed"
    table = "rentals_fact"
    rows = [("a", 1, "2024-01-01"), ("b", 2, "2024-01-02")]

    first = Publisher(spark, str(root), "job", "run1")
    first.stage(table, fact_frame(spark, rows))
    first.publish()
    live = root / "job" / table

    def inodes() -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for path in live.resolve().rglob("*.parquet"):
            found.setdefault(path.parent.name, set()).add(path.stat().st_ino)
        return found

    before = inodes()
    new = [("c", 3, "2024-01-02"), ("d", 4, "2024-01-03")]
    second = Publisher(spark, str(root), "job", "run2")
    second.recorded = first.links()  # what the job's ledger recorded after run1's publish
    assert second.recorded == {table: os.path.join("_versions", "run1", table)}
    whole = fact_frame(spark, [*rows, *new])
    assert second.stage(table, whole, True, appended=fact_frame(spark, new)) == 4
    assert second.partition_changes[table] == {
        "rewritten": [],
        "appended": ["2024-01-02", "2024-01-03"],
        "kept": 1,
        "dropped": [],
        "found_by": "appended_rows",
    }
    second.publish()
    got = sorted(tuple(r) for r in spark.read.parquet(str(live)).collect())
    assert got == sorted(tuple(r) for r in whole.collect())
    after = inodes()
    assert after["rental_date=2024-01-01"] == before["rental_date=2024-01-01"]  # linked
    assert after["rental_date=2024-01-02"] > before["rental_date=2024-01-02"]  # one file more
    assert len(after["rental_date=2024-01-02"]) == 2 and len(after["rental_date=2024-01-03"]) == 1

    # nothing new (an append run without new rentals): every live file, nothing written
    third = Publisher(spark, str(root), "job", "run3")
    third.recorded = run2_links = second.links()
    assert third.stage(table, whole, True, appended=fact_frame(spark, new).limit(0)) == 4
    assert third.partition_changes[table]["appended"] == []
    third.publish()
    assert inodes() == after

    # the live version (run3) is not the one the ledger recorded (run2: run3 published, then
    # failed before its ledger): the new rows may be live already, so partitions are compared
    fourth = Publisher(spark, str(root), "job", "run4")
    fourth.recorded = run2_links
    assert fourth.stage(table, whole, True, appended=fact_frame(spark, new)) == len(rows + new)
    assert fourth.partition_changes[table]["found_by"] == "fingerprints"
    assert fourth.partition_changes[table]["rewritten"] == []  # run3 holds every row once

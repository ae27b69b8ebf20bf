"""The local crawler: views, partitions, ignored files, schema history, failures."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from lake_fixtures import VL, publish, rewrite_table
from typer.testing import CliRunner

from carrental.catalog import crawl, crawler_for_table
from carrental.errors import UsageError


def _query(lake: Path, sql: str):
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_crawl_registers_every_table_with_hand_counted_rows(lake: Path) -> None:
    result = crawl(lake)["Crawler"]
    assert result["State"] == "READY"
    assert result["LastCrawl"]["Status"] == "SUCCEEDED"
    assert result["LastCrawl"]["ErrorMessage"] is None
    counts = {t["Name"]: int(t["Parameters"]["recordCount"]) for t in result["Tables"]}
    assert counts == {
        "location_performance": 3,
        "vehicle_type_performance": 3,
        "rentals_fact": 5,
        "user_transaction_summary": 3,
        "overall_transaction_statistics": 1,
        "top_users_by_spending": 3,
    }
    assert _query(lake, "select sum(total_amount) from car_rental_db.rentals_fact") == [
        (pytest.approx(460.75),)
    ]


def test_partition_folder_becomes_a_date_column(lake: Path) -> None:
    result = crawl(lake, tables=["rentals_fact"])["Crawler"]
    (fact,) = result["Tables"]
    assert fact["PartitionKeys"] == [{"Name": "rental_date", "Type": "date"}]
    columns = {c["Name"]: c["Type"] for c in fact["StorageDescriptor"]["Columns"]}
    assert columns["total_amount"] == "decimal(12,2)"
    assert columns["pickup_location"] == "int"
    assert "rental_date" not in columns
    rows = _query(
        lake,
        "select rental_date, count(*) from car_rental_db.rentals_fact group by 1 order by 1",
    )
    assert rows == [(date(2024, 1, 1), 2), (date(2024, 1, 2), 2), (date(2024, 1, 3), 1)]


def test_success_temporary_and_hidden_files_are_ignored(lake: Path) -> None:
    fact = lake / "data/processed" / VL / "rentals_fact"
    junk = duckdb.connect()
    # A half-written task output with a different schema, and a hidden copy of real rows.
    (fact / "_temporary" / "0").mkdir(parents=True)
    junk.execute(f"copy (select 'x' as other) to '{fact}/_temporary/0/part-1.parquet'")
    day = fact / "rental_date=2024-01-01"
    junk.execute(
        f"copy (select * from read_parquet('{day}/data_0.parquet')) to '{day}/.part-9.parquet'"
    )
    junk.execute(
        f"copy (select * from read_parquet('{day}/data_0.parquet')) to '{day}/_part-8.parquet'"
    )
    junk.close()
    result = crawl(lake, tables=["rentals_fact"])["Crawler"]
    assert result["LastCrawl"]["Status"] == "SUCCEEDED"
    assert result["Tables"][0]["Parameters"]["recordCount"] == "5"


def test_view_follows_the_published_symlink(lake: Path) -> None:
    crawl(lake, tables=["location_performance"])
    rewrite_table(
        lake, "location_performance", "select * from current where location_id = 1", run_id="r2"
    )
    # No re-crawl needed: the view reads through the table's pointer.
    assert _query(lake, "select location_id from car_rental_db.location_performance") == [(1,)]
    publish(lake, VL, "location_performance", "r1")
    assert _query(lake, "select count(*) from car_rental_db.location_performance") == [(3,)]


def test_added_column_is_accepted_and_logged(lake: Path) -> None:
    crawl(lake, tables=["vehicle_type_performance"])
    rewrite_table(
        lake,
        "vehicle_type_performance",
        "select *, 1.5::double as utilisation from current",
        run_id="r2",
    )
    # Until the next crawl, the catalog's view keeps the crawled columns.
    before = _query(lake, "describe car_rental_db.vehicle_type_performance")
    assert "utilisation" not in [r[0] for r in before]
    result = crawl(lake, tables=["vehicle_type_performance"])["Crawler"]
    assert result["LastCrawl"]["Status"] == "SUCCEEDED"
    assert result["SchemaChanges"] == [
        {
            "Table": "vehicle_type_performance",
            "Column": "utilisation",
            "Change": "ADDED",
            "NewType": "double",
        }
    ]
    history = json.loads((lake / "catalog/schemas/vehicle_type_performance.json").read_text())
    assert len(history["crawls"]) == 2
    assert history["crawls"][-1]["changes"][0]["Column"] == "utilisation"
    assert _query(lake, "select max(utilisation) from car_rental_db.vehicle_type_performance") == [
        (1.5,)
    ]


def test_removed_and_retyped_columns_fail_and_keep_the_old_view(lake: Path) -> None:
    crawl(lake, tables=["location_performance"])
    rewrite_table(
        lake,
        "location_performance",
        "select * exclude (city, total_transactions_at_location), "
        "cast(total_transactions_at_location as varchar) as total_transactions_at_location "
        "from current",
        run_id="r2",
    )
    result = crawl(lake, tables=["location_performance"])["Crawler"]
    assert result["LastCrawl"]["Status"] == "FAILED"
    message = result["LastCrawl"]["ErrorMessage"]
    assert "location_performance" in message
    assert "city removed" in message
    assert "total_transactions_at_location type_changed (bigint -> string)" in message
    kinds = {(c["Column"], c["Change"]) for c in result["SchemaChanges"]}
    assert kinds == {("city", "REMOVED"), ("total_transactions_at_location", "TYPE_CHANGED")}
    # The view keeps its previous definition (it still lists `city`).
    (view_sql,) = _query(
        lake,
        "select sql from duckdb_views() "
        "where schema_name = 'car_rental_db' and view_name = 'location_performance'",
    )[0]
    assert " city," in view_sql
    history = json.loads((lake / "catalog/schemas/location_performance.json").read_text())
    assert len(history["crawls"]) == 1  # the rejected schema is not recorded


def test_empty_table_fails_naming_the_table(lake: Path) -> None:
    target = lake / "data/processed" / VL / "_versions" / "r2" / "vehicle_type_performance"
    target.mkdir(parents=True)
    (target / "_SUCCESS").write_text("")
    publish(lake, VL, "vehicle_type_performance", "r2")
    result = crawl(lake)["Crawler"]
    assert result["LastCrawl"]["Status"] == "FAILED"
    assert "table vehicle_type_performance: empty" in result["LastCrawl"]["ErrorMessage"]
    # The other tables are still registered.
    assert len(result["Tables"]) == 5


def test_unreadable_table_fails_naming_the_table(lake: Path) -> None:
    target = lake / "data/processed" / VL / "_versions" / "r2" / "location_performance"
    target.mkdir(parents=True)
    (target / "part-00000.parquet").write_bytes(b"this is not parquet")
    publish(lake, VL, "location_performance", "r2")
    result = crawl(lake, tables=["location_performance"])["Crawler"]
    assert result["LastCrawl"]["Status"] == "FAILED"
    assert "table location_performance: unreadable" in result["LastCrawl"]["ErrorMessage"]


def test_unknown_or_hostile_table_names_are_rejected(lake: Path) -> None:
    for name in ["nope", 'x"; drop schema car_rental_db; --', "../etc"]:
        with pytest.raises(UsageError):
            crawl(lake, tables=[name])
    with pytest.raises(UsageError):
        crawl(lake, crawler="user_transaction_analysis_crawler", tables=["rentals_fact"])


def test_quotes_in_the_lake_path_are_safe(tmp_path: Path) -> None:
    from lake_fixtures import build_lake

    lake = build_lake(tmp_path / "o'brien lake")
    result = crawl(lake, tables=["overall_transaction_statistics"])["Crawler"]
    assert result["LastCrawl"]["Status"] == "SUCCEEDED"


def test_crawler_name_run_id_result_file(lake: Path) -> None:
    result = crawl(lake, crawler="user_transaction_analysis_crawler", run_id="run-1")["Crawler"]
    assert result["Name"] == "user_transaction_analysis_crawler"
    assert {t["Name"] for t in result["Tables"]} == {
        "user_transaction_summary",
        "overall_transaction_statistics",
        "top_users_by_spending",
    }
    saved = json.loads(
        (lake / "runs/run-1/crawl/user_transaction_analysis_crawler.json").read_text()
    )
    assert saved["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    assert crawler_for_table("rentals_fact") == "vehicle_location_performance_crawler"


def test_cli_crawl_exit_codes(lake: Path, monkeypatch, capsys) -> None:
    from carrental.cli import app, main

    runner = CliRunner()
    ok = runner.invoke(app, ["--json", "crawl", "--lake-dir", str(lake)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    bad = runner.invoke(app, ["crawl", "--lake-dir", str(lake), "--table", "nope"])
    assert bad.exit_code != 0
    # as the user meets it (main maps the error to its exit code and one line plus a hint)
    monkeypatch.setattr(
        sys, "argv", ["carrental", "crawl", "--lake-dir", str(lake), "--run-id", "../x"]
    )
    with pytest.raises(SystemExit) as unsafe:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert unsafe.value.code == 2, err
    assert "invalid run id '../x'" in err
    assert "--run-id 20240501T060000Z-demo" in err  # the hint every command gives
    assert not (lake / "runs" / "x").exists() and not (lake.parent / "x").exists()
    assert "Examples:" in runner.invoke(app, ["crawl", "--help"]).output

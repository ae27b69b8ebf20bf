"""dbt build on the fixture lake: green, hand-computed mart values, freshness, the gate."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbt_support import DBT_TIMEOUT, MARTS
from lake_fixtures import EXPECTED, UT, VL, _q, build_lake, publish, rewrite_table

from carrental.catalog import crawl
from carrental.dbt_runner import run_dbt

DAY0 = datetime(2024, 1, 1).date()


def _rows(lake: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _mart_snapshot(lake: Path) -> dict[str, list[tuple]]:
    return {m: _rows(lake, f"select * from car_rental_analytics.{m} order by all") for m in MARTS}


def test_build_is_green(built_lake) -> None:
    lake, result = built_lake
    assert result.returncode == 0, result.stdout[-4000:]
    assert result.failed_nodes == []
    statuses = {r["unique_id"]: r["status"] for r in result.run_results["results"]}
    for mart in MARTS:
        assert statuses[f"model.carrental.{mart}"] == "success"
    kinds = {uid.split(".")[0] for uid in statuses}
    assert {"model", "test", "unit_test"} <= kinds
    saved = lake / "runs" / "run-1" / "dbt" / "run_results.json"
    assert json.loads(saved.read_text())["results"]


def test_business_kpis_match_hand_values(built_lake) -> None:
    lake, _ = built_lake
    ((revenue, rentals, users, vehicles, avg_value, avg_hours),) = _rows(
        lake, "select * from car_rental_analytics.business_kpis"
    )
    assert revenue == EXPECTED["total_revenue"]
    assert (rentals, users, vehicles) == (5, 3, 3)
    assert avg_value == pytest.approx(EXPECTED["avg_rental_value"])
    assert avg_hours == pytest.approx(EXPECTED["avg_rental_duration_hours"])


def test_location_leaderboard_is_the_pareto_view(built_lake) -> None:
    lake, _ = built_lake
    rows = _rows(
        lake,
        "select location_id, total_revenue, total_rentals, revenue_share, "
        "cumulative_revenue_share, revenue_rank, is_pareto_core "
        "from car_rental_analytics.location_leaderboard order by revenue_rank",
    )
    assert [r[5] for r in rows] == [1, 2, 3]
    for row, (loc, revenue, rentals, share, cumulative) in zip(
        rows, EXPECTED["leaderboard"], strict=True
    ):
        assert row[:3] == (loc, revenue, rentals)
        assert row[3] == pytest.approx(share)
        assert row[4] == pytest.approx(cumulative)
    # Before Harbor, Downtown alone has 78% (< 80%): Downtown and Harbor are the core.
    assert [r[6] for r in rows] == [True, True, False]


def test_vehicle_type_mix(built_lake) -> None:
    lake, _ = built_lake
    rows = _rows(
        lake,
        "select vehicle_type, total_revenue, total_rentals, avg_rental_duration_hours, "
        "revenue_share from car_rental_analytics.vehicle_type_mix",
    )
    assert {r[0]: (r[1], r[2], pytest.approx(r[3])) for r in rows} == EXPECTED["vehicle_types"]
    assert sum(r[4] for r in rows) == pytest.approx(1.0)
    assert {r[0]: r[4] for r in rows}["suv"] == pytest.approx(250.5 / 460.75)


def test_customer_segments_and_masked_customers(built_lake) -> None:
    lake, _ = built_lake
    rows = _rows(
        lake,
        "select value_segment, customer_count, total_spending, revenue_share "
        "from car_rental_analytics.customer_value_segments order by segment_order",
    )
    assert [r[0] for r in rows] == ["top_1_pct", "top_10_pct", "rest"]
    assert {r[0]: (r[1], r[2]) for r in rows} == EXPECTED["segments"]
    assert rows[0][3] == pytest.approx(260.5 / 460.75)
    customers = _rows(
        lake,
        "select user_id, email_masked, value_segment, spending_rank "
        "from car_rental_analytics.customers order by spending_rank",
    )
    assert customers == [
        ("U2", "b***@example.org", "top_1_pct", 1),
        ("U1", "a***@example.com", "rest", 2),
        ("U3", "c***@mail.example.net", "rest", 3),
    ]


def test_segment_names_follow_the_tier_variables(built_lake) -> None:
    """With tiers of 34% and 67% of the three customers, ceil(1.02) = 2 customers are in the
    first tier and ceil(2.01) = 3 within the second: the names say so, and the
    accepted_values tests, built from the same variables, pass."""
    lake, first = built_lake
    assert first.returncode == 0
    select = ["-s", "+customer_value_segments", "customers"]
    try:
        result = run_dbt(
            lake,
            ["build", *select, "--vars", "{top_segment_pct: 34, high_segment_pct: 67}"],
            timeout=DBT_TIMEOUT,
        )
        assert result.returncode == 0, result.failed_nodes
        segments = _rows(
            lake,
            "select value_segment, customer_count, segment_description "
            "from car_rental_analytics.customer_value_segments order by segment_order",
        )
        assert segments == [
            ("top_34_pct", 2, "Top 34% of customers by spending"),
            ("top_67_pct", 1, "Rest of the top 67%"),
            ("rest", 0, "Everyone else"),
        ]
        customers = _rows(
            lake,
            "select user_id, value_segment from car_rental_analytics.customers "
            "order by spending_rank",
        )
        assert customers == [("U2", "top_34_pct"), ("U1", "top_34_pct"), ("U3", "top_67_pct")]
    finally:
        assert run_dbt(lake, ["build", *select], timeout=DBT_TIMEOUT).returncode == 0


def test_no_raw_pii_in_the_analytics_schema(built_lake) -> None:
    """Analysts query the analytics schema: no relation there, a mart or a staging or
    intermediate view, has a raw PII column (staging drops the names and masks the e-mail)."""
    lake, _ = built_lake
    columns = _rows(
        lake,
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'car_rental_analytics'",
    )
    relations = {c[0] for c in columns}
    assert set(MARTS) | {"stg_car_rental__user_spending", "int_customers_segmented"} <= relations
    pii = {"first_name", "last_name", "email", "phone_number", "driver_license_number"}
    assert not [c for c in columns if c[1] in pii]
    values = _rows(lake, "select email_masked from car_rental_analytics.customers")
    assert not any(v[0] in {"alice.smith@example.com", "bob@example.org"} for v in values)


def test_daily_business_metrics(built_lake) -> None:
    lake, _ = built_lake
    rows = _rows(
        lake,
        "select rental_date, total_revenue, total_rentals, active_users, "
        "avg_rental_duration_hours, rental_week_start_date "
        "from car_rental_analytics.daily_business_metrics order by rental_date",
    )
    expected = EXPECTED["daily"]
    assert [r[0] for r in rows] == [DAY0 + timedelta(days=d) for d in sorted(expected)]
    for row, day in zip(rows, sorted(expected), strict=True):
        revenue, rentals, users, hours = expected[day]
        assert row[1:4] == (revenue, rentals, users)
        assert row[4] == pytest.approx(hours)
        assert row[5] == DAY0  # 2024-01-01 is a Monday
    assert sum(r[1] for r in rows) == Decimal("460.75")


def test_source_freshness_on_the_fact(built_lake, tmp_path: Path) -> None:
    """Warn-only: historical (generated) data warns but does not fail the command."""
    stale_lake, _ = built_lake  # rentals from January 2024: far older than a day
    stale = run_dbt(stale_lake, ["source", "freshness"], timeout=DBT_TIMEOUT)
    assert stale.returncode == 0, stale.stdout[-3000:]
    results = json.loads((stale_lake / ".dbt/target/sources.json").read_text())["results"]
    assert [(r["unique_id"], r["status"]) for r in results] == [
        ("source.carrental.car_rental.rentals_fact", "warn")
    ]
    fresh_day0 = datetime.now(UTC).date() - timedelta(days=2)  # last rental starts today 00:00
    fresh_lake = build_lake(tmp_path / "fresh", day0=fresh_day0)
    crawl(fresh_lake, tables=["rentals_fact"])
    fresh = run_dbt(
        fresh_lake,
        ["source", "freshness", "-s", "source:car_rental.rentals_fact"],
        timeout=DBT_TIMEOUT,
    )
    assert fresh.returncode == 0, fresh.stdout[-3000:]
    sources = json.loads((fresh_lake / ".dbt/target/sources.json").read_text())
    assert [r["status"] for r in sources["results"]] == ["pass"]


def test_gate_skips_marts_and_keeps_last_good_version(built_lake) -> None:
    """Vehicle-type revenue off by 1.00, caught only by the singular reconciliation
    test: dbt build exits non-zero, every mart is skipped, and the previous marts
    stay intact and queryable."""
    lake, first = built_lake
    assert first.returncode == 0
    before = _mart_snapshot(lake)
    rewrite_table(
        lake,
        "vehicle_type_performance",
        "select * replace (total_revenue_by_vehicle_type + 1 as total_revenue_by_vehicle_type) "
        "from current",
        run_id="off-by-one",
    )
    try:
        assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        result = run_dbt(lake, ["build"], timeout=DBT_TIMEOUT)
        assert result.returncode != 0
        assert result.failed_nodes == ["test.carrental.assert_revenue_and_counts_reconcile"]
        statuses = {r["unique_id"]: r["status"] for r in result.run_results["results"]}
        for mart in MARTS:
            assert statuses[f"model.carrental.{mart}"] == "skipped", mart
        assert _mart_snapshot(lake) == before
        ((revenue,),) = _rows(lake, "select total_revenue from car_rental_analytics.business_kpis")
        assert revenue == EXPECTED["total_revenue"]
    finally:
        publish(lake, VL, "vehicle_type_performance", "r1")
        crawl(lake)


def test_duplicate_source_key_skips_downstream_marts(built_lake) -> None:
    """A duplicated location row fails the source `unique` test; even the
    rentals-only business_kpis is skipped (every mart depends on the gate model)."""
    lake, _ = built_lake
    before = _mart_snapshot(lake)
    rewrite_table(
        lake,
        "location_performance",
        "select * from current union all select * from current where location_id = 2",
        run_id="duplicate",
    )
    try:
        result = run_dbt(lake, ["build", "-s", "+business_kpis"], timeout=DBT_TIMEOUT)
        assert result.returncode != 0
        assert any(
            n.startswith("test.carrental.source_unique_car_rental_location_performance")
            for n in result.failed_nodes
        ), result.failed_nodes
        statuses = {r["unique_id"]: r["status"] for r in result.run_results["results"]}
        assert statuses["model.carrental.business_kpis"] == "skipped"
        assert _mart_snapshot(lake) == before
    finally:
        publish(lake, VL, "location_performance", "r1")
        crawl(lake)


def _rewrite_rentals_fact(lake: Path, query: str, *, run_id: str) -> None:
    """Publish a new version of the partitioned rentals_fact from a DuckDB query
    that may read the current version as ``current``."""
    table = lake / "data" / "processed" / VL / "rentals_fact"
    out = lake / "data" / "processed" / VL / "_versions" / run_id / "rentals_fact"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(
            "create view current as select * from read_parquet("
            f"{_q(str(table / '*' / '*.parquet'))}, hive_partitioning = true)"
        )
        con.execute(
            f"copy ({query}) to {_q(str(out))} "
            "(format parquet, partition_by (rental_date), overwrite_or_ignore)"
        )
    finally:
        con.close()
    (out / "_SUCCESS").write_text("")
    publish(lake, VL, "rentals_fact", run_id)


def _assert_gate_held(lake: Path, result, before: dict[str, list[tuple]]) -> None:
    assert result.returncode != 0
    statuses = {r["unique_id"]: r["status"] for r in result.run_results["results"]}
    for mart in MARTS:
        assert statuses[f"model.carrental.{mart}"] == "skipped", mart
    assert _mart_snapshot(lake) == before
    ((users, vehicles, avg_value),) = _rows(
        lake,
        "select active_users, vehicles_rented, avg_rental_value "
        "from car_rental_analytics.business_kpis",
    )
    assert (users, vehicles) == (3, 3)
    assert avg_value == pytest.approx(EXPECTED["avg_rental_value"])


RECONCILE = "test.carrental.assert_revenue_and_counts_reconcile"


def _failed(result) -> list[str]:
    """Failed node ids without the hash dbt appends to long generic-test names."""
    return sorted(n.rsplit(".", 1)[0] if n.count(".") > 2 else n for n in result.failed_nodes)


@pytest.mark.parametrize(
    ("column", "corrupted", "failed"),
    [
        ("overall_total_unique_users", "overall_total_unique_users + 1", [RECONCILE]),
        (
            "overall_total_unique_vehicles_rented",
            "overall_total_unique_vehicles_rented - 1",
            [RECONCILE],
        ),
        ("overall_avg_transaction_value", "overall_avg_transaction_value + 0.01", [RECONCILE]),
        (
            "overall_total_unique_users",
            "cast(null as bigint)",
            # The source test fails first; the reconciliation downstream is skipped.
            [
                "test.carrental.source_not_null_car_rental_overall_transaction_statistics_"
                "overall_total_unique_users"
            ],
        ),
    ],
    ids=["users", "vehicles", "avg_value", "null_users"],
)
def test_overall_statistics_mismatch_skips_marts(
    built_lake, column: str, corrupted: str, failed: list[str]
) -> None:
    """Spark's overall distinct users / vehicles / average value disagree with the
    rentals fact (or are missing): the reconciliation upstream of every mart fails,
    so business_kpis and the other marts are skipped and keep their last good
    version (a test on business_kpis itself would run only after it was replaced)."""
    lake, first = built_lake
    assert first.returncode == 0
    before = _mart_snapshot(lake)
    rewrite_table(
        lake,
        "overall_transaction_statistics",
        f"select * replace ({corrupted} as {column}) from current",
        run_id=f"overall-{column}",
    )
    try:
        assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        result = run_dbt(lake, ["build"], timeout=DBT_TIMEOUT)
        assert _failed(result) == sorted(failed), result.failed_nodes
        _assert_gate_held(lake, result, before)
    finally:
        publish(lake, UT, "overall_transaction_statistics", "r1")
        crawl(lake)


def _duration_check_failures(lake: Path) -> int:
    """Run the singular duration check alone; it must fail: its number of failing rows."""
    check = run_dbt(
        lake, ["test", "-s", "assert_rental_duration_matches_timestamps"], timeout=DBT_TIMEOUT
    )
    assert check.failed_nodes == ["test.carrental.assert_rental_duration_matches_timestamps"]
    (result_row,) = check.run_results["results"]
    return result_row["failures"]


def test_a_duration_off_by_half_a_minute_fails_the_duration_check(built_lake) -> None:
    """The jobs never round a duration, so the check allows one second, not the 0.01 h
    (36 s) it once allowed: a duration cut to whole minutes is caught."""
    lake, first = built_lake
    assert first.returncode == 0
    _rewrite_rentals_fact(
        lake,
        "select * replace (case when rental_id = 'R1' then rental_duration_hours + 30.0 / 3600 "
        "else rental_duration_hours end as rental_duration_hours) from current",
        run_id="duration-off",
    )
    try:
        assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        assert _duration_check_failures(lake) == 1
    finally:
        publish(lake, VL, "rentals_fact", "r1")
        crawl(lake)


def test_null_rental_durations_fail_the_gate(built_lake) -> None:
    """Null durations in the fact fail the source not_null test and the duration
    check (abs(null - x) > tolerance would let them through); the marts are skipped."""
    lake, first = built_lake
    assert first.returncode == 0
    before = _mart_snapshot(lake)
    _rewrite_rentals_fact(
        lake,
        "select * replace (case when rental_id in ('R1', 'R4') then null "
        "else rental_duration_hours end as rental_duration_hours) from current",
        run_id="null-durations",
    )
    try:
        assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        result = run_dbt(lake, ["build"], timeout=DBT_TIMEOUT)
        assert _failed(result) == [
            "test.carrental.source_not_null_car_rental_rentals_fact_rental_duration_hours"
        ], result.failed_nodes
        (failures,) = {r["failures"] for r in result.run_results["results"]} - {0, None}
        assert failures == 2  # R1 and R4
        _assert_gate_held(lake, result, before)
        # The build skipped the duration check (its source failed first); on its
        # own it must catch the nulls as well.
        assert _duration_check_failures(lake) == 2
    finally:
        publish(lake, VL, "rentals_fact", "r1")
        crawl(lake)

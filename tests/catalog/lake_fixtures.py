"""A tiny processed lake written with DuckDB, matching the Spark output contract.

The values are hand-chosen so every mart value can be worked out on paper
(see EXPECTED below, computed by hand from the five rentals, not by the code
under test). Tables are published like the jobs do: written under
``_versions/<run_id>/<table>`` and exposed through a ``<table>`` symlink.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from spark_ingest.layout import TABLE_JOB

VL = "vehicle_location_performance"
UT = "user_transaction_analysis"

# rental_id, user_id, vehicle_id, day offset, start hh:mm, end (day offset, hh:mm), pickup, dropoff, amount
RENTALS = [
    ("R1", "U1", "V1", 0, "10:00", 0, "12:00", 1, 2, "100.00"),
    ("R2", "U2", "V2", 0, "09:00", 1, "09:00", 1, 1, "250.50"),
    ("R3", "U1", "V3", 1, "08:00", 1, "08:00", 2, 3, "40.25"),
    ("R4", "U3", "V1", 1, "13:30", 1, "16:00", 3, 1, "60.00"),
    ("R5", "U2", "V1", 2, "00:00", 2, "06:00", 1, 2, "10.00"),
]
DURATIONS = {"R1": 2.0, "R2": 24.0, "R3": 0.0, "R4": 2.5, "R5": 6.0}
VEHICLES = {"V1": ("economy", "Toyota"), "V2": ("suv", "Ford"), "V3": ("luxury", "BMW")}
LOCATIONS = {
    1: ("Downtown", "Springfield", "IL"),
    2: ("Airport", "Springfield", "IL"),
    3: ("Harbor", "Shelbyville", "IL"),
}
USERS = {
    "U1": ("Alice", "Smith", "alice.smith@example.com", True, "2023-05-01"),
    "U2": ("Bob", "Jones", "bob@example.org", True, "2023-06-15"),
    "U3": ("Carol", "White", "carol.white@mail.example.net", False, "2023-07-20"),
}

# Worked out by hand from RENTALS (see the module docstring).
EXPECTED = {
    "total_revenue": Decimal("460.75"),
    "total_rentals": 5,
    "active_users": 3,
    "vehicles_rented": 3,
    "avg_rental_value": 92.15,
    "avg_rental_duration_hours": 6.9,
    # location_id, revenue, rentals, revenue share, cumulative share (rank order)
    "leaderboard": [
        (1, Decimal("360.50"), 3, 360.5 / 460.75, 360.5 / 460.75),
        (3, Decimal("60.00"), 1, 60 / 460.75, 420.5 / 460.75),
        (2, Decimal("40.25"), 1, 40.25 / 460.75, 1.0),
    ],
    # vehicle_type -> revenue, rentals, avg duration
    "vehicle_types": {
        "economy": (Decimal("170.00"), 3, 3.5),
        "suv": (Decimal("250.50"), 1, 24.0),
        "luxury": (Decimal("40.25"), 1, 0.0),
    },
    # segment -> users, revenue
    "segments": {
        "top_1_pct": (1, Decimal("260.50")),
        "top_10_pct": (0, Decimal("0.00")),
        "rest": (2, Decimal("200.25")),
    },
    # day offset -> revenue, rentals, active users, avg duration
    "daily": {
        0: (Decimal("350.50"), 2, 2, 13.0),
        1: (Decimal("100.25"), 2, 2, 1.25),
        2: (Decimal("10.00"), 1, 1, 6.0),
    },
}


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rental_rows(day0: date) -> list[str]:
    rows = []
    for rid, uid, vid, sd, st, ed, et, pick, drop, amount in RENTALS:
        vtype, brand = VEHICLES[vid]
        pn, pc, ps = LOCATIONS[pick]
        dn, dc, ds = LOCATIONS[drop]
        start = f"{day0 + timedelta(days=sd)} {st}:00"
        end = f"{day0 + timedelta(days=ed)} {et}:00"
        rows.append(
            f"({_q(rid)}, {_q(uid)}, {_q(vid)}, {_q(vtype)}, {_q(brand)}, {pick}, {_q(pn)}, "
            f"{_q(pc)}, {_q(ps)}, {drop}, {_q(dn)}, {_q(dc)}, {_q(ds)}, "
            f"timestamp {_q(start)}, timestamp {_q(end)}, {DURATIONS[rid]}, {amount})"
        )
    return rows


RENTALS_COLUMNS = (
    "rental_id, user_id, vehicle_id, vehicle_type, brand, pickup_location, "
    "pickup_location_name, pickup_city, pickup_state, dropoff_location, "
    "dropoff_location_name, dropoff_city, dropoff_state, rental_start_time, "
    "rental_end_time, rental_duration_hours, total_amount"
)

TABLE_SQL = {
    "location_performance": """
        select cast(pickup_location as integer) as location_id,
               any_value(pickup_location_name) as location_name,
               any_value(pickup_city) as city, any_value(pickup_state) as state,
               cast(sum(total_amount) as decimal(18,2)) as total_revenue_at_location,
               cast(count(*) as bigint) as total_transactions_at_location,
               cast(avg(total_amount) as double) as avg_transaction_amount_at_location,
               cast(max(total_amount) as decimal(12,2)) as max_transaction_amount_at_location,
               cast(min(total_amount) as decimal(12,2)) as min_transaction_amount_at_location,
               cast(count(distinct vehicle_id) as bigint) as unique_vehicles_rented_at_location,
               avg(rental_duration_hours) as avg_rental_duration_hours_at_location
        from rentals group by pickup_location order by 1""",
    "vehicle_type_performance": """
        select vehicle_type,
               cast(sum(total_amount) as decimal(18,2)) as total_revenue_by_vehicle_type,
               cast(count(*) as bigint) as total_transactions_by_vehicle_type,
               avg(rental_duration_hours) as avg_rental_duration_hours_by_vehicle_type,
               cast(avg(total_amount) as double) as avg_transaction_amount_by_vehicle_type
        from rentals group by vehicle_type order by 1""",
    "user_transaction_summary": """
        select r.user_id, u.first_name, u.last_name, u.email, u.is_active, u.creation_date,
               cast(count(*) as bigint) as total_rental_transactions,
               cast(sum(total_amount) as decimal(18,2)) as total_spending,
               cast(avg(total_amount) as double) as average_transaction_value
        from rentals as r join users as u using (user_id)
        group by all order by 1""",
    "overall_transaction_statistics": """
        select cast(sum(total_amount) as decimal(18,2)) as overall_total_revenue,
               cast(avg(total_amount) as double) as overall_avg_transaction_value,
               cast(count(*) as bigint) as overall_total_transactions,
               cast(count(distinct user_id) as bigint) as overall_total_unique_users,
               cast(count(distinct vehicle_id) as bigint) as overall_total_unique_vehicles_rented
        from rentals""",
}


def build_lake(lake: Path, *, run_id: str = "r1", day0: date = date(2024, 1, 1)) -> Path:
    """Write the six processed tables under ``lake`` and publish them by symlink."""
    con = duckdb.connect()
    users = ", ".join(
        f"({_q(uid)}, {_q(f)}, {_q(la)}, {_q(e)}, {str(a).lower()}, date {_q(d)})"
        for uid, (f, la, e, a, d) in USERS.items()
    )
    con.execute(
        "create table users as select * from (values "
        + users
        + ") as t(user_id, first_name, last_name, email, is_active, creation_date)"
    )
    con.execute(
        "create table rentals as select rental_id, user_id, vehicle_id, vehicle_type, brand, "
        "cast(pickup_location as integer) as pickup_location, pickup_location_name, pickup_city, "
        "pickup_state, cast(dropoff_location as integer) as dropoff_location, "
        "dropoff_location_name, dropoff_city, dropoff_state, rental_start_time, rental_end_time, "
        "cast(rental_duration_hours as double) as rental_duration_hours, "
        "cast(total_amount as decimal(12,2)) as total_amount from (values "
        + ", ".join(_rental_rows(day0))
        + f") as t({RENTALS_COLUMNS})"
    )
    sql = dict(TABLE_SQL)
    sql["top_users_by_spending"] = (
        "select *, cast(row_number() over (order by total_spending desc, user_id) as integer) "
        "as spending_rank from (" + TABLE_SQL["user_transaction_summary"] + ") "
        "qualify spending_rank <= 100 order by spending_rank"
    )
    for table, query in sql.items():
        job = TABLE_JOB[table]
        out = _version_dir(lake, job, run_id, table)
        con.execute(f"copy ({query}) to {_q(str(out / 'part-00000.parquet'))} (format parquet)")
        (out / "_SUCCESS").write_text("")
        publish(lake, job, table, run_id)
    out = _version_dir(lake, VL, run_id, "rentals_fact")
    con.execute(
        "copy (select *, cast(rental_start_time as date) as rental_date from rentals) "
        f"to {_q(str(out))} (format parquet, partition_by (rental_date), overwrite_or_ignore)"
    )
    (out / "_SUCCESS").write_text("")
    publish(lake, VL, "rentals_fact", run_id)
    con.close()
    return lake


def _version_dir(lake: Path, job: str, run_id: str, table: str) -> Path:
    out = lake / "data" / "processed" / job / "_versions" / run_id / table
    out.mkdir(parents=True, exist_ok=True)
    return out


def publish(lake: Path, job: str, table: str, run_id: str) -> None:
    """Point ``processed/<job>/<table>`` at ``_versions/<run_id>/<table>`` (atomic swap)."""
    base = lake / "data" / "processed" / job
    tmp = base / f".{table}.tmp"
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(os.path.join("_versions", run_id, table), tmp)
    os.replace(tmp, base / table)


def rewrite_table(lake: Path, table: str, query: str, *, run_id: str) -> None:
    """Publish a new version of an unpartitioned table from a DuckDB query.

    ``query`` may read the current version as the relation ``current``.
    """
    job = TABLE_JOB[table]
    current = lake / "data" / "processed" / job / table / "*.parquet"
    out = _version_dir(lake, job, run_id, table)
    con = duckdb.connect()
    con.execute(f"create view current as select * from read_parquet({_q(str(current))})")
    con.execute(f"copy ({query}) to {_q(str(out / 'part-00000.parquet'))} (format parquet)")
    con.close()
    publish(lake, job, table, run_id)

"""A hand-written DuckDB SQL version of the same KPIs: the third reference of `make bench`.

It reads the raw CSVs with explicit types, keeps the rentals that pass the simple checks
(non-empty unique ``rental_id``, end >= start, amount >= 0, known user / vehicle / locations),
and writes the job's tables as Parquet under ``<output_root>/<table>/``::

    python -m bench.duckdb_reference --job vehicle_location_performance \\
        --raw-root LAKE/data/raw --output-root OUT

``vehicle_location_performance`` writes location_performance, vehicle_type_performance and the
date-partitioned rentals_fact (as the project's job does); ``user_transaction_analysis`` writes
user_transaction_summary, overall_transaction_statistics and top_users_by_spending.
Money is DECIMAL end to end; averages are DOUBLE.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys

import duckdb

VLP = "vehicle_location_performance"
UTA = "user_transaction_analysis"
TOP_USERS = 100

COLUMNS: dict[str, dict[str, str]] = {
    "vehicles": {
        "active": "VARCHAR",
        "vehicle_license_number": "VARCHAR",
        "registration_name": "VARCHAR",
        "license_type": "VARCHAR",
        "expiration_date": "VARCHAR",
        "permit_license_number": "VARCHAR",
        "certification_date": "VARCHAR",
        "vehicle_year": "VARCHAR",
        "base_telematics_id": "VARCHAR",
        "vehicle_type": "VARCHAR",
        "brand": "VARCHAR",
        "vehicle_id": "VARCHAR",
    },
    "locations": {
        "location_id": "INTEGER",
        "location_name": "VARCHAR",
        "address": "VARCHAR",
        "city": "VARCHAR",
        "state": "VARCHAR",
        "zip_code": "VARCHAR",
        "latitude": "DOUBLE",
        "longitude": "DOUBLE",
    },
    "users": {
        "user_id": "VARCHAR",
        "first_name": "VARCHAR",
        "last_name": "VARCHAR",
        "email": "VARCHAR",
        "phone_number": "VARCHAR",
        "driver_license_number": "VARCHAR",
        "driver_license_expiry": "VARCHAR",
        "creation_date": "VARCHAR",
        "is_active": "VARCHAR",
    },
    "rental_transactions": {
        "rental_id": "VARCHAR",
        "user_id": "VARCHAR",
        "vehicle_id": "VARCHAR",
        "rental_start_time": "TIMESTAMP",
        "rental_end_time": "TIMESTAMP",
        "pickup_location": "INTEGER",
        "dropoff_location": "INTEGER",
        "total_amount": "DECIMAL(12,2)",
    },
}

VIEW_NAMES = {
    "rental_transactions": "rentals_raw",
    "users": "users_raw",
    "vehicles": "vehicles_raw",
    "locations": "locations_raw",
}

VALID_RENTALS_SQL = """
create temp table valid_rentals as
with rentals as (
    select * from rentals_raw
    where nullif(trim(rental_id), '') is not null
    qualify count(*) over (partition by rental_id) = 1
)
select
    rentals.rental_id,
    rentals.user_id,
    rentals.vehicle_id,
    vehicles.vehicle_type,
    vehicles.brand,
    rentals.pickup_location,
    pickup.location_name as pickup_location_name,
    pickup.city as pickup_city,
    pickup.state as pickup_state,
    rentals.dropoff_location,
    dropoff.location_name as dropoff_location_name,
    dropoff.city as dropoff_city,
    dropoff.state as dropoff_state,
    rentals.rental_start_time,
    rentals.rental_end_time,
    date_diff('second', rentals.rental_start_time, rentals.rental_end_time) / 3600.0
        as rental_duration_hours,
    rentals.total_amount,
    cast(rentals.rental_start_time as date) as rental_date
from rentals
inner join users_raw as users on rentals.user_id = users.user_id
inner join vehicles_raw as vehicles on rentals.vehicle_id = vehicles.vehicle_id
inner join locations_raw as pickup on rentals.pickup_location = pickup.location_id
inner join locations_raw as dropoff on rentals.dropoff_location = dropoff.location_id
where rentals.rental_end_time >= rentals.rental_start_time
    and rentals.total_amount >= 0
"""

TABLE_SQL: dict[str, dict[str, str]] = {
    VLP: {
        "location_performance": """
            select
                pickup_location as location_id,
                any_value(pickup_location_name) as location_name,
                any_value(pickup_city) as city,
                any_value(pickup_state) as state,
                cast(sum(total_amount) as decimal(18,2)) as total_revenue_at_location,
                count(*) as total_transactions_at_location,
                avg(cast(total_amount as double)) as avg_transaction_amount_at_location,
                max(total_amount) as max_transaction_amount_at_location,
                min(total_amount) as min_transaction_amount_at_location,
                count(distinct vehicle_id) as unique_vehicles_rented_at_location,
                avg(rental_duration_hours) as avg_rental_duration_hours_at_location
            from valid_rentals
            group by pickup_location
        """,
        "vehicle_type_performance": """
            select
                vehicle_type,
                cast(sum(total_amount) as decimal(18,2)) as total_revenue_by_vehicle_type,
                count(*) as total_transactions_by_vehicle_type,
                avg(rental_duration_hours) as avg_rental_duration_hours_by_vehicle_type,
                avg(cast(total_amount as double)) as avg_transaction_amount_by_vehicle_type
            from valid_rentals
            group by vehicle_type
        """,
    },
    UTA: {
        "user_transaction_summary": """
            with per_user as (
                select
                    user_id,
                    count(*) as total_rental_transactions,
                    cast(sum(total_amount) as decimal(18,2)) as total_spending,
                    avg(cast(total_amount as double)) as average_transaction_value
                from valid_rentals
                group by user_id
            )
            select
                per_user.user_id,
                users.first_name,
                users.last_name,
                users.email,
                lower(trim(users.is_active)) in ('1', 'true') as is_active,
                try_cast(users.creation_date as date) as creation_date,
                per_user.total_rental_transactions,
                per_user.total_spending,
                per_user.average_transaction_value
            from per_user
            inner join users_raw as users on per_user.user_id = users.user_id
        """,
        "overall_transaction_statistics": """
            select
                cast(sum(total_amount) as decimal(18,2)) as overall_total_revenue,
                avg(cast(total_amount as double)) as overall_avg_transaction_value,
                count(*) as overall_total_transactions,
                count(distinct user_id) as overall_total_unique_users,
                count(distinct vehicle_id) as overall_total_unique_vehicles_rented
            from valid_rentals
        """,
        "top_users_by_spending": f"""
            select
                *,
                cast(row_number() over (order by total_spending desc, user_id) as integer)
                    as spending_rank
            from user_transaction_summary
            order by spending_rank
            limit {TOP_USERS}
        """,
    },
}

FACT_COLUMNS = (
    "rental_id, user_id, vehicle_id, vehicle_type, brand, pickup_location, pickup_location_name, "
    "pickup_city, pickup_state, dropoff_location, dropoff_location_name, dropoff_city, "
    "dropoff_state, rental_start_time, rental_end_time, rental_duration_hours, total_amount, "
    "rental_date"
)


def csv_files(raw_root: str, dataset: str) -> list[str]:
    folder = os.path.join(raw_root, dataset)
    files = sorted(
        path
        for pattern in ("*.csv", "*.csv.gz")
        for path in glob.glob(os.path.join(folder, pattern))
        if not os.path.basename(path).startswith(("_", "."))
    )
    if not files:
        raise FileNotFoundError(f"{dataset}: no *.csv or *.csv.gz file in {folder}")
    return files


def _read_csv(con: duckdb.DuckDBPyConnection, raw_root: str, dataset: str) -> None:
    files = ", ".join("'" + path.replace("'", "''") + "'" for path in csv_files(raw_root, dataset))
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS[dataset].items())
    con.execute(
        f"create temp view {VIEW_NAMES[dataset]} as select * from read_csv([{files}], "
        f"header = true, columns = {{{columns}}}, timestampformat = '%Y-%m-%d %H:%M:%S', "
        "ignore_errors = true)"
    )


def _copy(con: duckdb.DuckDBPyConnection, sql: str, target: str, partition: str = "") -> None:
    if os.path.exists(target):
        shutil.rmtree(target)
    if partition:
        con.execute(f"copy ({sql}) to '{target}' (format parquet, partition_by ({partition}))")
    else:
        os.makedirs(target)
        con.execute(f"copy ({sql}) to '{target}/part-0.parquet' (format parquet)")


def run_job(
    job: str, raw_root: str, output_root: str, threads: int | None = None
) -> dict[str, int]:
    """Compute and write ``job``'s tables; return rows per table."""
    if job not in TABLE_SQL:
        raise ValueError(f"unknown job {job!r}: expected one of {sorted(TABLE_SQL)}")
    con = duckdb.connect()
    if threads:
        con.execute(f"set threads = {int(threads)}")
    con.execute("set preserve_insertion_order = false")
    datasets = ("rental_transactions", "users", "vehicles", "locations")
    for dataset in datasets:
        _read_csv(con, raw_root, dataset)
    con.execute(VALID_RENTALS_SQL)
    rows: dict[str, int] = {}
    for table, sql in TABLE_SQL[job].items():
        con.execute(f"create temp table {table} as {sql}")
        _copy(con, f"select * from {table}", os.path.join(output_root, table))
        rows[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
    if job == VLP:
        target = os.path.join(output_root, "rentals_fact")
        _copy(con, f"select {FACT_COLUMNS} from valid_rentals", target, partition="rental_date")
        rows["rentals_fact"] = con.execute("select count(*) from valid_rentals").fetchone()[0]
    con.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, choices=sorted(TABLE_SQL))
    parser.add_argument("--raw-root", required=True)
    parser.add_argument("--output-root", required=True)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    rows = run_job(args.job, args.raw_root, args.output_root, args.threads)
    print(" ".join(f"{table}={count}" for table, count in rows.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every KPI transform on small inline frames, against values worked out by hand."""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal as D
from unittest import mock

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual as _assert_df_equal
from pyspark.testing import assertSchemaEqual

from spark_ingest import contract as C
from spark_ingest.transforms import (
    NEW_KEY,
    PARTIALS,
    kpi_partial,
    merge_partials,
    new_layer,
    rentals_partial,
    transform_location_performance,
    transform_overall_statistics,
    transform_rentals_fact,
    transform_top_users_by_spending,
    transform_user_transaction_summary,
    transform_vehicle_type_performance,
)

# The output contract, written out here from INTERFACES.md (not imported from the code).
MONEY, AMOUNT = T.DecimalType(18, 2), T.DecimalType(12, 2)
S, INT, L, DBL = T.StringType(), T.IntegerType(), T.LongType(), T.DoubleType()


def schema(*fields: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, dtype, True) for name, dtype in fields])


LOCATION_PERFORMANCE = schema(
    ("location_id", INT),
    ("location_name", S),
    ("city", S),
    ("state", S),
    ("total_revenue_at_location", MONEY),
    ("total_transactions_at_location", L),
    ("avg_transaction_amount_at_location", DBL),
    ("max_transaction_amount_at_location", AMOUNT),
    ("min_transaction_amount_at_location", AMOUNT),
    ("unique_vehicles_rented_at_location", L),
    ("avg_rental_duration_hours_at_location", DBL),
)
VEHICLE_TYPE_PERFORMANCE = schema(
    ("vehicle_type", S),
    ("total_revenue_by_vehicle_type", MONEY),
    ("total_transactions_by_vehicle_type", L),
    ("avg_rental_duration_hours_by_vehicle_type", DBL),
    ("avg_transaction_amount_by_vehicle_type", DBL),
)
USER_SUMMARY_FIELDS = (
    ("user_id", S),
    ("first_name", S),
    ("last_name", S),
    ("email", S),
    ("is_active", T.BooleanType()),
    ("creation_date", T.DateType()),
    ("total_rental_transactions", L),
    ("total_spending", MONEY),
    ("average_transaction_value", DBL),
)
USER_SUMMARY = schema(*USER_SUMMARY_FIELDS)
TOP_USERS = schema(*USER_SUMMARY_FIELDS, ("spending_rank", INT))
OVERALL = schema(
    ("overall_total_revenue", MONEY),
    ("overall_avg_transaction_value", DBL),
    ("overall_total_transactions", L),
    ("overall_total_unique_users", L),
    ("overall_total_unique_vehicles_rented", L),
)
RENTALS_FACT = schema(
    ("rental_id", S),
    ("user_id", S),
    ("vehicle_id", S),
    ("vehicle_type", S),
    ("brand", S),
    ("pickup_location", INT),
    ("pickup_location_name", S),
    ("pickup_city", S),
    ("pickup_state", S),
    ("dropoff_location", INT),
    ("dropoff_location_name", S),
    ("dropoff_city", S),
    ("dropoff_state", S),
    ("rental_start_time", T.TimestampType()),
    ("rental_end_time", T.TimestampType()),
    ("rental_duration_hours", DBL),
    ("total_amount", AMOUNT),
    ("rental_date", T.DateType()),
)


def assertDataFrameEqual(actual, expected, **kwargs) -> None:
    """pyspark.testing.assertDataFrameEqual without its pandas-on-Spark branch.

    With pyarrow importable it imports pyspark.pandas, which fails on pandas 3 (pyspark 4.0.2
    supports pandas 2). Hiding pyarrow for the call keeps the plain Spark comparison.
    """
    with mock.patch.dict(sys.modules, {"pyarrow": None}):
        _assert_df_equal(actual, expected, **kwargs)


def ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


# Six valid rentals: (id, user, vehicle, start, end, pickup, dropoff, amount); hours in comments.
RENTAL_ROWS = [
    (
        "R1",
        "U1",
        "V1",
        ts("2024-01-01 10:00:00"),
        ts("2024-01-01 12:00:00"),
        1,
        2,
        D("110.00"),
    ),  # 2
    (
        "R2",
        "U1",
        "V2",
        ts("2024-01-01 09:00:00"),
        ts("2024-01-02 09:00:00"),
        1,
        1,
        D("250.50"),
    ),  # 24
    (
        "R3",
        "U2",
        "V1",
        ts("2024-01-02 08:00:00"),
        ts("2024-01-02 08:30:00"),
        2,
        3,
        D("20.25"),
    ),  # .5
    ("R4", "U3", "V3", ts("2024-01-03 00:00:00"), ts("2024-01-03 00:00:00"), 3, 3, D("0.00")),  # 0
    (
        "R5",
        "U2",
        "V3",
        ts("2024-01-03 10:00:00"),
        ts("2024-01-03 13:00:00"),
        1,
        3,
        D("999.99"),
    ),  # 3
    (
        "R6",
        "U3",
        "V2",
        ts("2024-01-04 10:00:00"),
        ts("2024-01-04 11:15:00"),
        2,
        1,
        D("45.10"),
    ),  # 1.25
]


@pytest.fixture(scope="module")
def rentals(spark):
    return spark.createDataFrame(RENTAL_ROWS, C.RENTAL_TRANSACTIONS.typed_schema)


@pytest.fixture(params=["one_pass", "merged_parts", "layers"])
def partial(request, rentals):
    """name -> the partial of the six rentals as the KPIs read it: built in one pass; merged
    from the partials of three uneven parts, one of them empty (an append run at the layer
    limit); or the parts' partials stored as layers, each after the earlier ones (an append
    run), and read back with ``kpi_partial``. Every KPI test below checks its hand-worked
    values all three ways."""
    if request.param == "one_pass":
        return lambda name: rentals_partial(name, rentals)
    parts = (
        rentals.filter("rental_id in ('R1', 'R4')"),
        rentals.filter("rental_id = 'none'"),
        rentals.filter("rental_id not in ('R1', 'R4')"),
    )
    if request.param == "merged_parts":
        return lambda name: merge_partials(name, *[rentals_partial(name, part) for part in parts])

    def layered(name: str):
        layers = rentals_partial(name, parts[0])
        for part in parts[1:]:
            layers = layers.unionByName(new_layer(name, rentals_partial(name, part), layers))
        return kpi_partial(name, layers)

    return layered


def test_merging_partials_keeps_their_schema(rentals):
    for name in PARTIALS:
        whole = rentals_partial(name, rentals)
        merged = merge_partials(name, whole, rentals_partial(name, rentals.limit(2)))
        assert merged.schema == whole.schema, name


@pytest.fixture(scope="module")
def locations(spark):
    rows = [
        (1, "Airport", "1 Main St", "Austin", "TX", "73301", 30.1, -97.7),
        (2, "Downtown", "2 Oak St", "Dallas", "TX", "75201", 32.7, -96.8),
        (3, "Harbor", "3 Bay Rd", "Miami", "FL", "33101", 25.7, -80.1),
        (4, "Uptown", "4 Elm St", "Houston", "TX", "77001", 29.7, -95.3),
    ]
    return spark.createDataFrame(rows, C.LOCATIONS.typed_schema)


@pytest.fixture(scope="module")
def vehicles(spark):
    d = date(2026, 1, 1)
    rows = [
        (True, "L1", "R1", "FHV", d, "P1", d, 2019, "B1", "economy", "Toyota", "V1"),
        (False, "L2", "R2", "FHV", d, "P2", d, 2020, "B2", "suv", "Ford", "V2"),
        (True, "L3", "R3", "FHV", d, "P3", d, 2021, "B3", "luxury", "BMW", "V3"),
        (True, "L4", "R4", "FHV", d, "P4", d, 2021, "B4", "van", "Kia", "V4"),
    ]
    return spark.createDataFrame(rows, C.VEHICLES.typed_schema)


@pytest.fixture(scope="module")
def users(spark):
    e = date(2027, 1, 1)
    rows = [
        ("U1", "Ann", "Lee", "ann@x.com", "555-1", "DL1", e, date(2023, 1, 5), True),
        ("U2", "Bob", "Smith", "bob@x.com", "555-2", "DL2", e, date(2023, 2, 5), False),
        ("U3", "Cy", "Doe", "cy@x.com", "555-3", "DL3", e, date(2023, 3, 5), True),
        ("U4", "Di", "Roe", "di@x.com", "555-4", "DL4", e, date(2023, 4, 5), True),
    ]
    return spark.createDataFrame(rows, C.USERS.typed_schema)


def test_location_performance(spark, partial, locations):
    actual = transform_location_performance(partial("by_location_vehicle"), locations)
    assertSchemaEqual(actual.schema, LOCATION_PERFORMANCE)
    expected = [
        # 110 + 250.50 + 999.99; hours (2 + 24 + 3) / 3; vehicles V1 V2 V3
        (
            1,
            "Airport",
            "Austin",
            "TX",
            D("1360.49"),
            3,
            1360.49 / 3,
            D("999.99"),
            D("110.00"),
            3,
            29 / 3,
        ),
        # 20.25 + 45.10; hours (0.5 + 1.25) / 2; vehicles V1 V2
        (2, "Downtown", "Dallas", "TX", D("65.35"), 2, 32.675, D("45.10"), D("20.25"), 2, 0.875),
        (3, "Harbor", "Miami", "FL", D("0.00"), 1, 0.0, D("0.00"), D("0.00"), 1, 0.0),
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, LOCATION_PERFORMANCE))


def test_vehicle_type_performance(spark, partial, vehicles):
    actual = transform_vehicle_type_performance(partial("by_vehicle"), vehicles)
    assertSchemaEqual(actual.schema, VEHICLE_TYPE_PERFORMANCE)
    expected = [
        ("economy", D("130.25"), 2, 1.25, 65.125),  # R1 R3: 2h + .5h
        ("suv", D("295.60"), 2, 12.625, 147.8),  # R2 R6: 24h + 1.25h
        ("luxury", D("999.99"), 2, 1.5, 499.995),  # R4 R5: 0h + 3h
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, VEHICLE_TYPE_PERFORMANCE))


def test_user_transaction_summary(spark, partial, users):
    actual = transform_user_transaction_summary(partial("by_user"), users)
    assertSchemaEqual(actual.schema, USER_SUMMARY)
    expected = [
        ("U1", "Ann", "Lee", "ann@x.com", True, date(2023, 1, 5), 2, D("360.50"), 180.25),
        ("U2", "Bob", "Smith", "bob@x.com", False, date(2023, 2, 5), 2, D("1020.24"), 510.12),
        ("U3", "Cy", "Doe", "cy@x.com", True, date(2023, 3, 5), 2, D("45.10"), 22.55),
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, USER_SUMMARY))


def test_overall_statistics(spark, partial):
    actual = transform_overall_statistics(partial("by_user"), partial("by_vehicle"))
    assertSchemaEqual(actual.schema, OVERALL)
    expected = [(D("1425.84"), 1425.84 / 6, 6, 3, 3)]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, OVERALL))


def test_top_users_ranks_by_spending_then_user_id(spark):
    summary = spark.createDataFrame(
        [
            ("U1", "a", "a", "a", True, date(2023, 1, 1), 1, D("50.00"), 50.0),
            ("U3", "c", "c", "c", True, date(2023, 1, 1), 1, D("70.00"), 70.0),
            ("U2", "b", "b", "b", True, date(2023, 1, 1), 1, D("70.00"), 70.0),
            ("U4", "d", "d", "d", False, date(2023, 1, 1), 1, D("10.00"), 10.0),
        ],
        USER_SUMMARY,
    )
    actual = transform_top_users_by_spending(summary, limit=3)
    assertSchemaEqual(actual.schema, TOP_USERS)
    ranks = [(row.user_id, row.spending_rank) for row in actual.orderBy("spending_rank").collect()]
    assert ranks == [("U2", 1), ("U3", 2), ("U1", 3)]


def test_rentals_fact(spark, rentals, vehicles, locations):
    actual = transform_rentals_fact(rentals, vehicles, locations)
    assertSchemaEqual(actual.schema, RENTALS_FACT)
    got = {row.rental_id: row for row in actual.collect()}
    assert set(got) == {"R1", "R2", "R3", "R4", "R5", "R6"}
    r2 = got["R2"]
    assert (r2.vehicle_type, r2.brand, r2.pickup_location_name, r2.dropoff_city) == (
        "suv",
        "Ford",
        "Airport",
        "Austin",
    )
    assert r2.rental_duration_hours == 24.0
    assert got["R6"].rental_duration_hours == 1.25
    assert got["R6"].pickup_state == "TX" and got["R6"].dropoff_location_name == "Airport"
    assert got["R5"].total_amount == D("999.99")
    assert got["R2"].rental_date == date(2024, 1, 1)  # date of the start, not the end
    assert got["R4"].rental_duration_hours == 0.0


# A later day: R7 rents V1 at Airport again (a pair an earlier layer holds), R8 rents V4 at
# Uptown (a new pair). Hours in comments.
LATER_ROWS = [
    ("R7", "U4", "V1", ts("2024-01-05 10:00:00"), ts("2024-01-05 11:00:00"), 1, 1, D("5.00")),  # 1
    ("R8", "U4", "V4", ts("2024-01-05 12:00:00"), ts("2024-01-05 18:00:00"), 4, 4, D("60.00")),  # 6
]


@pytest.fixture(scope="module")
def later(spark):
    return spark.createDataFrame(LATER_ROWS, C.RENTAL_TRANSACTIONS.typed_schema)


def test_new_layer_counts_only_the_keys_no_earlier_layer_holds(rentals, later):
    stored = rentals_partial("by_location_vehicle", rentals)
    layer = new_layer("by_location_vehicle", rentals_partial("by_location_vehicle", later), stored)
    assert layer.schema == stored.schema
    rows = {(r.pickup_location, r.vehicle_id): r for r in layer.collect()}
    assert {key: row[NEW_KEY] for key, row in rows.items()} == {(1, "V1"): 0, (4, "V4"): 1}
    # the other measures are the new rentals' own
    assert (rows[(1, "V1")].revenue, rows[(1, "V1")].transactions) == (D("5.00"), 1)
    assert rows[(4, "V4")].duration_hours == 6.0
    # a partial the KPIs merge is stored as it is
    by_user = rentals_partial("by_user", later)
    assert new_layer("by_user", by_user, rentals_partial("by_user", rentals)) is by_user


def test_location_performance_counts_a_vehicle_held_by_several_layers_once(
    spark, rentals, later, locations
):
    name = "by_location_vehicle"
    stored = rentals_partial(name, rentals)
    layers = stored.unionByName(new_layer(name, rentals_partial(name, later), stored))
    assert layers.count() == 8  # (1, V1) is in both layers, unmerged
    actual = transform_location_performance(kpi_partial(name, layers), locations)
    expected = [
        # 110 + 250.50 + 999.99 + 5; hours (2 + 24 + 3 + 1) / 4; vehicles V1 V2 V3 (V1 twice)
        (
            1,
            "Airport",
            "Austin",
            "TX",
            D("1365.49"),
            4,
            1365.49 / 4,
            D("999.99"),
            D("5.00"),
            3,
            7.5,
        ),
        (2, "Downtown", "Dallas", "TX", D("65.35"), 2, 32.675, D("45.10"), D("20.25"), 2, 0.875),
        (3, "Harbor", "Miami", "FL", D("0.00"), 1, 0.0, D("0.00"), D("0.00"), 1, 0.0),
        (4, "Uptown", "Houston", "TX", D("60.00"), 1, 60.0, D("60.00"), D("60.00"), 1, 6.0),
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, LOCATION_PERFORMANCE))


def test_location_performance_skips_locations_without_rentals(partial, locations):
    table = transform_location_performance(partial("by_location_vehicle"), locations)
    ids = {row.location_id for row in table.collect()}
    assert 4 not in ids

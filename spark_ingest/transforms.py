"""KPI transforms: pure DataFrame -> DataFrame functions over VALID typed frames.

Inputs are the frames returned by :mod:`spark_ingest.validate` (typed columns, no lineage).
The KPI tables are built in two steps, both here:

1. **partials** (:data:`PARTIALS`, :func:`rentals_partial`): per-key aggregates of the valid
   rentals (sums, counts, minimum, maximum) that merge exactly (:func:`merge_partials`). A full
   run builds them over every rental; an incremental append run stores those of the new
   rentals only as one more layer (:func:`new_layer`) and the KPIs read every layer
   (:func:`kpi_partial`, :mod:`spark_ingest.pipeline`). Both give the same KPIs.
2. **KPIs** from the partials, joined to the (small, broadcast) dimensions.

Money stays decimal end to end (sums decimal(18,2), single amounts decimal(12,2)); averages
are doubles; durations are hours as a double = seconds / 3600.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_ingest.contract import AMOUNT_TYPE, MONEY_TOTAL_TYPE

SECONDS_PER_HOUR = 3600.0
TOP_USERS_LIMIT = 100

USER_SUMMARY_COLUMNS = (
    "user_id",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "creation_date",
    "total_rental_transactions",
    "total_spending",
    "average_transaction_value",
)


def duration_hours(start: Column, end: Column) -> Column:
    """Rental length in hours (double): whole seconds between the timestamps / 3600."""
    seconds = F.unix_timestamp(end) - F.unix_timestamp(start)
    return (seconds / F.lit(SECONDS_PER_HOUR)).cast("double")


def _money_total(column: Column) -> Column:
    return column.cast(MONEY_TOTAL_TYPE)


def _average(total: Column, count: Column) -> Column:
    return F.try_divide(total.cast("double"), count.cast("double")).cast("double")


@dataclass(frozen=True)
class Measure:
    """One column of a partial: its value for a single rental, and how two values merge."""

    name: str
    row: Callable[[], Column]  # the rental's own value (built lazily: needs a session)
    merge: Callable[[Column], Column]  # F.sum / F.max / F.min: associative and commutative
    type: object  # the stored type, fixed so that merged partials keep their schema


def _revenue(name: str = "revenue") -> Measure:
    return Measure(name, lambda: F.col("total_amount"), F.sum, MONEY_TOTAL_TYPE)


def _transactions() -> Measure:
    return Measure("transactions", lambda: F.lit(1), F.sum, "bigint")


def _duration() -> Measure:
    return Measure(
        "duration_hours",
        lambda: duration_hours(F.col("rental_start_time"), F.col("rental_end_time")),
        F.sum,
        "double",
    )


#: The measure of a layered partial that counts its keys: 1 on the first layer that holds a
#: key, 0 on any later one (:func:`new_layer`); a merge keeps 1 (the maximum).
NEW_KEY = "new_key"


def _new_key() -> Measure:
    return Measure(NEW_KEY, lambda: F.lit(1), F.max, "int")


@dataclass(frozen=True)
class Partial:
    keys: tuple[str, ...]
    measures: tuple[Measure, ...]
    #: True: the KPIs read the stored layers as they are, never merged into one row per key.
    #: They only sum, take the minimum or maximum of the measures at a coarser grain and count
    #: keys as the sum of :data:`NEW_KEY`, so a key held by several layers counts once.
    layered: bool = False


#: The partial aggregates the KPIs are built from. Sums of decimals, counts, minimum and
#: maximum merge exactly; the double duration sums merge up to rounding (averages agree with a
#: single pass to far better than 1e-9 relative).
PARTIALS: dict[str, Partial] = {
    # location KPIs; distinct vehicles per location = the sum of new_key per location. Layered:
    # up to locations x vehicles rows (1.9M at 10M rentals), which a merge would shuffle on
    # every append run for a 300-row table
    "by_location_vehicle": Partial(
        ("pickup_location", "vehicle_id"),
        (
            _revenue(),
            _transactions(),
            Measure("max_amount", lambda: F.col("total_amount"), F.max, AMOUNT_TYPE),
            Measure("min_amount", lambda: F.col("total_amount"), F.min, AMOUNT_TYPE),
            _duration(),
            _new_key(),
        ),
        layered=True,
    ),
    # vehicle-type KPIs; distinct vehicles rented overall = rows
    "by_vehicle": Partial(("vehicle_id",), (_revenue(), _transactions(), _duration())),
    # user summary, top spenders and overall figures; distinct users = rows
    "by_user": Partial(("user_id",), (_transactions(), _revenue("spending"))),
}


def merge_partials(name: str, *frames: DataFrame) -> DataFrame:
    """One partial from several of the same kind (e.g. the stored one and the new rows')."""
    spec = PARTIALS[name]
    union = reduce(DataFrame.unionByName, frames)
    return union.groupBy(*spec.keys).agg(
        *[m.merge(F.col(m.name)).cast(m.type).alias(m.name) for m in spec.measures]
    )


def rentals_partial(name: str, rentals: DataFrame) -> DataFrame:
    """The partial ``name`` of valid rentals: each rental is a partial of one, merged."""
    spec = PARTIALS[name]
    rows = rentals.select(*spec.keys, *[m.row().cast(m.type).alias(m.name) for m in spec.measures])
    return merge_partials(name, rows)


def new_layer(name: str, new: DataFrame, stored: DataFrame) -> DataFrame:
    """``new`` (the partial of an append run's new rentals) as the layer stored after
    ``stored`` (the union of the earlier layers). For a layered partial, :data:`NEW_KEY` is 0
    on the keys ``stored`` already holds; any other partial is returned as it is.

    The stored keys are streamed once and probed against the new ones (broadcast: a day's
    keys), so the earlier layers are never shuffled."""
    spec = PARTIALS[name]
    if not spec.layered:
        return new
    keys = list(spec.keys)
    seen = (
        stored.select(*keys)
        .join(F.broadcast(new.select(*keys)), on=keys, how="left_semi")
        .distinct()
        .withColumn("_seen", F.lit(True))
    )
    return new.join(F.broadcast(seen), on=keys, how="left").select(
        *keys,
        *[
            F.when(F.col("_seen"), F.lit(0)).otherwise(F.col(m.name)).cast(m.type).alias(m.name)
            if m.name == NEW_KEY
            else F.col(m.name)
            for m in spec.measures
        ],
    )


def kpi_partial(name: str, layers: DataFrame) -> DataFrame:
    """What the KPIs read of the partial ``name`` from the union of its stored layers: the
    layers as they are for a layered partial, else one merged row per key."""
    return layers if PARTIALS[name].layered else merge_partials(name, layers)


def transform_location_performance(
    by_location_vehicle: DataFrame, locations: DataFrame
) -> DataFrame:
    """One row per pickup location with at least one valid rental (from the layers of the
    ``by_location_vehicle`` partial: distinct vehicles are the sum of its :data:`NEW_KEY`, no
    countDistinct)."""
    per_location = by_location_vehicle.groupBy("pickup_location").agg(
        F.sum("revenue").alias("revenue"),
        F.sum("transactions").alias("transactions"),
        F.max("max_amount").alias("max_amount"),
        F.min("min_amount").alias("min_amount"),
        F.sum(NEW_KEY).alias("vehicles"),
        F.sum("duration_hours").alias("duration_hours"),
    )
    dims = locations.select("location_id", "location_name", "city", "state").hint("broadcast")
    return per_location.join(
        dims, on=per_location["pickup_location"] == dims["location_id"], how="left"
    ).select(
        F.col("pickup_location").cast("int").alias("location_id"),
        F.col("location_name"),
        F.col("city"),
        F.col("state"),
        _money_total(F.col("revenue")).alias("total_revenue_at_location"),
        F.col("transactions").cast("bigint").alias("total_transactions_at_location"),
        _average(F.col("revenue"), F.col("transactions")).alias(
            "avg_transaction_amount_at_location"
        ),
        F.col("max_amount").cast(AMOUNT_TYPE).alias("max_transaction_amount_at_location"),
        F.col("min_amount").cast(AMOUNT_TYPE).alias("min_transaction_amount_at_location"),
        F.col("vehicles").cast("bigint").alias("unique_vehicles_rented_at_location"),
        _average(F.col("duration_hours"), F.col("transactions")).alias(
            "avg_rental_duration_hours_at_location"
        ),
    )


def transform_vehicle_type_performance(by_vehicle: DataFrame, vehicles: DataFrame) -> DataFrame:
    """One row per vehicle_type (the ``by_vehicle`` partial joined to the dimension)."""
    dims = vehicles.select("vehicle_id", "vehicle_type").hint("broadcast")
    per_type = (
        by_vehicle.join(dims, on="vehicle_id", how="left")
        .groupBy("vehicle_type")
        .agg(
            F.sum("revenue").alias("revenue"),
            F.sum("transactions").alias("transactions"),
            F.sum("duration_hours").alias("duration_hours"),
        )
    )
    return per_type.select(
        F.col("vehicle_type"),
        _money_total(F.col("revenue")).alias("total_revenue_by_vehicle_type"),
        F.col("transactions").cast("bigint").alias("total_transactions_by_vehicle_type"),
        _average(F.col("duration_hours"), F.col("transactions")).alias(
            "avg_rental_duration_hours_by_vehicle_type"
        ),
        _average(F.col("revenue"), F.col("transactions")).alias(
            "avg_transaction_amount_by_vehicle_type"
        ),
    )


def transform_user_transaction_summary(by_user: DataFrame, users: DataFrame) -> DataFrame:
    """One row per user with at least one valid rental (the ``by_user`` partial)."""
    dims = users.select(
        "user_id", "first_name", "last_name", "email", "is_active", "creation_date"
    ).hint("broadcast")
    return by_user.join(dims, on="user_id", how="left").select(
        F.col("user_id"),
        F.col("first_name"),
        F.col("last_name"),
        F.col("email"),
        F.col("is_active").cast("boolean"),
        F.col("creation_date").cast("date"),
        F.col("transactions").cast("bigint").alias("total_rental_transactions"),
        _money_total(F.col("spending")).alias("total_spending"),
        _average(F.col("spending"), F.col("transactions")).alias("average_transaction_value"),
    )


def transform_overall_statistics(by_user: DataFrame, by_vehicle: DataFrame) -> DataFrame:
    """Exactly one row of overall figures: totals from the ``by_user`` partial; distinct
    users and vehicles are the rows of ``by_user`` and ``by_vehicle``."""
    totals = by_user.agg(
        F.sum("spending").alias("revenue"),
        F.sum("transactions").alias("transactions"),
        F.count(F.lit(1)).alias("users"),
    )
    vehicles = by_vehicle.agg(F.count(F.lit(1)).alias("vehicles"))
    return totals.crossJoin(vehicles).select(
        _money_total(F.coalesce(F.col("revenue"), F.lit(0))).alias("overall_total_revenue"),
        _average(F.col("revenue"), F.col("transactions")).alias("overall_avg_transaction_value"),
        F.coalesce(F.col("transactions"), F.lit(0))
        .cast("bigint")
        .alias("overall_total_transactions"),
        F.col("users").cast("bigint").alias("overall_total_unique_users"),
        F.col("vehicles").cast("bigint").alias("overall_total_unique_vehicles_rented"),
    )


def transform_top_users_by_spending(
    user_summary: DataFrame, limit: int = TOP_USERS_LIMIT
) -> DataFrame:
    """The ``limit`` highest spenders (ties broken by user_id), ranked 1..limit."""
    order = (F.col("total_spending").desc(), F.col("user_id").asc())
    top = user_summary.orderBy(*order).limit(limit)
    return top.select(
        *USER_SUMMARY_COLUMNS,
        F.row_number().over(Window.orderBy(*order)).cast("int").alias("spending_rank"),
    )


def transform_rentals_fact(
    rentals: DataFrame, vehicles: DataFrame, locations: DataFrame
) -> DataFrame:
    """One row per valid rental, enriched with vehicle and pickup/dropoff location attributes.

    Row-wise on purpose: each row depends on its rental and the dimensions only, so an
    incremental append run writes the rows of its new rentals beside the live files of their
    ``rental_date`` partitions (:func:`spark_ingest.pipeline.appended_tables`).
    """
    vehicle_dims = vehicles.select("vehicle_id", "vehicle_type", "brand").hint("broadcast")

    def location_dims(prefix: str) -> DataFrame:
        return locations.select(
            F.col("location_id").alias(f"{prefix}_location"),
            F.col("location_name").alias(f"{prefix}_location_name"),
            F.col("city").alias(f"{prefix}_city"),
            F.col("state").alias(f"{prefix}_state"),
        ).hint("broadcast")

    enriched = (
        rentals.join(vehicle_dims, on="vehicle_id", how="left")
        .join(location_dims("pickup"), on="pickup_location", how="left")
        .join(location_dims("dropoff"), on="dropoff_location", how="left")
    )
    return enriched.select(
        F.col("rental_id"),
        F.col("user_id"),
        F.col("vehicle_id"),
        F.col("vehicle_type"),
        F.col("brand"),
        F.col("pickup_location").cast("int"),
        F.col("pickup_location_name"),
        F.col("pickup_city"),
        F.col("pickup_state"),
        F.col("dropoff_location").cast("int"),
        F.col("dropoff_location_name"),
        F.col("dropoff_city"),
        F.col("dropoff_state"),
        # already timestamps: a cast would be a no-op on Spark but a time-zone conversion per
        # value on DuckDB (sqlglot writes Spark's ``timestamp`` as ``timestamptz``)
        F.col("rental_start_time"),
        F.col("rental_end_time"),
        duration_hours(F.col("rental_start_time"), F.col("rental_end_time")).alias(
            "rental_duration_hours"
        ),
        F.col("total_amount").cast(AMOUNT_TYPE),
        F.to_date(F.col("rental_start_time")).alias("rental_date"),
    )

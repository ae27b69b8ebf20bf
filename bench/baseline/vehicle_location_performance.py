"""Seed-style vehicle_location_performance (baseline for `make bench`; not project code)."""

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import avg, col, count, countDistinct, unix_timestamp
from pyspark.sql.functions import max as spark_max
from pyspark.sql.functions import min as spark_min
from pyspark.sql.functions import sum as spark_sum
from pyspark.sql.types import FloatType


def main(raw_root: str, output_root: str) -> None:
    spark = SparkSession.builder.appName("VehicleLocationPerformance").getOrCreate()

    vehicles_df = spark.read.csv(f"{raw_root}/vehicles", header=True, inferSchema=True)
    locations_df = spark.read.csv(f"{raw_root}/locations", header=True, inferSchema=True)
    rentals_df = spark.read.csv(f"{raw_root}/rental_transactions", header=True, inferSchema=True)
    rentals_df.printSchema()

    rentals_df = rentals_df.withColumn("total_amount", col("total_amount").cast(FloatType()))
    rentals_df = rentals_df.withColumn(
        "rental_duration_hours",
        (unix_timestamp("rental_end_time") - unix_timestamp("rental_start_time")) / 3600,
    )

    location_metrics = rentals_df.groupBy("pickup_location").agg(
        spark_sum("total_amount").alias("total_revenue_at_location"),
        count("rental_id").alias("total_transactions_at_location"),
        avg("total_amount").alias("avg_transaction_amount_at_location"),
        spark_max("total_amount").alias("max_transaction_amount_at_location"),
        spark_min("total_amount").alias("min_transaction_amount_at_location"),
        countDistinct("vehicle_id").alias("unique_vehicles_rented_at_location"),
        avg("rental_duration_hours").alias("avg_rental_duration_hours_at_location"),
    )
    location_metrics = location_metrics.join(
        locations_df, location_metrics.pickup_location == locations_df.location_id, "left"
    ).select(
        "location_id",
        "location_name",
        "city",
        "state",
        "total_revenue_at_location",
        "total_transactions_at_location",
        "avg_transaction_amount_at_location",
        "max_transaction_amount_at_location",
        "min_transaction_amount_at_location",
        "unique_vehicles_rented_at_location",
        "avg_rental_duration_hours_at_location",
    )
    location_metrics.write.mode("overwrite").parquet(f"{output_root}/location_performance")

    vehicle_type_metrics = (
        rentals_df.join(vehicles_df, "vehicle_id", "inner")
        .groupBy("vehicle_type")
        .agg(
            spark_sum("total_amount").alias("total_revenue_by_vehicle_type"),
            count("rental_id").alias("total_transactions_by_vehicle_type"),
            avg("rental_duration_hours").alias("avg_rental_duration_hours_by_vehicle_type"),
            avg("total_amount").alias("avg_transaction_amount_by_vehicle_type"),
        )
    )
    vehicle_type_metrics.write.mode("overwrite").parquet(f"{output_root}/vehicle_type_performance")

    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

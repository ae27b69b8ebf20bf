"""Seed-style user_transaction_analysis (baseline for `make bench`; not project code)."""

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import avg, col, count, countDistinct, desc
from pyspark.sql.functions import max as spark_max
from pyspark.sql.functions import min as spark_min
from pyspark.sql.functions import sum as spark_sum
from pyspark.sql.types import FloatType

TOP_USERS = 100


def main(raw_root: str, output_root: str) -> None:
    spark = SparkSession.builder.appName("UserTransactionAnalysis").getOrCreate()

    users_df = spark.read.csv(f"{raw_root}/users", header=True, inferSchema=True)
    rentals_df = spark.read.csv(f"{raw_root}/rental_transactions", header=True, inferSchema=True)
    rentals_df.printSchema()

    rentals_df = rentals_df.withColumn("total_amount", col("total_amount").cast(FloatType()))

    user_metrics = rentals_df.groupBy("user_id").agg(
        count("rental_id").alias("total_rental_transactions"),
        spark_sum("total_amount").alias("total_spending"),
        avg("total_amount").alias("average_transaction_value"),
        spark_max("total_amount").alias("max_transaction_value"),
        spark_min("total_amount").alias("min_transaction_value"),
    )
    user_summary = user_metrics.join(users_df, "user_id", "left").select(
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
    user_summary.write.mode("overwrite").parquet(f"{output_root}/user_transaction_summary")

    overall_stats = rentals_df.agg(
        spark_sum("total_amount").alias("overall_total_revenue"),
        avg("total_amount").alias("overall_avg_transaction_value"),
        count("rental_id").alias("overall_total_transactions"),
        countDistinct("user_id").alias("overall_total_unique_users"),
        countDistinct("vehicle_id").alias("overall_total_unique_vehicles_rented"),
    )
    overall_stats.write.mode("overwrite").parquet(f"{output_root}/overall_transaction_statistics")

    top_users = user_summary.orderBy(desc("total_spending"), col("user_id")).limit(TOP_USERS)
    top_users.write.mode("overwrite").parquet(f"{output_root}/top_users_by_spending")

    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

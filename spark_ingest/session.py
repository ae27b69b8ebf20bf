"""Build the one SparkSession a job (or the test suite) uses."""

from __future__ import annotations

from pyspark.sql import SparkSession

from spark_ingest.conf import SPARK_CONF


def build_session(
    app_name: str, master: str | None = None, shuffle_partitions: int | None = None
) -> SparkSession:
    """A session with :data:`~spark_ingest.conf.SPARK_CONF` applied.

    ``master`` is left to ``spark-submit`` / EMR when ``None``. With a ``local`` master the UI
    is switched off. The session time zone is UTC and ANSI mode stays on.
    """
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    if master and master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false").config(
            "spark.ui.showConsoleProgress", "false"
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session

"""Build the one SparkSession a job (or the test suite) uses."""

from __future__ import annotations

import os

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from spark_ingest.conf import SPARK_CONF
from spark_ingest.stage_progress import StageProgressReporter

#: "1"/"0" forces the ``stage_progress`` log lines on/off (default: on under spark-submit).
STAGE_PROGRESS_ENV = "CARRENTAL_STAGE_PROGRESS"


def stage_progress_wanted(requested: bool | None, master: str | None) -> bool:
    """``requested`` if given, else ``$CARRENTAL_STAGE_PROGRESS``, else only when spark-submit
    (or EMR) picks the master, i.e. for a job, not for a test suite or notebook session."""
    if requested is not None:
        return requested
    configured = os.environ.get(STAGE_PROGRESS_ENV, "").strip().lower()
    if configured:
        return configured not in {"0", "false", "no", "off"}
    return master is None


#: Read splits per core: ``spark.sql.files.minPartitionNum`` is set to this many times the
#: session's default parallelism (its cores) unless given at launch. Spark's default is one per
#: core, so files of more than 128 MB a core come in 128 MB splits, a count that rarely fills the
#: last wave: the 10M rentals' 271 MB parsed store was read in 3 tasks on 2 cores, the third
#: alone for 20 s. Four per core (8 tasks here) checked and rewrote it in 32.5-33.3 s instead of
#: 41.7-46.7 s (bench/README.md, 2026-12-02, night). Splits never go below
#: ``spark.sql.files.openCostInBytes`` (4 MB), so small inputs are read as before.
FILE_SPLITS_PER_CORE = 4
MIN_PARTITION_NUM = "spark.sql.files.minPartitionNum"


def launch_settings() -> set[str]:
    """The keys set at launch: ``spark-submit --conf`` (locally, ``submit.build_command``
    lowers the shuffle partitions for 2 cores) or EMR's ``sparkSubmitParameters``."""
    SparkContext._ensure_initialized()  # under spark-submit: attach to its JVM
    return {key for key, _ in SparkConf().getAll()}


def effective_settings(session: SparkSession) -> dict[str, str]:
    """The value the session runs with for every key of SPARK_CONF and for
    :data:`MIN_PARTITION_NUM` (for the run manifest)."""
    return {key: session.conf.get(key, None) or "" for key in (*SPARK_CONF, MIN_PARTITION_NUM)}


def build_session(
    app_name: str,
    master: str | None = None,
    shuffle_partitions: int | None = None,
    *,
    stage_progress: bool | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """A session with :data:`~spark_ingest.conf.SPARK_CONF` applied.

    ``master`` is left to ``spark-submit`` / EMR when ``None``. With a ``local`` master the UI
    is switched off. The session time zone is UTC and ANSI mode stays on. Files are read in at
    least :data:`FILE_SPLITS_PER_CORE` splits per core. With stage progress
    (see :func:`stage_progress_wanted`) a daemon thread logs ``stage_progress`` lines until
    ``spark.stop()``. ``extra_conf`` is set last, before the JVM starts (a long-lived session
    such as the test suite's sizes its heap and its status store there).
    """
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    given = launch_settings() if master is None else set()
    for key, value in SPARK_CONF.items():
        if key not in given:  # spark-submit --conf / EMR sparkSubmitParameters win
            builder = builder.config(key, value)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    if master and master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false").config(
            "spark.ui.showConsoleProgress", "false"
        )
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if MIN_PARTITION_NUM not in given:
        splits = FILE_SPLITS_PER_CORE * session.sparkContext.defaultParallelism
        session.conf.set(MIN_PARTITION_NUM, str(splits))
    session.sparkContext.setLogLevel("WARN")
    if stage_progress_wanted(stage_progress, master):
        StageProgressReporter(session.sparkContext).start()
    return session

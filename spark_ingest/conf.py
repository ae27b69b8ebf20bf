"""Tuned Spark settings, shared by the local session and EMR Serverless ``sparkSubmitParameters``.

One dict so that a laptop run and an EMR run use the same SQL semantics (UTC, ANSI on) and the
same physical knobs. Resource settings (executor cores/memory) are deliberately absent: EMR
Serverless sizes those per application, and locally ``spark-submit`` sets the driver memory.

A key given at launch (``spark-submit --conf``, EMR ``sparkSubmitParameters``) wins over this
dict in :func:`spark_ingest.session.build_session`: the local launcher lowers the shuffle
partitions to 8 for 2 cores, and the run manifest records the values a job actually ran with.
One setting depends on the machine and is set by ``build_session`` itself:
``spark.sql.files.minPartitionNum``, four read splits per core
(:data:`spark_ingest.session.FILE_SPLITS_PER_CORE`).
"""

from __future__ import annotations

#: Parquet columns written without a dictionary. They are close to unique within a file (ids,
#: second-level timestamps, durations), so parquet-mr's dictionary attempt is work thrown away:
#: ``rental_id`` and ``user_id`` fell back to plain encoding anyway, and the timestamps' dictionaries
#: saved about 3% of the bytes. Measured on 2M rentals (four alternating rounds, 2 cores): the
#: ``rentals_fact`` write took 6.8 to 7.7 s instead of 9.4 to 10.1 s, 78 MB instead of 76 MB; a
#: 10M full run of the three jobs 215 to 217 s instead of 234 to 239 s (bench/README.md). The
#: names cover the fact's columns and the stored checked rows' typed columns (``t__`` prefix,
#: :data:`spark_ingest.validate.TYPED_PREFIX`); low-cardinality columns (types, brands, places)
#: keep their dictionaries, which are most of their compression.
_NEARLY_UNIQUE = ("rental_id", "user_id", "rental_start_time", "rental_end_time")
PLAIN_ENCODED_COLUMNS = (
    *_NEARLY_UNIQUE,
    "rental_duration_hours",
    *(f"t__{name}" for name in _NEARLY_UNIQUE),
)

SPARK_CONF: dict[str, str] = {
    # Semantics: naive wall-clock timestamps interpreted in UTC; ANSI mode stays on, so every
    # parse of untrusted text goes through try_cast / try_to_timestamp.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    # Physical tuning: adaptive execution coalesces the shuffle partitions of small tables.
    "spark.sql.shuffle.partitions": "64",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.autoBroadcastJoinThreshold": str(64 * 1024 * 1024),
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    # No _SUCCESS marker files next to the data: readers glob **/*.parquet anyway.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    # parquet-mr's per-column setting (``<key>#<column>``), read from the Hadoop configuration
    **{f"spark.hadoop.parquet.enable.dictionary#{name}": "false" for name in PLAIN_ENCODED_COLUMNS},
}


#: Options for the JVM of a local run (``spark-submit --driver-java-options``, which the local
#: driver and every local job use; in local mode that JVM is the driver and the executor). The
#: parallel collector instead of Java 17's default G1: on the 2 local cores G1's concurrent
#: marking and refinement threads take CPU from the tasks. Measured on 2M rentals (the rentals'
#: parse, three rounds in one JVM, two alternating pairs): 14.0/14.3 s cold and 8.1-8.5 s warm
#: against 15.1/17.5 s and 8.7-9.3 s with G1; the 10M runs are in bench/README.md. Not applied
#: on EMR Serverless, whose workers' JVM options are EMR's to set (not measured there). A
#: collector picked in the environment wins (:func:`spark_ingest.submit.local_java_options`).
LOCAL_JAVA_OPTIONS: tuple[str, ...] = ("-XX:+UseParallelGC",)


def spark_submit_parameters(conf: dict[str, str] | None = None) -> str:
    """Render ``conf`` (default :data:`SPARK_CONF`) as ``--conf k=v ...`` for EMR's sparkSubmitParameters."""
    items = SPARK_CONF if conf is None else conf
    return " ".join(f"--conf {key}={value}" for key, value in items.items())


def spark_submit_args(conf: dict[str, str] | None = None) -> list[str]:
    """The same settings as an argv list for a local ``spark-submit``."""
    items = SPARK_CONF if conf is None else conf
    out: list[str] = []
    for key, value in items.items():
        out += ["--conf", f"{key}={value}"]
    return out

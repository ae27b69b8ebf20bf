"""Pure-Python pieces: EMR submit parameters, argument parsing, the submit command line."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from spark_ingest.conf import LOCAL_JAVA_OPTIONS, SPARK_CONF, spark_submit_parameters
from spark_ingest.pipeline import default_runs_root, parse_args
from spark_ingest.session import MIN_PARTITION_NUM
from spark_ingest.submit import (
    JVM_OPTION_VARIABLES,
    build_command,
    entry_script,
    java_executable,
    local_java_options,
    spark_submit_prefix,
    submit_env,
)


def test_spark_submit_parameters_render_every_setting():
    rendered = spark_submit_parameters()
    assert rendered.count("--conf ") == len(SPARK_CONF)
    assert "--conf spark.sql.session.timeZone=UTC" in rendered
    assert "--conf spark.sql.ansi.enabled=true" in rendered


def test_arguments_and_default_runs_root():
    args = parse_args(
        "job",
        [
            "--raw-root",
            "s3://b/data/raw",
            "--processed-root",
            "s3://b/data/processed",
            "--quarantine-root",
            "s3://b/data/quarantine",
        ],
    )
    assert (args.mode, args.engine, args.run_id) == ("incremental", "spark", None)
    assert default_runs_root("s3://b/data/processed") == "s3://b/runs"
    assert default_runs_root("/lake/data/processed/") == "/lake/runs"
    with pytest.raises(SystemExit):
        parse_args("job", ["--raw-root", "x"])


def test_submit_command_runs_the_entry_script_with_lake_roots(tmp_path):
    cmd = build_command("user_transaction_analysis", tmp_path, "r-1")
    assert cmd[0].endswith("spark-submit") and cmd[cmd.index("--master") + 1] == "local[2]"
    script = cmd.index(str(entry_script("user_transaction_analysis")))
    args = cmd[script + 1 :]
    assert args[args.index("--raw-root") + 1] == str(tmp_path.resolve() / "data" / "raw")
    assert args[args.index("--run-id") + 1] == "r-1"
    with pytest.raises(ValueError):
        entry_script("nope")


@pytest.mark.parametrize("bad", ["../escape", "has space", "x" * 81, "-leading-dash"])
def test_cli_rejects_an_invalid_run_id_as_a_usage_error(tmp_path, bad):
    from carrental.commands.spark import run_spark_job
    from carrental.errors import UsageError

    (tmp_path / "data" / "raw").mkdir(parents=True)
    with pytest.raises(UsageError) as info:
        run_spark_job("vehicle_location_performance", tmp_path, run_id=bad)
    assert info.value.exit_code == 2
    assert "run id" in str(info.value)


def test_cli_invalid_run_id_exits_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "data" / "raw").mkdir(parents=True)
    cli = Path(sys.executable).parent / "carrental"
    job = "vehicle_location_performance"
    result = subprocess.run(
        [str(cli), "spark", job, "--lake-dir", str(tmp_path), "--run-id", "a b"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "invalid run id" in result.stderr and "Traceback" not in result.stderr


LAUNCH_SCRIPT = """
import json
from spark_ingest.session import build_session, effective_settings
session = build_session("launch-settings")
print("SETTINGS " + json.dumps(effective_settings(session)))
beans = session._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
print("COLLECTORS " + json.dumps(sorted(bean.getName() for bean in beans)))
session.stop()
"""


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> dict:
    """What a job launched with the local ``spark-submit`` prefix, plus two settings given at
    launch, reports: its effective settings and its JVM's garbage collectors."""
    script = tmp_path_factory.mktemp("launch") / "launch.py"
    script.write_text(LAUNCH_SCRIPT)
    command = [
        *spark_submit_prefix(),
        *("--conf", f"{MIN_PARTITION_NUM}=3"),
        *("--conf", "spark.sql.shuffle.partitions=5"),
        str(script),
    ]
    proc = subprocess.run(
        command, env=submit_env(), capture_output=True, text=True, timeout=500, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {}
    for name in ("SETTINGS", "COLLECTORS"):
        (line,) = [text for text in proc.stdout.splitlines() if text.startswith(f"{name} ")]
        found[name] = json.loads(line.removeprefix(f"{name} "))
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_file_splits_given_at_launch_win_over_the_session_default(launched):
    """``spark.sql.files.minPartitionNum`` given to spark-submit (or in EMR's
    sparkSubmitParameters) is kept; without it the session sets 4 splits per core (the
    end-to-end test sees 8 on 2 cores)."""
    settings = launched["SETTINGS"]
    assert settings[MIN_PARTITION_NUM] == "3"
    assert settings["spark.sql.shuffle.partitions"] == "5"
    assert settings["spark.sql.ansi.enabled"] == "true"  # not given: the project's setting


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_local_jvm_runs_the_parallel_collector(launched):
    """LOCAL_JAVA_OPTIONS reach the JVM of a local run: its collectors are the parallel
    collector's two (Java 17 would pick G1 on this machine: "G1 Young Generation", ...)."""
    assert "-XX:+UseParallelGC" in LOCAL_JAVA_OPTIONS
    assert launched["COLLECTORS"] == ["PS MarkSweep", "PS Scavenge"]


def _driver_java_options(env) -> list[str]:
    prefix = spark_submit_prefix(env=env)
    return prefix[prefix.index("--driver-java-options") + 1].split()


@pytest.mark.parametrize("variable", JVM_OPTION_VARIABLES)
def test_a_collector_picked_in_the_environment_is_not_given_twice(variable):
    """A JVM given two collectors refuses to start; when the environment picks one, the local
    options leave theirs out, and the JVM starts with the environment's."""
    java = java_executable()
    assert java is not None
    env = {**os.environ, variable: "-XX:+UseSerialGC"}
    for name in JVM_OPTION_VARIABLES:
        if name != variable:
            env.pop(name, None)

    def start(options) -> subprocess.CompletedProcess:
        command = [java, *options, "-XX:+PrintFlagsFinal", "-version"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert start(LOCAL_JAVA_OPTIONS).returncode != 0  # what the test guards against
    options = local_java_options(env)
    assert "-XX:+UseParallelGC" not in options
    assert "-XX:+UseParallelGC" not in _driver_java_options(env)
    assert "-XX:+UseParallelGC" in _driver_java_options({})
    command = build_command("validate_inputs", "/lake", "r-1", env=env)
    assert "-XX:+UseParallelGC" not in command[command.index("--driver-java-options") + 1]
    started = start(options)
    assert started.returncode == 0, started.stderr
    assert re.search(r"bool UseSerialGC\s+= true", started.stdout)
    assert local_java_options({variable: "-Xss4m"}) == LOCAL_JAVA_OPTIONS


def _encodings(folder) -> dict[str, set[str]]:
    import pyarrow.parquet as pq

    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            for i in range(meta.num_columns):
                column = meta.row_group(group).column(i)
                found.setdefault(column.path_in_schema, set()).update(column.encodings)
    return found


def test_nearly_unique_columns_are_written_without_a_dictionary(spark, tmp_path):
    """The session writes the columns of PLAIN_ENCODED_COLUMNS plainly and keeps the
    dictionary of every other column; the typed names follow the validator's prefix."""
    from pyspark.sql import functions as F

    from spark_ingest.conf import PLAIN_ENCODED_COLUMNS
    from spark_ingest.validate import typed

    assert {"rental_id", "rental_start_time", typed("rental_id"), typed("user_id")} <= set(
        PLAIN_ENCODED_COLUMNS
    )
    # few distinct values each, so parquet-mr would keep a dictionary for every column
    rows = spark.range(2000).select(
        (F.col("id") % 7).cast("string").alias("rental_id"),
        (F.col("id") % 7).cast("string").alias(typed("rental_start_time")),
        (F.col("id") % 7).cast("string").alias("vehicle_type"),
    )
    rows.coalesce(1).write.parquet(str(tmp_path / "out"))
    encodings = _encodings(tmp_path / "out")
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert not encodings["rental_id"] & dictionary
    assert not encodings[typed("rental_start_time")] & dictionary
    assert encodings["vehicle_type"] & dictionary

"""Pure-Python pieces: EMR submit parameters, argument parsing, the submit command line."""

from __future__ import annotations

import pytest

from spark_ingest.conf import SPARK_CONF, spark_submit_parameters
from spark_ingest.pipeline import default_runs_root, parse_args
from spark_ingest.submit import build_command, entry_script


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
    assert (args.mode, args.engine, args.run_id) == ("full", "spark", None)
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

"""`carrental run` with fake task handlers: exit codes, messages, lock, run record."""

from __future__ import annotations

import json
import sys

import pytest
from asl_fakes import Fakes

from carrental import console
from carrental.lock import LakeLock
from orchestration.executor.bindings import LocalBindings


@pytest.fixture
def fake_run(monkeypatch):
    """Route every Task of the real definition to Fakes; return the Fakes to configure."""
    fakes = Fakes()
    monkeypatch.setattr(LocalBindings, "handlers", lambda self: fakes.handlers())
    monkeypatch.setattr("carrental.commands.run._build_report", lambda lake, run_id: None)
    monkeypatch.setenv("CARRENTAL_WAIT_FACTOR", "0")
    monkeypatch.setattr(console.MODE, "quiet", False)
    monkeypatch.setattr(console.MODE, "json", False)
    return fakes


def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width; compare with whitespace collapsed."""
    return " ".join(text.split())


def cli(monkeypatch, *args: str) -> int:
    from carrental.cli import main

    monkeypatch.setattr(sys, "argv", ["carrental", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def test_successful_run_prints_where_everything_is(tmp_path, monkeypatch, capsys, fake_run):
    (tmp_path / "data/raw/vehicles").mkdir(parents=True)
    code = cli(
        monkeypatch, "run", "--lake-dir", str(tmp_path), "--run-id", "r-1", "--engine", "duckdb"
    )
    out, err = capsys.readouterr()
    out, err = flat(out), flat(err)
    assert code == 0, err
    assert "pipeline SUCCEEDED" in out
    for needle in ("warehouse.duckdb", "runs/r-1", "docs generate"):
        assert needle in out
    assert "RunDbtBuild" in err  # live progress on stderr
    record = json.loads((tmp_path / "runs/r-1/execution.json").read_text())
    assert record["status"] == "SUCCEEDED"
    assert not (tmp_path / ".carrental.lock").exists()


def test_failed_run_exits_non_zero_with_error_and_cause(tmp_path, monkeypatch, capsys, fake_run):
    fake_run.dbt_fails = True
    code = cli(
        monkeypatch, "run", "--lake-dir", str(tmp_path), "--run-id", "r-2", "--engine", "duckdb"
    )
    out, err = capsys.readouterr()
    out, err = flat(out), flat(err)
    assert code == 1
    assert "error: pipeline failed: DataQualityGateFailed" in err
    assert "test.not_null_x" in err
    assert "pipeline FAILED" in out


def test_json_mode_prints_a_machine_readable_result(tmp_path, monkeypatch, capsys, fake_run):
    code = cli(
        monkeypatch, "--json", "run", "--lake-dir", str(tmp_path), "--run-id", "r-3",
        "--engine", "duckdb",
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    payload = json.loads(out)
    assert payload["status"] == "SUCCEEDED" and payload["run_id"] == "r-3"
    assert payload["validation"]["reconciliation"]["reconciled"] == "true"


def test_bad_run_id_and_bad_options_are_usage_errors(tmp_path, monkeypatch, capsys, fake_run):
    assert cli(monkeypatch, "run", "--lake-dir", str(tmp_path), "--run-id", "../x") == 2
    assert "invalid run id" in flat(capsys.readouterr().err)
    assert cli(monkeypatch, "run", "--lake-dir", str(tmp_path), "--mode", "weekly") == 2
    assert cli(monkeypatch, "run", "--lake-dir", str(tmp_path / "missing")) == 2
    assert "does not exist" in flat(capsys.readouterr().err)
    assert cli(monkeypatch, "run", "--lake-dir", "s3://bucket") == 2
    assert (
        cli(
            monkeypatch,
            "run",
            "--lake-dir",
            str(tmp_path),
            "--from-state",
            "Nope",
            "--engine",
            "duckdb",
        )
        == 2
    )
    assert "not a top-level state" in flat(capsys.readouterr().err)


def test_second_concurrent_run_is_refused(tmp_path, monkeypatch, capsys, fake_run):
    with LakeLock(tmp_path, "holder"):
        code = cli(monkeypatch, "run", "--lake-dir", str(tmp_path), "--engine", "duckdb")
    assert code == 5
    err = flat(capsys.readouterr().err)
    assert "another run is using the lake" in err and "holder" in err
    assert fake_run.calls == []


def test_generate_if_empty_calls_the_generator(tmp_path, monkeypatch, capsys, fake_run):
    generated = []
    monkeypatch.setattr(
        "carrental.commands.run._generate", lambda lake, n: generated.append((lake, n))
    )
    lake = tmp_path / "new-lake"
    code = cli(
        monkeypatch, "run", "--lake-dir", str(lake), "--generate-if-empty", "50",
        "--engine", "duckdb",
    )  # fmt: skip
    assert code == 0
    assert generated == [(lake.resolve(), 50)]


def test_aws_target_delegates_to_run_remote(monkeypatch, capsys, fake_run):
    import types

    seen = {}

    def run_remote(**kwargs):
        seen.update(kwargs)
        return {"status": "FAILED", "error": "DataQualityGateFailed", "cause": "x"}

    module = types.ModuleType("orchestration.aws.remote")
    module.run_remote = run_remote
    monkeypatch.setitem(sys.modules, "orchestration.aws.remote", module)
    code = cli(
        monkeypatch, "run", "--target", "aws", "--stack-name", "s", "--region", "eu-west-1",
        "--run-id", "r-9", "--mode", "incremental",
    )  # fmt: skip
    assert code == 1
    assert seen == {
        "stack_name": "s",
        "region": "eu-west-1",
        "run_id": "r-9",
        "mode": "incremental",
        "lake_dir": "lake",
    }
    assert "DataQualityGateFailed" in flat(capsys.readouterr().err)


@pytest.mark.parametrize(
    "option,value",
    [("--from-state", "RunDbtBuild"), ("--engine", "duckdb"), ("--generate-if-empty", "50")],
)
def test_aws_target_refuses_local_only_options(monkeypatch, capsys, fake_run, option, value):
    import types

    started = []
    module = types.ModuleType("orchestration.aws.remote")
    module.run_remote = lambda **kwargs: started.append(kwargs) or {"status": "SUCCEEDED"}
    monkeypatch.setitem(sys.modules, "orchestration.aws.remote", module)
    code = cli(monkeypatch, "run", "--target", "aws", "--stack-name", "s", option, value)
    assert code == 2
    assert started == []  # nothing was started on AWS
    err = flat(capsys.readouterr().err)
    assert f"{option} cannot be used with --target aws" in err
    assert fake_run.calls == []


def test_aws_target_names_every_local_only_option_given(monkeypatch, capsys, fake_run):
    code = cli(
        monkeypatch, "run", "--target", "aws", "--stack-name", "s",
        "--engine", "spark", "--from-state", "RunDbtBuild",
    )  # fmt: skip
    assert code == 2
    assert "--from-state, --engine cannot be used with --target aws" in flat(
        capsys.readouterr().err
    )


def test_local_target_still_defaults_to_spark_and_checks_the_engine(
    tmp_path, monkeypatch, capsys, fake_run
):
    assert cli(monkeypatch, "run", "--lake-dir", str(tmp_path), "--engine", "pandas") == 2
    assert "--engine must be one of spark, duckdb" in flat(capsys.readouterr().err)
    seen = {}
    monkeypatch.setattr(
        "carrental.commands.run.run_pipeline", lambda lake_dir, **kw: seen.update(kw)
    )
    assert cli(monkeypatch, "run", "--lake-dir", str(tmp_path)) == 0
    assert seen["engine"] == "spark"

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


# ---- arguments are checked before anything is started, locked or written ----------------


def test_aws_target_refuses_an_unsafe_run_id_with_exit_2(monkeypatch, capsys, fake_run):
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code = cli(
        monkeypatch, "run", "--target", "aws", "--stack-name", "x", "--region", "eu-west-1",
        "--run-id", "../../etc",
    )  # fmt: skip
    err = flat(capsys.readouterr().err)
    assert code == 2, err
    assert "invalid run id '../../etc'" in err
    assert "re-run with --debug" not in err


def test_unknown_from_state_is_refused_before_lock_data_java_or_run_record(
    tmp_path, monkeypatch, capsys, fake_run
):
    touched = []
    monkeypatch.setattr("carrental.commands.run._generate", lambda *a: touched.append("generate"))
    monkeypatch.setattr("carrental.java.ensure_java", lambda *a, **k: touched.append("java"))
    monkeypatch.setattr(LakeLock, "__enter__", lambda self: touched.append("lock"))
    lake = tmp_path / "lake"
    code = cli(
        monkeypatch, "run", "--lake-dir", str(lake), "--from-state", "Bogus",
        "--run-id", "r-bogus", "--generate-if-empty", "10",
    )  # fmt: skip
    err = flat(capsys.readouterr().err)
    assert code == 2, err
    assert "--from-state 'Bogus' is not a top-level state" in err
    assert "RunDbtBuild" in err and "ValidateInputs" in err  # the valid names are listed
    assert touched == []
    assert not lake.exists()  # no lake folder, no runs/r-bogus/execution.json
    assert fake_run.calls == []


def test_run_local_refuses_an_unknown_state_before_writing_the_run_record(tmp_path, fake_run):
    from orchestration.executor import DefinitionError, run_local

    with pytest.raises(DefinitionError, match=r"'Bogus' is not a top-level state.*RunDbtBuild"):
        run_local(tmp_path, "r-bogus", from_state="Bogus", wait_factor=0)
    assert not (tmp_path / "runs").exists()


def test_run_local_does_not_leave_a_running_record_when_the_executor_raises(
    tmp_path, monkeypatch, fake_run
):
    from orchestration.executor import Executor, run_local

    def explode(self, *args, **kwargs):
        raise RuntimeError("interpreter bug")

    monkeypatch.setattr(Executor, "run", explode)
    with pytest.raises(RuntimeError, match="interpreter bug"):
        run_local(tmp_path, "r-crash", wait_factor=0)
    record = json.loads((tmp_path / "runs/r-crash/execution.json").read_text())
    assert record["status"] == "FAILED"
    assert (record["error"], record["cause"]) == ("RuntimeError", "interpreter bug")
    assert record["stopDate"]


# ---- exit 3 for a bad input file, 1 for other failures -----------------------------------


def _failing_emr(fakes, error: dict | None, *, stale: bool = False):
    """An EMR handler whose job fails as the real job does: a FAILED manifest, a task failure."""
    from orchestration.executor.bindings import EMR_START_JOB_RUN, LOCAL_BUCKET
    from orchestration.executor.interpreter import TaskFailure, now_iso

    def emr(params, ctx):
        fakes.calls.append((EMR_START_JOB_RUN, params))
        driver = params["JobDriver"]["SparkSubmit"]
        job = driver["EntryPoint"].rsplit("/", 1)[-1][:-3]
        args = driver["EntryPointArguments"]
        run_id = args[args.index("--run-id") + 1]
        runs_root = args[args.index("--runs-root") + 1]
        assert runs_root == f"s3://{LOCAL_BUCKET}/runs"
        lake = fakes.lake
        manifest = lake / "runs" / run_id / "manifests" / f"{job}.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        started = "2000-01-01T00:00:00Z" if stale else now_iso()[:19] + "Z"
        manifest.write_text(
            json.dumps(
                {
                    "job": job,
                    "run_id": run_id,
                    "status": "FAILED",
                    "started_at": started,
                    "error": error,
                }
            )
        )
        raise TaskFailure("States.TaskFailed", f"{job} exited with code 3")

    return emr


BAD_HEADER = {
    "type": "InputFileError",
    "message": "dataset 'vehicles', file 'file:/lake/data/raw/vehicles/v.csv', column "
    "'vehicle_id': the header lacks a required column (expected vehicle_id,...)",
    "dataset": "vehicles",
    "file": "file:/lake/data/raw/vehicles/v.csv",
    "column": "vehicle_id",
}


def test_a_bad_input_file_makes_the_run_exit_3(tmp_path, monkeypatch, capsys, fake_run):
    fake_run.lake = tmp_path
    fake_run.emr = _failing_emr(fake_run, BAD_HEADER)
    code = cli(
        monkeypatch, "run", "--lake-dir", str(tmp_path), "--run-id", "r-bad", "--engine", "duckdb"
    )
    err = flat(capsys.readouterr().err)
    assert code == 3, err
    assert "pipeline failed: ValidateInputsFailed" in err
    assert "file 'file:/lake/data/raw/vehicles/v.csv', column 'vehicle_id'" in err
    assert "runs/r-bad/manifests/validate_inputs.json" in err.replace(" ", "")  # rich wraps


@pytest.mark.parametrize(
    "error,stale",
    [
        ({"type": "ReconciliationError", "message": "rows_read != valid + rejected"}, False),
        (BAD_HEADER, True),  # an earlier attempt's manifest: not this execution's failure
    ],
    ids=["other-job-error", "stale-manifest"],
)
def test_other_job_failures_still_exit_1(tmp_path, monkeypatch, capsys, fake_run, error, stale):
    fake_run.lake = tmp_path
    fake_run.emr = _failing_emr(fake_run, error, stale=stale)
    code = cli(
        monkeypatch, "run", "--lake-dir", str(tmp_path), "--run-id", "r-1", "--engine", "duckdb"
    )
    err = flat(capsys.readouterr().err)
    assert code == 1, err
    assert "pipeline failed: ValidateInputsFailed" in err


def test_help_names_the_three_spark_jobs():
    from typer.testing import CliRunner

    from carrental.cli import app

    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = flat(result.output)
    assert "both Spark jobs" not in text
    assert "the three Spark jobs (validate_inputs, then the two KPI jobs)" in text


# ---- --target aws: the same exit 3, from the job's manifest in S3 -------------------------


def _aws_failure(monkeypatch, tmp_path, scheduled_at: str) -> None:
    """``run_remote`` faked as a FAILED execution whose history (copied beside the lake, as
    the real one does) scheduled validate_inputs at ``scheduled_at``, boto3's local time."""
    parameters = {
        "ApplicationId": "app",
        "JobDriver": {
            "SparkSubmit": {
                "EntryPoint": "s3://lake-bkt/artifacts/abc/validate_inputs.py",
                "EntryPointArguments": [
                    "--raw-root",
                    "s3://lake-bkt/data/raw",
                    "--run-id",
                    "r-aws",
                    "--runs-root",
                    "s3://lake-bkt/runs",
                    "--mode",
                    "incremental",
                ],
            }
        },
    }
    events = [
        {"type": "ExecutionStarted", "timestamp": scheduled_at},
        {
            "type": "TaskScheduled",
            "timestamp": scheduled_at,
            "taskScheduledEventDetails": {
                "resourceType": "emr-serverless",
                "resource": "startJobRun.sync",
                "parameters": json.dumps(parameters),
            },
        },
    ]

    def fake_run_remote(*, stack_name, region, run_id, mode, lake_dir):
        run_dir = tmp_path / "runs" / run_id
        run_dir.mkdir(parents=True)
        (run_dir / "history.json").write_text(json.dumps({"events": events}))
        return {"name": run_id, "status": "FAILED", "error": "ValidateInputsFailed", "cause": "x"}

    monkeypatch.setattr("orchestration.aws.remote.run_remote", fake_run_remote)


@pytest.mark.parametrize(
    "started_at,expected",
    [
        ("2026-12-03T22:20:28Z", 3),  # after the task was scheduled (23:20:27+01:00)
        ("2026-12-03T22:20:26Z", 1),  # before it: an earlier attempt's manifest
        (None, 1),  # no manifest in S3
    ],
    ids=["this-execution", "stale-manifest", "no-manifest"],
)
def test_aws_target_exits_3_when_a_job_stopped_on_a_bad_input_file(
    tmp_path, monkeypatch, capsys, fake_run, started_at, expected
):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _aws_failure(monkeypatch, tmp_path, "2026-12-03T23:20:27.512000+01:00")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="lake-bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        if started_at:
            manifest = {"status": "FAILED", "started_at": started_at, "error": BAD_HEADER}
            s3.put_object(
                Bucket="lake-bkt",
                Key="runs/r-aws/manifests/validate_inputs.json",
                Body=json.dumps(manifest).encode(),
            )
        code = cli(
            monkeypatch, "run", "--target", "aws", "--stack-name", "st", "--region", "eu-west-1",
            "--run-id", "r-aws", "--lake-dir", str(tmp_path),
        )  # fmt: skip
    err = flat(capsys.readouterr().err)
    assert code == expected, err
    assert "the AWS execution ended FAILED: ValidateInputsFailed" in err
    named = "file 'file:/lake/data/raw/vehicles/v.csv', column 'vehicle_id'" in err
    assert named is (expected == 3)
    if expected == 3:
        assert "s3://lake-bkt/runs/r-aws/manifests/validate_inputs.json" in err.replace(" ", "")

"""`carrental dbt` refuses a remote --lake-dir instead of making a local `s3:` folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from carrental.dbt_runner import REPO_ROOT, dbt_command, run_dbt, target_dir
from carrental.errors import UsageError

CLI = [sys.executable, "-c", "from carrental.cli import main; main()"]


@pytest.mark.parametrize("target", ["athena", "local"])
def test_cli_refuses_an_s3_lake_dir(tmp_path: Path, target: str) -> None:
    result = subprocess.run(
        [*CLI, "dbt", "--target", target, "--lake-dir", "s3://bucket/lake", "--", "build"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO_ROOT),  # the carrental under test, not another install
        },
    )
    assert result.returncode == 2, result.stderr
    assert "--lake-dir must be a local folder" in result.stderr
    assert "s3://bucket/lake" in result.stderr  # the URI as given, not s3:/bucket/lake
    assert list(tmp_path.iterdir()) == []  # no <cwd>/s3:/bucket/lake/.dbt


@pytest.mark.parametrize("lake_dir", ["s3://bucket/lake", "s3:/bucket/lake", "gs://b/lake"])
def test_runner_refuses_uris_before_touching_the_disk(tmp_path: Path, monkeypatch, lake_dir):
    monkeypatch.chdir(tmp_path)
    for call in (
        lambda: run_dbt(lake_dir, ["build"], target="athena"),
        lambda: dbt_command(lake_dir, ["build"], target="athena"),
        lambda: target_dir(lake_dir),
    ):
        with pytest.raises(UsageError, match="--lake-dir must be a local folder"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_an_unsafe_run_id_with_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    """In-process: the run id is checked before dbt is resolved, started or anything written."""
    import carrental.dbt_runner as runner
    from carrental import console
    from carrental.cli import main

    def no_dbt(*args, **kwargs):
        raise AssertionError("dbt must not be started for a refused run id")

    monkeypatch.setattr(runner, "stream_process", no_dbt)
    monkeypatch.setattr(runner, "dbt_command", no_dbt)
    monkeypatch.setattr(console.MODE, "quiet", False)
    monkeypatch.setattr(console.MODE, "json", False)
    lake = tmp_path / "lake"
    lake.mkdir()
    monkeypatch.setattr(
        sys,
        "argv",
        ["carrental", "dbt", "--lake-dir", str(lake), "--run-id", "../../etc", "--", "build"],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert exit_info.value.code == 2, err
    assert "invalid run id '../../etc'" in err
    assert "re-run with --debug" not in err
    assert list(lake.iterdir()) == []

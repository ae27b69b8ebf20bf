"""`carrental status` on a fake lake: runs, failing state, and raw files new since the last success."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

import fake_lake
import pytest
import typer
from typer.testing import CliRunner

from carrental import console
from carrental.commands import status as status_cmd

BEFORE_RUNS = datetime(2024, 4, 30, tzinfo=UTC).timestamp()
AFTER_LAST_SUCCESS = datetime(2024, 5, 4, tzinfo=UTC).timestamp()


@pytest.fixture
def status_lake(lake, tmp_path):
    """A copy of the fake lake: raw files older than every run, then one new and one touched."""
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy, symlinks=True)
    raw = copy / "data" / "raw"
    for path in raw.rglob("*.csv"):
        os.utime(path, (BEFORE_RUNS, BEFORE_RUNS))
    (raw / "users" / "users_2024-05-04.csv").write_text("user_id\n", encoding="utf-8")
    (raw / "rental_transactions" / "_tmp.csv").write_text("ignored\n", encoding="utf-8")
    os.utime(raw / "locations" / "locations.csv", (AFTER_LAST_SUCCESS, AFTER_LAST_SUCCESS))
    return copy


@pytest.fixture
def app():
    application = typer.Typer()

    @application.callback()
    def _root() -> None:  # keep `status` as a subcommand, like the real CLI
        pass

    status_cmd.register(application)
    return application


@pytest.fixture(autouse=True)
def _reset_mode():
    yield
    console.MODE.json = False
    console.MODE.quiet = False


def test_collect_status_lists_runs_newest_first(status_lake):
    payload = status_cmd.collect_status(status_lake, limit=10)
    ids = [r["run_id"] for r in payload["runs"]]
    assert ids == [fake_lake.SUCCESS_RUN, fake_lake.FAILED_RUN, fake_lake.PREVIOUS_RUN]
    by_id = {r["run_id"]: r for r in payload["runs"]}
    failed = by_id[fake_lake.FAILED_RUN]
    assert failed["status"] == "FAILED"
    assert failed["failing_state"] == "RunDbtBuild"
    assert failed["error"].startswith("DbtTestsFailed: ")
    ok = by_id[fake_lake.SUCCESS_RUN]
    assert ok["status"] == "SUCCEEDED" and ok["failing_state"] is None
    # rows: per dataset the max over jobs: 50 + 25 + 1000 + 40 read; 10 + 3 quarantined
    assert (ok["rows_read"], ok["rows_quarantined"]) == (1115, 13)
    # written: 25 + 6 + 990 + 37 + 1 + 37
    assert ok["rows_written"] == 1096
    # history runs from 06:00:00 to the last event; the fake success history lasts 134.3 s
    events = json.loads((status_lake / "runs" / fake_lake.SUCCESS_RUN / "history.json").read_text())
    first = datetime.fromisoformat(events["events"][0]["timestamp"])
    last = datetime.fromisoformat(events["events"][-1]["timestamp"])
    assert ok["duration_seconds"] == pytest.approx((last - first).total_seconds(), abs=0.1)
    assert payload["last_successful_run"] == fake_lake.SUCCESS_RUN


def test_raw_files_new_since_last_success(status_lake):
    raw = status_cmd.collect_status(status_lake)["raw_files"]
    assert raw["since_run"] == fake_lake.SUCCESS_RUN
    assert raw["new"] == ["users/users_2024-05-04.csv"]
    assert raw["changed"] == ["locations/locations.csv"]  # modified after that run started
    assert raw["removed"] == []
    assert raw["unchanged"] == 3


def test_recorded_sizes_detect_changes_and_removals(status_lake):
    manifest_path = (
        status_lake
        / "runs"
        / fake_lake.SUCCESS_RUN
        / "manifests"
        / "user_transaction_analysis.json"
    )
    manifest = json.loads(manifest_path.read_text())
    users = status_lake / "data" / "raw" / "users" / "users.csv"
    manifest["inputs"]["users"]["files"] = [
        {"path": f"s3://bucket/data/raw/users/{users.name}", "size": users.stat().st_size + 1},
        {"path": "s3://bucket/data/raw/users/gone.csv", "size": 10},
    ]
    manifest_path.write_text(json.dumps(manifest))
    raw = status_cmd.collect_status(status_lake)["raw_files"]
    assert "users/users.csv" in raw["changed"]
    assert raw["removed"] == ["users/gone.csv"]


def test_no_successful_run_means_every_file_is_new(tmp_path):
    lake = tmp_path / "lake"
    (lake / "data" / "raw" / "users").mkdir(parents=True)
    (lake / "data" / "raw" / "users" / "a.csv").write_text("x\n")
    payload = status_cmd.collect_status(lake)
    assert payload["runs"] == [] and payload["last_successful_run"] is None
    assert payload["raw_files"]["new"] == ["users/a.csv"]


def test_status_command_human_output(app, status_lake):
    result = CliRunner().invoke(app, ["status", "--lake-dir", str(status_lake), "--limit", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert fake_lake.SUCCESS_RUN in out and fake_lake.FAILED_RUN in out
    assert fake_lake.PREVIOUS_RUN not in out.split("Raw files")[0]  # --limit 2
    assert "failed at RunDbtBuild" in out
    assert "new      users/users_2024-05-04.csv" in out
    assert "changed  locations/locations.csv" in out


def test_status_command_json(app, status_lake):
    console.MODE.json = True
    result = CliRunner().invoke(app, ["status", "--lake-dir", str(status_lake), "-n", "1"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [r["run_id"] for r in payload["runs"]] == [fake_lake.SUCCESS_RUN]
    assert payload["total_runs"] == 3
    assert payload["raw_files"]["new"] == ["users/users_2024-05-04.csv"]


def test_status_help_has_examples(app):
    result = CliRunner().invoke(app, ["status", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "carrental status --lake-dir lake" in result.output


def test_missing_lake_is_an_input_error(tmp_path):
    from carrental.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        status_cmd.collect_status(tmp_path / "nope")


def _damage_two_run_files(lake):
    """A corrupt manifest in a new run r1, and a rows_read that is not a number in the last
    successful run (the other job of that run still records 1000 rentals read)."""
    corrupt = lake / "runs" / "r1" / "manifests" / "validate_inputs.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{not json", encoding="utf-8")
    wrong = (
        lake / "runs" / fake_lake.SUCCESS_RUN / "manifests" / "vehicle_location_performance.json"
    )
    manifest = json.loads(wrong.read_text())
    manifest["inputs"]["rental_transactions"]["rows_read"] = "12 rows"
    wrong.write_text(json.dumps(manifest), encoding="utf-8")
    return corrupt, wrong


def test_unreadable_run_files_are_warnings_naming_file_and_field(app, status_lake, monkeypatch):
    from carrental.errors import InputError

    corrupt, wrong = _damage_two_run_files(status_lake)
    monkeypatch.setattr(console.err, "_width", 10_000)
    monkeypatch.setattr(console.out, "_width", 10_000)
    result = CliRunner().invoke(app, ["status", "--lake-dir", str(status_lake)])
    assert isinstance(result.exception, InputError), result.output
    assert result.exception.exit_code == 3
    out = result.output
    assert f"warning: {corrupt} is not valid JSON" in out
    assert "expected a job manifest (a JSON object)" in out
    assert (
        f"warning: {wrong}: inputs.rental_transactions.rows_read must be a whole number, "
        "got '12 rows'"
    ) in out
    assert result.exception.message.startswith("2 run files could not be read")
    # every run is still listed; the success keeps the rows of the readable values
    for run_id in ("r1", fake_lake.SUCCESS_RUN, fake_lake.FAILED_RUN, fake_lake.PREVIOUS_RUN):
        assert run_id in out
    assert "1,115" in out


def test_unreadable_run_files_in_the_json_payload(status_lake):
    corrupt, wrong = _damage_two_run_files(status_lake)
    payload = status_cmd.collect_status(status_lake)
    # sorted by file: runs/20240503T060000Z-cccccc/... before runs/r1/...
    assert [p["file"] for p in payload["problems"]] == [str(wrong), str(corrupt)]
    assert payload["problems"][0]["field"] == "inputs.rental_transactions.rows_read"
    assert payload["problems"][1]["field"] is None
    by_id = {r["run_id"]: r for r in payload["runs"]}
    assert by_id[fake_lake.SUCCESS_RUN]["rows_read"] == 1115
    assert by_id["r1"]["rows_read"] is None

"""A corrupt file in a job's stored state: the incremental run falls back to a full run.

Each step adds a daily rentals file (so the run would append), overwrites one Parquet file of
one kind of stored state with bytes that are not Parquet, and runs the job with
``--mode incremental``. The run must succeed as a full run, say why in the manifest's
``fallback``, publish its own version (the failed attempt's staging deleted) and drop the bad
file. Afterwards the rebuilt state serves a normal append, whose tables and quarantine equal a
full run over a copy of the same raw files. One job (vehicle_location_performance) is enough:
both jobs share the code that reads and rebuilds the state.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from lake_compare import assert_equals_full_run, run_both

from carrental.generate import DimensionSizes, append_day, generate
from spark_ingest.errors import InputFileError
from spark_ingest.jobs import vehicle_location_performance as vlp
from spark_ingest.pipeline import _Attempt, error_message, state_unreadable
from spark_ingest.state import IngestState

PROCESSED = Path("data/processed")
USERS_CSV = Path("data/raw/users/users.csv")

#: (state folder to corrupt, whether the step also changes the users file). The parsed store
#: is only read when every stored row is rechecked, which a changed dimension file forces.
CORRUPTIONS = [
    ("rentals_checked", False),
    ("partials", False),
    ("dimensions/vehicles", False),
    ("rentals_parsed", True),
]


def corrupt_one_file(lake: Path, job: str, folder: str) -> Path:
    """Overwrite the first Parquet file under ``_state/<folder>`` of ``job``; return it."""
    root = lake / PROCESSED / job / "_state" / folder
    victim = sorted(root.rglob("*.parquet"))[0]
    victim.write_bytes(b"not a parquet file\n")
    return victim


def add_user(lake: Path) -> None:
    """Append a valid new user: the users file's bytes change, so every rental is rechecked."""
    users = lake / USERS_CSV
    last = users.read_text().splitlines()[-1].split(",")
    last[0] = "U9999999"
    with users.open("a") as handle:
        handle.write(",".join(last) + "\n")


def live_version(lake: Path, job: str, table: str) -> str:
    return os.readlink(lake / PROCESSED / job / table).split(os.sep)[1]


@pytest.mark.timeout(600)
def test_corrupt_state_falls_back_to_a_full_run(spark, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sizes = DimensionSizes(vehicles=30, locations=10, users=50)
    generate(lake, 600, seed=11, dirty_fraction=0.05, days=3, split="daily", sizes=sizes)
    jobs = (vlp.JOB,)
    run_both(spark, lake, "s0", "incremental", jobs)  # no ledger yet: a full run

    for step, (folder, change_users) in enumerate(CORRUPTIONS, start=1):
        run_id = f"s{step}"
        append_day(lake, date(2024, 1, 3 + step), 150, dirty_fraction=0.05)
        if change_users:
            add_user(lake)
        victim = corrupt_one_file(lake, vlp.JOB, folder)
        manifest = run_both(spark, lake, run_id, "incremental", jobs)[vlp.JOB]
        assert manifest["mode"] == "full", folder
        fallback = manifest["fallback"]
        assert fallback["reason"] == "state_unreadable", fallback
        assert fallback["from_mode"] == "incremental"
        assert "read_validate" in fallback["failed_attempt_seconds"]
        assert victim.name in fallback["error"], (folder, fallback["error"])
        assert manifest["ingest"]["check"]["path"] == "recheck"
        # the failed attempt's staged version was deleted, the retry's is the live one
        for table in manifest["outputs"]:
            assert live_version(lake, vlp.JOB, table) == run_id
        versions = os.listdir(lake / PROCESSED / vlp.JOB / "_versions")
        assert not [v for v in versions if v.startswith(f"{run_id}~")], versions
        assert not victim.exists(), "the full run rebuilt the state without the bad file"

    # the rebuilt state is healthy: the next new file is appended, without a fallback
    append_day(lake, date(2024, 1, 3 + len(CORRUPTIONS) + 1), 150, dirty_fraction=0.05)
    manifest = run_both(spark, lake, "s-after", "incremental", jobs)[vlp.JOB]
    assert manifest["mode"] == "incremental"
    assert "fallback" not in manifest
    assert manifest["ingest"]["check"]["path"] == "append"
    assert_equals_full_run(spark, lake, "s-after", tmp_path, jobs)


def test_only_state_read_errors_before_publishing_are_retried(tmp_path: Path) -> None:
    inc = "incremental"
    state = IngestState(None, str(tmp_path / PROCESSED), vlp.JOB)
    cause = (
        "Caused by: org.apache.hadoop.fs.ChecksumException: Checksum error: "
        f"file:{tmp_path}/data/processed/{vlp.JOB}/_state/partials/run=s1/part-0.parquet at 0"
    )
    named = RuntimeError(f"An error occurred while calling o42.parquet.\n\tat x.y\n{cause}\n")
    assert state_unreadable(named, state, _Attempt(), inc) == cause
    other_job = RuntimeError(f"reading file:/x/processed/other_job/_state/ledger.json, {vlp.JOB}")
    assert state_unreadable(other_job, state, _Attempt(), inc) is None
    assert state_unreadable(RuntimeError("Java heap space"), state, _Attempt(), inc) is None
    assert state_unreadable(named, None, _Attempt(), inc) is None, "no state: nothing to rebuild"
    assert state_unreadable(named, state, _Attempt(published=True), inc) is None, "after publishing"
    state_file = f"{tmp_path}/data/processed/{vlp.JOB}/_state/ledger.json"
    bad_input = InputFileError("users", state_file, None, "a readable file", "it is not")
    assert state_unreadable(bad_input, state, _Attempt(), inc) is None
    assert state_unreadable(named, state, _Attempt(), "full") is None, "a full run reads no state"


def test_error_message_of_a_failed_read_names_the_file(spark, tmp_path: Path) -> None:
    """A Py4J error's first line names nothing; the manifest's message carries the cause."""
    folder = tmp_path / "table"
    spark.range(3).write.parquet(str(folder))
    victim = sorted(folder.glob("*.parquet"))[0]
    victim.write_bytes(b"not a parquet file\n")
    with pytest.raises(Exception) as caught:
        spark.read.parquet(str(folder)).count()
    first_line = str(caught.value).strip().splitlines()[0]
    assert victim.name not in first_line, "the fix is moot if Spark names the file itself"
    message = error_message(caught.value)
    assert message.startswith(first_line)
    assert victim.name in message and "Caused by:" in message, message
    assert "\n" not in message and len(message) <= 2000
    plain = ValueError("first line\nsecond line")
    assert error_message(plain) == "first line"
    assert error_message(ValueError()) == "ValueError"

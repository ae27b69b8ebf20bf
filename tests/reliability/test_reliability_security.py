"""Input validation: hostile run ids are refused by the layout, the launcher and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spark_ingest.layout import validate_run_id

HOSTILE_RUN_IDS = [
    "../../etc",
    "a;rm -rf /",
    "$(touch /tmp/pwned)",
    "`id`",
    "run id with spaces",
    "a/b",
    "..",
    "",
    "-rf",
    "run\nid",
    "run1\n",  # a trailing newline: "$" alone would let it through
    "run'; drop table x; --",
    "x" * 81,
]
GOOD_RUN_IDS = ["20240501T060000Z-3f9a1c", "run_1.2-b", "A"]
CARRENTAL = [sys.executable, "-c", "from carrental.cli import main; main()"]


def _ids(values):
    return [repr(v)[:24] for v in values]


@pytest.mark.reliability(kind="security")
@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS, ids=_ids(HOSTILE_RUN_IDS))
def test_layout_refuses_hostile_run_id(run_id):
    with pytest.raises(ValueError, match="invalid run id"):
        validate_run_id(run_id)


@pytest.mark.reliability(kind="security")
@pytest.mark.parametrize("run_id", GOOD_RUN_IDS)
def test_layout_accepts_plain_run_id(run_id):
    assert validate_run_id(run_id) == run_id


@pytest.mark.reliability(kind="security")
@pytest.mark.parametrize("run_id", ["../../etc", "a;rm -rf /"])
def test_submit_job_refuses_before_launching(run_id, tmp_path):
    from spark_ingest import submit

    with pytest.raises(ValueError, match="invalid run id"):
        submit.submit_job("vehicle_location_performance", tmp_path, run_id)
    assert list(tmp_path.iterdir()) == [], "something was written for a refused run id"


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CARRENTAL, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


@pytest.mark.reliability(kind="security")
@pytest.mark.parametrize("run_id", ["../../etc", "a;rm -rf /"])
@pytest.mark.parametrize(
    "command",
    [["spark", "vehicle_location_performance"], ["run"]],
    ids=["spark", "run"],
)
def test_cli_refuses_hostile_run_id(command, run_id, tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    proc = _cli([*command, "--lake-dir", str(lake), "--run-id", run_id], tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, (
        f"exit {proc.returncode}, expected 2 (usage error)\n{output[-2000:]}"
    )
    assert "run id" in output.lower() or "run-id" in output.lower(), output[-2000:]
    assert list(lake.iterdir()) == [], "the lake was written to for a refused run id"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]

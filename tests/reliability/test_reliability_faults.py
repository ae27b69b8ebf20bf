"""Spark-level fault injection against the real ``spark-submit`` of the vehicle_location job.

* SIGKILL while the job writes its staging version: the published tables stay readable and
  byte-for-byte unchanged, and the next run publishes correctly.
* Disk full (ENOSPC) in the publish step: injected into the real driver through a
  ``sitecustomize`` on its ``PYTHONPATH`` that makes every ``os.symlink`` / ``os.replace`` /
  ``os.rename`` / write-``open`` under ``processed/<job>/`` fail with ``OSError(ENOSPC)``. The
  marker file it writes proves the publish code path was reached.
* A re-run over the same input gives identical rows (and we record whether the Parquet files
  are byte-identical).
"""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from spark_ingest.submit import process_tree
from tests.corpus.make_corpus import write_base_lake
from tests.reliability import rel_support as S

pytestmark = [pytest.mark.slow]

N_RENTALS = 4000
KILL_TIMEOUT_S = 1200  # a loaded 2-core machine needs minutes to reach the write

SITECUSTOMIZE = textwrap.dedent(
    """
    import builtins, errno, os

    _UNDER = os.environ.get("CORPUS_ENOSPC_UNDER")
    _MARK = os.environ.get("CORPUS_ENOSPC_MARK")
    _SKIP = int(os.environ.get("CORPUS_ENOSPC_SKIP", "0"))
    _ONLY = set(filter(None, os.environ.get("CORPUS_ENOSPC_ONLY", "").split(",")))
    _TIMES = int(os.environ.get("CORPUS_ENOSPC_TIMES", "0"))  # 0: every call after the skip
    _calls = [0]

    def _hit(path):
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(_UNDER)
        except Exception:
            return False

    def _fail(name, paths):
        if _ONLY and name not in _ONLY:
            return
        _calls[0] += 1
        if _calls[0] <= _SKIP or (_TIMES and _calls[0] > _SKIP + _TIMES):
            return
        with _ORIG_OPEN(_MARK, "a") as fh:
            fh.write(f"{name} {paths}\\n")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(paths[-1]))

    def _wrap(name, fn, positions):
        def inner(*args, **kwargs):
            paths = [args[i] for i in positions if i < len(args)]
            if any(_hit(p) for p in paths):
                _fail(name, paths)
            return fn(*args, **kwargs)
        return inner

    _ORIG_OPEN = builtins.open
    if _UNDER:
        os.symlink = _wrap("symlink", os.symlink, (1,))
        os.replace = _wrap("replace", os.replace, (0, 1))
        os.rename = _wrap("rename", os.rename, (0, 1))
        os.link = _wrap("link", os.link, (1,))

        def _open(file, mode="r", *args, **kwargs):
            if any(m in mode for m in "wax+") and _hit(file):
                _fail("open", [file])
            return _ORIG_OPEN(file, mode, *args, **kwargs)

        builtins.open = _open
    """
)


@pytest.fixture(scope="module")
def fault_lake(tmp_path_factory):
    S.submit_module()
    lake = tmp_path_factory.mktemp("faults") / "lake"
    write_base_lake(lake, n_rentals=N_RENTALS)
    proc = S.run_job(S.JOB, lake, "good-1")
    assert proc.returncode == 0, f"the clean base run failed:\n{S.tail(proc)}"
    return {"lake": lake, "first": S.published_state(lake, S.JOB), "reruns": []}


def _points_into(state: dict, version: str) -> list[str]:
    return [t for t, s in state.items() if f"/_versions/{version}/" in s["target"] + "/"]


def _parquet_under(folder: Path) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.endswith(".parquet") for f in files):
            return True
    return False


def _rows_lost(before: dict, after: dict) -> int:
    return sum(max(len(before[t]["rows"]) - len(after[t]["rows"]), 0) for t in before)


@pytest.mark.reliability(kind="fault")
def test_fault_sigkill_mid_write(fault_lake, record_property):
    lake = fault_lake["lake"]
    before = S.published_state(lake, S.JOB)
    staging = lake / "data" / "processed" / S.JOB / "_versions" / "killed-1"
    proc = S.start_job_process(S.JOB, lake, "killed-1")
    deadline = time.monotonic() + KILL_TIMEOUT_S
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if staging.exists() and _parquet_under(staging):
                break
            time.sleep(0.05)
    finally:
        finished = proc.poll() is not None
        for pid in [*process_tree(proc.pid), proc.pid]:  # only processes this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not finished, (
        f"the job ended (exit {proc.returncode}) before the kill:\n{proc.stderr.read()[-2000:]}"
    )
    assert staging.exists(), "killed before the staging version appeared (kill came too early)"
    time.sleep(1)
    after = S.published_state(lake, S.JOB)
    assert after == before, "the published tables changed after a SIGKILL mid-write"
    assert not _points_into(after, "killed-1")

    recovered = S.run_job(S.JOB, lake, "recover-1")
    assert recovered.returncode == 0, f"the run after the kill failed:\n{S.tail(recovered)}"
    new = S.published_state(lake, S.JOB)
    assert sorted(_points_into(new, "recover-1")) == sorted(new), "not every table was republished"
    for table in new:
        assert new[table]["rows"] == fault_lake["first"][table]["rows"], table
    fault_lake["reruns"].append(new)
    record_property("rows_lost", _rows_lost(fault_lake["first"], new))
    leftover = staging.exists()
    record_property(
        "note",
        f"SIGKILL: killed while staging held Parquet; published tables unchanged; "
        f"partial _versions/killed-1 {'left behind (ignored by readers: leading _)' if leftover else 'removed'}",
    )


def _enospc_env(
    tmp_path: Path, lake: Path, skip: int, only: tuple[str, ...] = (), times: int = 0
) -> tuple[dict, Path]:
    """The environment of a job whose file operations under ``processed/<job>/`` fail with
    ENOSPC after ``skip`` of them succeeded (counting only the calls named in ``only``:
    symlink, replace, rename, link, open; every one when empty), ``times`` times (0: every
    later call)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    mark = tmp_path / "enospc.hits"
    env = {
        "PYTHONPATH": str(site),
        "CORPUS_ENOSPC_UNDER": str((lake / "data" / "processed" / S.JOB).resolve()),
        "CORPUS_ENOSPC_MARK": str(mark),
        "CORPUS_ENOSPC_SKIP": str(skip),
        "CORPUS_ENOSPC_ONLY": ",".join(only),
        "CORPUS_ENOSPC_TIMES": str(times),
    }
    return env, mark


@pytest.mark.reliability(kind="fault")
def test_fault_disk_full_at_publish(fault_lake, tmp_path, record_property):
    lake = fault_lake["lake"]
    before = S.published_state(lake, S.JOB)
    env, mark = _enospc_env(tmp_path, lake, skip=0)
    proc = S.run_job(S.JOB, lake, "enospc-1", env=env)
    assert mark.exists(), (
        "the ENOSPC injection never fired: publish does not go through os.symlink/os.replace/"
        f"os.rename/open under processed/<job>/\n{S.tail(proc)}"
    )
    assert proc.returncode == 1, f"expected exit 1 on a full disk\n{S.tail(proc)}"
    output = (proc.stdout or "") + (proc.stderr or "")
    assert "No space left on device" in output, "the job output does not say the disk is full"
    data = S.manifest(lake, "enospc-1", S.JOB)
    assert data and data["status"] == "FAILED", data
    assert "No space left on device" in data["error"]["message"]
    after = S.published_state(lake, S.JOB)
    assert after == before, "a failed publish changed the published tables"
    record_property("rows_lost", _rows_lost(before, after))


@pytest.mark.reliability(kind="fault")
def test_fault_disk_full_after_first_table_swapped(fault_lake, tmp_path, record_property):
    """ENOSPC on the second table's swap: the job's tables must not end up from two versions."""
    lake = fault_lake["lake"]
    before = S.published_state(lake, S.JOB)
    # only the swaps count: the first table's os.replace succeeds, the second one's fails
    # once (the rollback's renames need no space)
    env, mark = _enospc_env(tmp_path, lake, skip=1, only=("replace",), times=1)
    proc = S.run_job(S.JOB, lake, "enospc-2", env=env)
    assert mark.exists(), f"the ENOSPC injection never fired\n{S.tail(proc)}"
    (hit,) = mark.read_text().splitlines()
    assert hit.startswith("replace ") and ".swap-" in hit, f"not a table swap: {hit}"
    assert proc.returncode != 0, S.tail(proc)
    after = S.published_state(lake, S.JOB)
    record_property("rows_lost", _rows_lost(before, after))
    versions = Counter(
        "new" if _points_into({t: s}, "enospc-2") else "old" for t, s in after.items()
    )
    assert len(versions) == 1, (
        f"mixed publish after a mid-publish failure: {dict(versions)} "
        f"({ {t: s['target'] for t, s in after.items()} })"
    )
    for table in after:
        assert after[table]["rows"] == before[table]["rows"], table
    # the failed publish put every link back, so its version and temporary links are gone
    job_root = lake / "data" / "processed" / S.JOB
    assert not (job_root / "_versions" / "enospc-2").exists(), "the failed version leaked"
    assert not [p.name for p in job_root.iterdir() if p.name.startswith(".")], "temp links left"


@pytest.mark.reliability(kind="fault")
def test_fault_rerun_gives_identical_rows(fault_lake, record_property):
    lake = fault_lake["lake"]
    if fault_lake["reruns"]:
        second = fault_lake["reruns"][0]
    else:
        proc = S.run_job(S.JOB, lake, "rerun-1")
        assert proc.returncode == 0, S.tail(proc)
        second = S.published_state(lake, S.JOB)
    first = fault_lake["first"]
    identical_bytes = {}
    for table in first:
        assert second[table]["rows"] == first[table]["rows"], f"{table}: rows differ on re-run"
        identical_bytes[table] = sorted(first[table]["files"].values()) == sorted(
            second[table]["files"].values()
        )
    record_property("rows_lost", _rows_lost(first, second))
    same = [t for t, v in identical_bytes.items() if v]
    record_property(
        "note",
        "re-run: identical rows in every table; Parquet byte-identical for "
        f"{len(same)}/{len(identical_bytes)} tables"
        + (
            f" (differ: {sorted(set(identical_bytes) - set(same))})"
            if len(same) < len(identical_bytes)
            else ""
        ),
    )

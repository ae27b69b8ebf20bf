"""A local publish that fails leaves no version behind for ever: its staged version is
discarded once every link is back, and pruning counts only the tables' links as live."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spark_ingest.pipeline import _Attempt, _discard_failed
from spark_ingest.publish import KEEP_VERSIONS, Publisher

JOB = "job"
TABLES = ("a", "b", "c")


def _staged(root: Path, run: str) -> Publisher:
    """A publisher of ``run`` whose tables are staged by hand (no Spark needed): each
    table's folder holds one file naming the run."""
    pub = Publisher(None, str(root), JOB, run)
    for table in TABLES:
        folder = Path(pub.stage_root) / table
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_text(run)
        pub.staged[table] = str(folder)
    return pub


def _shown(root: Path) -> dict[str, str]:
    """table -> the run whose file the table's link shows."""
    return {t: (root / JOB / t / "part-0.parquet").read_text() for t in TABLES}


def _publish(root: Path, run: str) -> None:
    _staged(root, run).publish()
    time.sleep(0.02)  # versions are pruned oldest (modification time) first


def _fail_symlink(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """Make the ``nth`` os.symlink call fail with ENOSPC (disk full); the others work."""
    real, calls = os.symlink, [0]

    def symlink(source, target, *args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "symlink", symlink)


def test_a_publish_failing_while_it_creates_its_links_leaks_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "processed"
    _publish(root, "good-1")
    _publish(root, "good-2")

    # disk full creating the second table's new link (symlinks: a.swap, a.undo, b.swap),
    # as the pipeline runs it: publish, then the failed attempt's clean-up
    failed = _staged(root, "failed-3")
    _fail_symlink(monkeypatch, 3)
    attempt = _Attempt(publisher=failed, published=True)
    with pytest.raises(OSError) as info:
        failed.publish()
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert _shown(root) == dict.fromkeys(TABLES, "good-2")
    assert sorted(os.listdir(root / JOB)) == ["_versions", *TABLES], "temporary links left"
    _discard_failed(attempt, JOB)
    assert sorted(os.listdir(root / JOB / "_versions")) == ["good-1", "good-2"]

    for run in ("good-4", "good-5", "good-6"):
        _publish(root, run)
    assert _shown(root) == dict.fromkeys(TABLES, "good-6")
    assert sorted(os.listdir(root / JOB / "_versions")) == ["good-5", "good-6"]
    assert len(os.listdir(root / JOB / "_versions")) == KEEP_VERSIONS


def test_a_failed_swap_that_was_rolled_back_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "processed"
    _publish(root, "good-1")
    failed = _staged(root, "failed-2")
    real, calls = os.replace, [0]

    def replace(source, target):
        calls[0] += 1
        if calls[0] == 2:  # the second table's swap; table a was swapped already
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        failed.publish()
    monkeypatch.undo()
    assert failed.rolled_back
    _discard_failed(_Attempt(publisher=failed, published=True), JOB)
    assert _shown(root) == dict.fromkeys(TABLES, "good-1")
    assert sorted(os.listdir(root / JOB / "_versions")) == ["good-1"]


def test_a_published_version_is_never_discarded(tmp_path: Path) -> None:
    root = tmp_path / "processed"
    pub = _staged(root, "good-1")
    pub.publish()
    _discard_failed(_Attempt(publisher=pub, published=True), JOB)  # e.g. the ledger failed
    assert _shown(root) == dict.fromkeys(TABLES, "good-1")


def test_temporary_links_of_a_dead_publisher_keep_no_version(tmp_path: Path) -> None:
    """A publisher killed mid-publish leaves ``.<table>.swap-<pid>`` / ``.undo-<pid>`` links:
    they are deleted, and the versions they name pruned; a live publisher's are kept."""
    root = tmp_path / "processed"
    _publish(root, "old-1")
    _publish(root, "old-2")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_OUT)
    dead_pid = int(dead.stdout)
    job = root / JOB
    os.symlink(os.path.join("_versions", "old-1", "a"), job / f".a.undo-{dead_pid}")
    os.symlink(os.path.join("_versions", "old-2", "b"), job / f".b.swap-{dead_pid}")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _publish(root, "held-3")
        os.symlink(os.path.join("_versions", "held-3", "c"), job / f".c.swap-{alive.pid}")
        for run in ("good-4", "good-5", "good-6"):
            _publish(root, run)
        assert sorted(os.listdir(job / "_versions")) == ["good-5", "good-6", "held-3"]
        assert sorted(os.listdir(job)) == [f".c.swap-{alive.pid}", "_versions", *TABLES]
    finally:
        alive.kill()
        alive.wait()
    _publish(root, "good-7")
    assert sorted(os.listdir(job / "_versions")) == ["good-6", "good-7"]
    assert sorted(os.listdir(job)) == ["_versions", *TABLES]
    assert _shown(root) == dict.fromkeys(TABLES, "good-7")


_OUT = {"capture_output": True, "text": True, "check": True}

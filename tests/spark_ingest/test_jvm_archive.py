"""The local driver's class-data archive (spark_ingest.jvm_archive): where it lives, when it is
kept, when it is refused; with the real ``java`` (a second each) and one real Spark driver."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from spark_ingest import jvm_archive
from spark_ingest.jvm_archive import archive_path, discard, java_options, keep, usable
from spark_ingest.local_driver import LocalDriver
from spark_ingest.submit import DRIVER_MEMORY, java_executable

pytestmark = pytest.mark.skipif(java_executable() is None, reason="needs java")


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRENTAL_JVM_ARCHIVE")}
    return {**env, jvm_archive.ARCHIVE_DIR_ENV: str(folder), **extra}


def _java(*options: str) -> subprocess.CompletedProcess:
    java = java_executable()
    assert java is not None
    return subprocess.run([java, *options, "-version"], capture_output=True, text=True, timeout=60)


def test_one_archive_per_java_spark_and_memory_unless_turned_off(tmp_path):
    archive = archive_path("3g", _env(tmp_path))
    assert archive is not None and archive.parent == tmp_path.resolve()
    assert archive.name.startswith("spark-driver-") and archive.suffix == ".jsa"
    assert archive_path("3g", _env(tmp_path)) == archive  # stable
    assert archive_path("8g", _env(tmp_path)) != archive  # another JVM heap: another archive
    for off in ("off", "0", "false"):
        assert archive_path("3g", _env(tmp_path, CARRENTAL_JVM_ARCHIVE=off)) is None
    assert archive_path("3g", _env(tmp_path / "with space")) is None
    no_java = {**_env(tmp_path), "PATH": str(tmp_path)}
    no_java.pop("JAVA_HOME", None)
    assert archive_path("3g", no_java) is None
    cache = {**_env(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cache.pop(jvm_archive.ARCHIVE_DIR_ENV)
    found = archive_path("3g", cache)
    assert found is not None and found.parent == (tmp_path / "xdg" / "carrental" / "jvm").resolve()


def test_another_collector_means_another_archive(tmp_path):
    """The archive is written under the local JVM's collector, so an environment that picks
    another one (and so drops the project's, see test_conf_and_args) names another archive:
    the JVM never maps one written under another collector."""
    archive = archive_path("3g", _env(tmp_path))
    other = archive_path("3g", _env(tmp_path, JAVA_TOOL_OPTIONS="-XX:+UseSerialGC"))
    assert other is not None and other != archive
    assert archive_path("3g", _env(tmp_path, JAVA_TOOL_OPTIONS="-Xss4m")) == archive


def test_a_pending_archive_becomes_the_archive_only_after_a_clean_exit(tmp_path):
    archive = tmp_path / "spark-driver-x.jsa"
    options, pending = java_options(archive)
    assert pending is not None and options[0] == f"-XX:ArchiveClassesAtExit={pending}"
    pending.write_bytes(b"x" * 100)
    assert keep(pending, archive, 1) is False  # a crashed or killed driver: nothing kept
    assert not pending.exists() and not archive.exists()

    options, pending = java_options(archive)
    assert pending is not None
    pending.write_bytes(b"x" * 100)
    assert keep(pending, archive, 0) is True
    assert not pending.exists() and archive.read_bytes() == b"x" * 100
    assert json.loads(archive.with_suffix(".json").read_text())["bytes"] == 100
    assert java_options(archive) == (
        [f"-XX:SharedArchiveFile={archive}", *jvm_archive.COMMON_OPTIONS],
        None,
    )
    assert keep(tmp_path / "never-written.pending", archive, 0) is False


def test_an_archive_of_another_size_or_without_its_record_is_deleted_not_used(tmp_path):
    archive = tmp_path / "a.jsa"
    archive.write_bytes(b"y" * 10)
    assert usable(archive) is False and not archive.exists()  # no record
    archive.write_bytes(b"y" * 10)
    archive.with_suffix(".json").write_text(json.dumps({"bytes": 11}))
    assert usable(archive) is False  # truncated (or grown) since it was kept
    assert not archive.exists() and not archive.with_suffix(".json").exists()
    discard(archive)  # nothing left to delete: no error


def test_a_folder_that_cannot_be_written_means_no_archive_not_a_failed_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert java_options(blocker / "d.jsa") == ([], None)  # the driver starts without one

    archive = tmp_path / "taken.jsa"
    archive.mkdir()  # the JVM wrote its archive, but it cannot take this name
    pending = tmp_path / "taken.jsa.1.pending"
    pending.write_bytes(b"x" * 10)
    assert keep(pending, archive, 0) is False
    assert not pending.exists() and not (tmp_path / "taken.jsa.1.json").exists()


def test_a_stale_pending_file_is_removed_a_fresh_one_is_left(tmp_path):
    archive = tmp_path / "b.jsa"
    stale, fresh = tmp_path / "b.jsa.old.pending", tmp_path / "b.jsa.new.pending"
    for path in (stale, fresh):
        path.write_bytes(b"z")
    old = stale.stat().st_mtime - jvm_archive.STALE_PENDING_S - 60
    os.utime(stale, (old, old))
    java_options(archive)
    assert not stale.exists() and fresh.exists()


def test_keeping_a_new_archive_deletes_the_ones_unused_for_a_month(tmp_path):
    def kept_archive(name: str, idle_days: float) -> Path:
        archive = tmp_path / f"spark-driver-{name}.jsa"
        archive.write_bytes(b"a" * 8)
        archive.with_suffix(".json").write_text(json.dumps({"bytes": 8}))
        when = archive.stat().st_mtime - idle_days * 86400
        os.utime(archive, (when, when))
        return archive

    month = jvm_archive.UNUSED_ARCHIVE_S / 86400
    replaced, recent = kept_archive("old-install", month + 1), kept_archive("other", month - 1)
    in_use = kept_archive("in-use", month + 1)
    assert java_options(in_use)[0][0] == f"-XX:SharedArchiveFile={in_use}"  # touched by the use
    new = tmp_path / "spark-driver-new.jsa"
    pending = java_options(new)[1]
    assert pending is not None
    pending.write_bytes(b"n" * 4)
    assert replaced.exists()  # nothing is aged out before a new archive is kept
    assert keep(pending, new, 0) is True
    assert not replaced.exists() and not replaced.with_suffix(".json").exists()
    assert recent.exists() and in_use.exists() and new.exists()


def test_the_jvm_writes_the_archive_maps_it_and_refuses_changed_bytes(tmp_path):
    archive = tmp_path / "c.jsa"
    options, pending = java_options(archive)
    assert _java(*options).returncode == 0
    assert pending is not None and keep(pending, archive, 0)
    options, pending = java_options(archive)
    assert pending is None
    mapped = _java(*options, "-Xshare:on")  # on: fail unless the archive maps
    assert mapped.returncode == 0, mapped.stderr

    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: the checksum refuses it
    archive.chmod(0o644)
    archive.write_bytes(bytes(data))
    assert usable(archive)
    assert _java(*options).returncode == 0  # runs without it
    assert _java(*options, "-Xshare:on").returncode != 0  # because it refused the archive


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_the_local_driver_writes_the_archive_then_maps_it_and_drops_a_broken_one(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a JVM that crashes writes hs_err_pid*.log here
    env = _env(tmp_path / "jvm")
    job, argv = "validate_inputs", ["--help"]  # served by the real driver, no Spark job

    with LocalDriver(env=env) as first:
        assert first.run(job, argv).returncode == 0
        assert any(a.startswith("-XX:ArchiveClassesAtExit=") for a in _cmdline(first.pid))
    archive = archive_path(DRIVER_MEMORY, env)
    assert archive is not None and usable(archive), sorted(os.listdir(tmp_path / "jvm"))
    assert not list(archive.parent.glob("*.pending"))

    with LocalDriver(env=env) as second:
        assert second.run(job, argv).returncode == 0
        assert f"-XX:SharedArchiveFile={archive}" in _cmdline(second.pid)
    assert usable(archive)

    # a truncated archive whose record was rewritten to match: the JVM dies mapping it
    size = archive.stat().st_size // 2
    archive.chmod(0o644)
    with open(archive, "r+b") as handle:
        handle.truncate(size)
    archive.with_suffix(".json").write_text(json.dumps({"bytes": size}))
    with LocalDriver(env=env) as third:
        proc = third.run(job, argv)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not any("SharedArchiveFile" in a for a in _cmdline(third.pid))
    assert not archive.exists()  # deleted: the next driver writes a new one

"""A class-data-sharing archive for the local driver's JVM (laptop runs only).

A Spark driver loads and verifies thousands of classes from Spark's jars, at its start and
again at the first use of each reader, expression and writer. On this 2-core machine that is
seconds of every local run. At 10M rentals, an incremental run of the three jobs in one local
driver took a median 43.3 s without an archive (5 runs) and 40.2 s with one (7 runs,
alternating); the SparkSession's start alone went from 5.6-6.3 s to 3.7-3.8 s.

A dynamic archive (JEP 350, Java 13 and later) holds the classes a JVM loaded, ready to map.
The :class:`~spark_ingest.local_driver.LocalDriver` of a local run (``carrental run``,
``make run``, the bench) uses it:

* no archive yet: the driver's JVM runs with ``-XX:ArchiveClassesAtExit`` and writes one to a
  pending file when it exits; the client keeps it (:func:`keep`) only after a clean exit, so
  a killed or crashed driver leaves none. That first run is slower: 71.7 s against about 44 for
  the 10M incremental run above, 10.7 s of it the archive's write at the driver's exit.
* an archive: the JVM starts with ``-XX:SharedArchiveFile``. With ``-XX:+VerifySharedSpaces``
  it checks the archive's checksum (about 0.06 s) and runs without it if the bytes changed.
  A file of another size than the one recorded at its creation (a truncated copy, which would
  crash the JVM) is deleted before use, and a driver that dies before it serves while using an
  archive makes the client delete the archive and start once more without it.

One archive per Java and Spark install (:func:`archive_path`: the name hashes the java binary,
Spark's jars and the driver's memory), in ``$CARRENTAL_JVM_ARCHIVE_DIR``, else
``$XDG_CACHE_HOME/carrental/jvm``, else ``~/.cache/carrental/jvm``; ``CARRENTAL_JVM_ARCHIVE=off``
turns it off. About 170 MB; the folder can be deleted at any time. Each use touches the
archive, and keeping a new one (a new install) deletes the archives that no driver used for
:data:`UNUSED_ARCHIVE_S` (30 days), so replaced installs do not pile up.

EMR Serverless runs its own JVMs and a single ``carrental spark`` job its own ``spark-submit``:
neither uses the archive, and no job's output depends on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from spark_ingest.logs import log
from spark_ingest.submit import java_executable, local_java_options

ARCHIVE_ENV = "CARRENTAL_JVM_ARCHIVE"
ARCHIVE_DIR_ENV = "CARRENTAL_JVM_ARCHIVE_DIR"
OFF_VALUES = ("0", "off", "false", "no")
#: checksum the archive at load; no unified-logging lines from CDS on the driver's stdout
COMMON_OPTIONS = ("-XX:+VerifySharedSpaces", "-Xlog:cds*=off")
SUFFIX = ".jsa"
PENDING_SUFFIX = ".pending"
#: a pending archive this old was left by a client that died before its driver exited
STALE_PENDING_S = 24 * 3600
#: another archive unused this long (an install since replaced) goes when a new one is kept
UNUSED_ARCHIVE_S = 30 * 24 * 3600


def _identity(java: str, driver_memory: str, env: Mapping[str, str]) -> dict:
    import pyspark

    real = Path(java).resolve()
    stat = real.stat()
    jars = Path(pyspark.__file__).resolve().parent / "jars"
    listing = sorted(p.name for p in jars.iterdir()) if jars.is_dir() else []
    return {
        "java": str(real),
        "java_bytes": stat.st_size,
        "java_mtime_ns": stat.st_mtime_ns,
        "spark": pyspark.__version__,
        "spark_jars": str(jars),
        "spark_jar_names": hashlib.sha256("\n".join(listing).encode()).hexdigest(),
        "driver_memory": driver_memory,
        # an archive is written and mapped under the same collector
        "java_options": list(local_java_options(env)),
    }


def archive_path(driver_memory: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The archive for this Java and Spark install, existing or not; None when turned off, when
    there is no java, or when the folder's path has a space (the driver's Java options are
    split at spaces)."""
    env = os.environ if env is None else env
    if env.get(ARCHIVE_ENV, "").strip().lower() in OFF_VALUES:
        return None
    java = java_executable(env)
    if java is None:
        return None
    folder = env.get(ARCHIVE_DIR_ENV)
    if not folder:
        cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(cache, "carrental", "jvm")
    if any(ch.isspace() for ch in folder):
        return None
    try:
        identity = _identity(java, driver_memory, env)
    except (OSError, ImportError):
        return None
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return Path(folder).resolve() / f"spark-driver-{key}{SUFFIX}"


def _record(archive: Path) -> Path:
    return archive.with_suffix(".json")


def usable(archive: Path) -> bool:
    """The archive exists and has the size recorded when it was kept; a file of another size
    (or without its record) is deleted, so a new one is written."""
    if not archive.is_file():
        return False
    try:
        recorded = json.loads(_record(archive).read_text(encoding="utf-8"))["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if recorded == archive.stat().st_size:
        return True
    log_event = "jvm_archive_unrecorded" if recorded is None else "jvm_archive_size_changed"
    log(logging.WARNING, log_event, archive=str(archive), recorded_bytes=recorded)
    discard(archive)
    return False


def java_options(archive: Path) -> tuple[list[str], Path | None]:
    """The driver's Java options for ``archive``, and the pending file the JVM writes at its
    exit (None when the archive is used, not written). No options when the folder cannot be
    written (a read-only home, say): the driver then runs as it would without an archive."""
    try:
        if usable(archive):
            with contextlib.suppress(OSError):  # used now: not aged out (see keep)
                os.utime(archive)
            return [f"-XX:SharedArchiveFile={archive}", *COMMON_OPTIONS], None
        archive.parent.mkdir(parents=True, exist_ok=True)
        for stale in archive.parent.glob(f"*{SUFFIX}.*{PENDING_SUFFIX}"):  # a client that died
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > STALE_PENDING_S:
                    stale.unlink()
        if not os.access(archive.parent, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write to {archive.parent}")
    except OSError as exc:
        log(logging.WARNING, "jvm_archive_unavailable", archive=str(archive), error=str(exc))
        return [], None
    pending = archive.with_name(f"{archive.name}.{uuid.uuid4().hex[:12]}{PENDING_SUFFIX}")
    return [f"-XX:ArchiveClassesAtExit={pending}", *COMMON_OPTIONS], pending


def keep(pending: Path, archive: Path, returncode: int | None) -> bool:
    """After the driver that wrote ``pending`` exited with ``returncode``: make it the archive
    (with its size recorded) if that exit was clean, else delete it. True when kept."""
    try:
        size = pending.stat().st_size
    except OSError:
        return False
    staged = _record(pending)
    if returncode == 0 and size > 0:
        record = {"bytes": size, "created": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            staged.write_text(json.dumps(record) + "\n", encoding="utf-8")
            os.replace(pending, archive)  # the record last: an archive without one is not used
            os.replace(staged, _record(archive))
        except OSError as exc:  # a full disk, say: no archive this time
            log(logging.WARNING, "jvm_archive_not_kept", archive=str(archive), error=str(exc))
        else:
            log(logging.INFO, "jvm_archive_kept", archive=str(archive), bytes=size)
            _age_out(archive)
            return True
    for path in (pending, staged):
        with contextlib.suppress(OSError):
            path.unlink()
    return False


def _age_out(kept: Path) -> None:
    """Delete the other archives of ``kept``'s folder that no driver used for
    :data:`UNUSED_ARCHIVE_S` (each use touches its archive)."""
    for other in kept.parent.glob(f"spark-driver-*{SUFFIX}"):
        with contextlib.suppress(OSError):
            idle = time.time() - other.stat().st_mtime
            if other != kept and idle > UNUSED_ARCHIVE_S:
                discard(other)
                log(
                    logging.INFO,
                    "jvm_archive_aged_out",
                    archive=str(other),
                    idle_days=int(idle // 86400),
                )


def discard(archive: Path) -> None:
    """Delete the archive and its record (the next driver writes a new one)."""
    for path in (archive, _record(archive)):
        with contextlib.suppress(OSError):
            path.unlink()

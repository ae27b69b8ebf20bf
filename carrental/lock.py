"""One run per lake: a lock file ``<lake>/.carrental.lock`` holding pid, host and start time.

The file is also ``flock``-ed while the run lives, so the kernel frees it when the process
dies. A second run while the first is alive is refused with :class:`LockHeld`. A lock file
left behind by a killed run (its process is gone), or one too damaged to name a process, is
taken over with a warning naming it; nobody has to delete it by hand.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from carrental import console
from carrental.errors import LockHeld

LOCK_NAME = ".carrental.lock"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def live_pid(info: dict[str, Any] | None) -> int | None:
    """The pid recorded in a lock file's ``info`` when it names a live process on this host;
    None otherwise, including a pid that is not a number (a damaged file names no process)."""
    info = info or {}
    pid = info.get("pid")
    if isinstance(pid, str) and pid.strip().isdigit():
        pid = int(pid)
    if type(pid) is not int or info.get("host") != socket.gethostname():
        return None
    return pid if pid_alive(pid) else None


def read_lock(path: str | Path) -> dict[str, Any] | None:
    """The recorded holder (``{"pid", "host", "started_at", "run_id"}``) or None (no file, or
    one that is not a JSON object)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):  # ValueError: not UTF-8
        return None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def _lock_text(path: Path) -> str:
    """The lock file's content for a message ('' when absent or unreadable)."""
    try:
        return path.read_bytes()[:200].decode("utf-8", errors="replace")
    except OSError:
        return ""


class LakeLock:
    """Context manager: ``with LakeLock(lake, run_id): ...``."""

    def __init__(self, lake_dir: str | Path, run_id: str | None = None):
        self.path = Path(lake_dir) / LOCK_NAME
        self.run_id = run_id
        self._fd: int | None = None
        #: The record of the lock taken over; ``{"content": ...}`` (its first 200 characters)
        #: for a damaged file; None when the lake was free.
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> LakeLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._held_error() from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:  # released and unlinked meanwhile: try the new file
                os.close(fd)
                continue
            self._take(fd)
            return self
        raise self._held_error()

    def _take(self, fd: int) -> None:
        previous = read_lock(self.path)
        if previous and previous.get("pid") is not None:
            if live_pid(previous) not in (None, os.getpid()):
                # alive but not holding the flock (e.g. a filesystem without flock)
                os.close(fd)
                raise self._held_error(previous)
            self.took_over = previous
            console.warn(
                f"taking over a stale lake lock {self.path} left by pid {previous.get('pid')} "
                f"on {previous.get('host')} (started {previous.get('started_at')}, run "
                f"{previous.get('run_id')}); that process is gone"
            )
        elif (content := _lock_text(self.path)).strip():  # empty: just created by acquire()
            self.took_over = {"content": content}
            console.warn(
                escape(
                    f"taking over a damaged lake lock {self.path}: expected JSON with pid, "
                    f"host, started_at and run_id, found {content[:80]!r}"
                )
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": self.run_id,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def _held_error(self, info: dict[str, Any] | None = None) -> LockHeld:
        info = info or read_lock(self.path) or {}
        who = (
            f"pid {info.get('pid')} on {info.get('host')}, run {info.get('run_id')}, "
            f"started {info.get('started_at')}"
            if info
            else "another process"
        )
        return LockHeld(
            f"another run is using the lake {self.path.parent} ({who})",
            hint="wait for it to finish; a lock left by a killed run is taken over automatically",
        )

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LakeLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

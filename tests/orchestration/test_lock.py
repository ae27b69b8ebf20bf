"""The lake lock: one run per lake, stale locks taken over with a warning."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from carrental.errors import LockHeld
from carrental.lock import LOCK_NAME, LakeLock, live_pid, pid_alive, read_lock


def test_lock_records_holder_and_is_removed_on_release(tmp_path):
    with LakeLock(tmp_path, "run-1"):
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
        assert info["host"] == socket.gethostname()
        assert info["run_id"] == "run-1" and info["started_at"]
    assert not (tmp_path / LOCK_NAME).exists()


def test_second_lock_in_same_process_is_refused(tmp_path):
    with LakeLock(tmp_path, "first"), pytest.raises(LockHeld, match="first"):
        LakeLock(tmp_path, "second").acquire()


def test_concurrent_run_in_another_process_is_refused(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from carrental.lock import LakeLock
        with LakeLock({str(tmp_path)!r}, "holder"):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as info:
            LakeLock(tmp_path, "second").acquire()
        assert f"pid {holder.pid}" in info.value.message
        assert "holder" in info.value.message
        assert info.value.exit_code == 5
    finally:
        holder.communicate("\n", timeout=30)
    with LakeLock(tmp_path, "third"):  # released when the holder finished
        pass


def test_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, capsys):
    victim = subprocess.Popen([sys.executable, "-c", "pass"])
    victim.wait()
    assert not pid_alive(victim.pid)
    stale = {"pid": victim.pid, "host": socket.gethostname(), "started_at": "x", "run_id": "old"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with LakeLock(tmp_path, "new") as lock:
        assert lock.took_over == stale
        assert read_lock(tmp_path / LOCK_NAME)["run_id"] == "new"
    assert "stale" in capsys.readouterr().err


def test_a_damaged_lock_file_is_taken_over_with_a_warning(tmp_path, capsys):
    damaged = {"pid": "twelve", "host": socket.gethostname(), "run_id": "old"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(damaged))
    with LakeLock(tmp_path, "new") as lock:
        assert lock.took_over == damaged
        assert read_lock(tmp_path / LOCK_NAME)["pid"] == os.getpid()
    assert "stale" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (b"{garbage", "{garbage"),
        (b"[bold]1[/bold]", "[bold]1[/bold]"),  # printed as it is, not as rich markup
        (b"{}", "{}"),
        (b'"pid 12"', '"pid 12"'),
        (b"\xff\xfe{", "\ufffd\ufffd{"),  # not UTF-8: read_lock used to raise
    ],
)
def test_an_unreadable_lock_file_is_taken_over_with_a_warning_naming_it(
    tmp_path, capsys, content, shown
):
    (tmp_path / LOCK_NAME).write_bytes(content)
    assert not read_lock(tmp_path / LOCK_NAME)  # None, or {} for "{}"
    with LakeLock(tmp_path, "new") as lock:
        assert lock.took_over == {"content": shown}
        assert read_lock(tmp_path / LOCK_NAME)["run_id"] == "new"
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: taking over a damaged lake lock {tmp_path / LOCK_NAME}" in err, err
    assert "expected JSON with pid, host, started_at and run_id" in err
    assert repr(shown) in err


def test_an_empty_lock_file_is_taken_without_a_warning(tmp_path, capsys):
    (tmp_path / LOCK_NAME).write_text("")  # what os.open(O_CREAT) leaves before the record
    with LakeLock(tmp_path, "new") as lock:
        assert lock.took_over is None
    assert capsys.readouterr().err == ""


def test_killed_holder_process_lock_is_taken_over(tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from carrental.lock import LakeLock
        LakeLock({str(tmp_path)!r}, "killed").acquire()
        os._exit(9)  # dies without releasing: the file stays behind
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    assert read_lock(tmp_path / LOCK_NAME)["run_id"] == "killed"
    with LakeLock(tmp_path, "next") as lock:
        assert lock.took_over["run_id"] == "killed"


def test_lock_file_naming_a_live_process_without_flock_is_respected(tmp_path):
    live = {"pid": os.getppid(), "host": socket.gethostname(), "started_at": "x", "run_id": "r"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(live))
    with pytest.raises(LockHeld):
        LakeLock(tmp_path, "new").acquire()


def test_live_pid_names_only_a_live_process_on_this_host():
    here = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert live_pid({"pid": os.getpid(), "host": here}) == os.getpid()
    assert live_pid({"pid": str(os.getpid()), "host": here}) == os.getpid()
    assert live_pid({"pid": os.getpid(), "host": here + "-elsewhere"}) is None
    assert live_pid({"pid": gone.pid, "host": here}) is None
    for damaged in ("twelve", None, True, [1], 0, -1, float(os.getpid()), ""):
        assert live_pid({"pid": damaged, "host": here}) is None
    assert live_pid({"host": here}) is None
    assert live_pid(None) is None

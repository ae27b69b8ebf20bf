"""submit_job streams output while the child runs, keeps all of it, and kills on timeout.

spark-submit itself is replaced by a small Python child (``build_command`` is patched), so
these tests exercise the real Popen / reader-thread / log-file / timeout code in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import spark_ingest.submit as submit

JOB = "vehicle_location_performance"

# Prints on both streams, then waits until the parent has *seen* "ready" (the parent's
# callback creates the marker file): with output delivered only at exit it would exit 1.
HANDSHAKE = """
import os, sys, time
marker = sys.argv[1]
print("out: ready", flush=True)
print("err: ready", file=sys.stderr, flush=True)
deadline = time.monotonic() + 20
while not os.path.exists(marker):
    if time.monotonic() > deadline:
        print("err: the parent never saw my first line", file=sys.stderr, flush=True)
        sys.exit(1)
    time.sleep(0.05)
print("out: done", flush=True)
print("err: done", file=sys.stderr, flush=True)
"""

# Starts a grandchild, then hangs past the timeout.
HANG = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(f"grandchild {grandchild.pid}", flush=True)
print("err: about to hang", file=sys.stderr, flush=True)
time.sleep(120)
"""


@pytest.fixture
def fake_spark_submit(monkeypatch: pytest.MonkeyPatch):
    """Make submit_job run ``python -c <script> <args...>`` instead of spark-submit."""

    def use(script: str, *args: str) -> list[str]:
        cmd = [sys.executable, "-c", script, *args]
        monkeypatch.setattr(submit, "build_command", lambda *a, **k: cmd)
        return cmd

    return use


def _gone(pid: int, within: float = 10.0) -> bool:
    """The process has exited (or is a zombie waiting for init to reap it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_lines_arrive_while_the_job_runs(tmp_path: Path, fake_spark_submit) -> None:
    marker = tmp_path / "seen"
    cmd = fake_spark_submit(HANDSHAKE, str(marker))
    received: list[tuple[str, str]] = []

    def on_line(stream: str, line: str) -> None:
        received.append((stream, line))
        if line == "out: ready":
            marker.touch()

    proc = submit.submit_job(JOB, tmp_path, "run-1", on_line=on_line)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "out: ready\nout: done\n"
    assert proc.stderr == "err: ready\nerr: done\n"
    assert sorted(received) == sorted(
        [
            ("stdout", "out: ready"),
            ("stdout", "out: done"),
            ("stderr", "err: ready"),
            ("stderr", "err: done"),
        ]
    )
    log = (tmp_path / "runs" / "run-1" / "logs" / f"{JOB}.log").read_text()
    assert log == (
        f"$ {' '.join(cmd)}\n--- stdout ---\nout: ready\nout: done\n\n"
        "--- stderr ---\nerr: ready\nerr: done\n"
    )


def test_timeout_kills_the_whole_process_tree(tmp_path: Path, fake_spark_submit) -> None:
    fake_spark_submit(HANG)
    started = time.monotonic()
    proc = submit.submit_job(JOB, tmp_path, "run-2", timeout=3)
    assert time.monotonic() - started < 30
    assert proc.returncode == submit.TIMEOUT_EXIT_CODE == 124
    assert proc.stderr == "err: about to hang\n\nspark-submit timed out after 3 s\n"
    grandchild = int(proc.stdout.split()[1])
    assert _gone(grandchild), f"grandchild {grandchild} survived the timeout"
    log = (tmp_path / "runs" / "run-2" / "logs" / f"{JOB}.log").read_text()
    assert log.endswith("--- stderr ---\nerr: about to hang\n\nspark-submit timed out after 3 s\n")


def test_a_failing_callback_never_blocks_the_job(
    tmp_path: Path, fake_spark_submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = 5000  # far more than a pipe buffer holds: an abandoned reader would deadlock
    fake_spark_submit(f"for i in range({lines}): print('line', i, 'x' * 100)")
    calls = []

    def broken(stream: str, line: str) -> None:
        calls.append(line)
        raise ValueError("renderer bug")

    logged = []
    monkeypatch.setattr(
        submit, "log", lambda level, event, **fields: logged.append((event, fields))
    )
    proc = submit.submit_job(JOB, tmp_path, "run-3", on_line=broken, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == lines
    assert len(calls) == 1
    ((event, fields),) = logged
    assert event == "on_line_failed" and "ValueError: renderer bug" in fields["error"]


def test_stream_process_merges_stderr_for_dbt(tmp_path: Path) -> None:
    script = "import sys; print('a', flush=True); print('b', file=sys.stderr, flush=True)"
    seen: list[tuple[str, str]] = []
    proc = submit.stream_process(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=dict(os.environ),
        on_line=lambda stream, line: seen.append((stream, line)),
        merge_stderr=True,
    )
    assert (proc.stdout, proc.stderr) == ("a\nb\n", "")
    assert seen == [("stdout", "a"), ("stdout", "b")]


# A scheduler stopping `carrental run`: this driver streams HANG through stream_process and
# is then killed together with its process group; the job's grandchild must die with it.
VICTIM = """
import sys
from spark_ingest.submit import stream_process
# stdout only: the stderr reader thread may deliver "err: about to hang" first
stream_process(
    [sys.executable, "-c", sys.argv[1]],
    on_line=lambda s, l: s == "stdout" and print(l, flush=True),
)
"""


def test_killing_the_callers_process_group_stops_the_job(tmp_path: Path) -> None:
    repo = str(Path(submit.__file__).resolve().parents[1])
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM, HANG],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": repo},
        start_new_session=True,  # its own group, like a scheduler's job
    )
    first = victim.stdout.readline()  # the streamed "grandchild <pid>" line
    grandchild = int(first.split()[1])
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(30)
    assert _gone(grandchild), f"grandchild {grandchild} outlived its killed process group"

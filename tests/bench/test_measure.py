"""bench.measure: the peak RSS of a process tree, with children that share their parent's pages.

A JVM spawns children for Hadoop's shell commands; until ``exec`` such a child shares the
JVM's address space, and a sample that caught one had counted the JVM twice. A forked child
that has not touched its memory is the same case, and the one a test can hold still.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.measure import measure

#: the parent writes ``PARENT_MB`` (so it is resident), forks, and the child writes
#: ``CHILD_MB`` of its own (0: it only sleeps, every page still its parent's)
FORK_SCRIPT = """
import os, sys, time
parent_mb, child_mb = int(sys.argv[1]), int(sys.argv[2])
block = b"x" * (parent_mb * 2**20)
pid = os.fork()
if pid == 0:
    own = b"y" * (child_mb * 2**20)
    time.sleep(1.5)
    os._exit(0)
os.waitpid(pid, 0)
"""
PARENT_MB = 300

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def run_fork_script(child_mb: int):
    def run() -> int:
        cmd = [sys.executable, "-c", FORK_SCRIPT, str(PARENT_MB), str(child_mb)]
        return subprocess.run(cmd, check=False).returncode

    return measure(run, interval=0.05)


def sizes_mb(processes: list[str]) -> list[int]:
    return [int(entry.rsplit(" ", 1)[1]) for entry in processes]


@needs_proc
def test_a_forked_child_on_its_parents_pages_is_not_counted_again() -> None:
    got = run_fork_script(child_mb=0)
    assert got.returncode == 0 and got.samples > 10
    # counted twice, the peak would be over 2 x 300 MB
    assert PARENT_MB <= got.peak_rss_mb < PARENT_MB + 150, got
    assert len([mb for mb in sizes_mb(got.peak_processes) if mb >= PARENT_MB]) == 1, got


@needs_proc
def test_a_child_with_memory_of_its_own_is_counted() -> None:
    child_mb = 200
    got = run_fork_script(child_mb=child_mb)
    assert got.returncode == 0
    # the child holds its own 200 MB plus the pages it still shares (an upper bound)
    assert got.peak_rss_mb >= 2 * PARENT_MB + child_mb - 50, got
    assert len([mb for mb in sizes_mb(got.peak_processes) if mb >= PARENT_MB]) == 2, got


#: burns the CPU seconds it is sent, answers, and waits for the next request
BUSY_SERVER = """
import sys, time
for line in sys.stdin:
    end = time.process_time() + float(line)
    while time.process_time() < end:
        pass
    print("done", flush=True)
"""


@needs_proc
def test_cpu_of_a_process_that_outlives_the_call_counts_only_the_call() -> None:
    """The local run's shared Spark driver serves several measured jobs and is reaped in the
    last one: each measurement counts only the CPU spent during it."""
    server = subprocess.Popen(
        [sys.executable, "-c", BUSY_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(seconds: float):
        def run() -> int:
            server.stdin.write(f"{seconds}\n")
            server.stdin.flush()
            return 0 if server.stdout.readline() == "done\n" else 1

        return run

    def finish() -> int:
        server.stdin.close()
        return server.wait()

    try:
        assert ask(0.5)() == 0  # before any measurement
        first, second = measure(ask(1.0)), measure(ask(0.3))
        last = measure(finish)  # reaped here: rusage adds its whole life, 1.8 s and more
    finally:
        server.kill()
        server.wait()
    assert (first.returncode, second.returncode, last.returncode) == (0, 0, 0)
    assert 0.9 <= first.cpu_s < 1.4, first
    assert 0.25 <= second.cpu_s < 0.6, second
    assert 0 <= last.cpu_s < 0.3, last

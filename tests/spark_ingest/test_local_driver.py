"""The local run's shared driver: its protocol and failure handling, with a driver without Spark.

The driver here is ``serve()`` itself with fake jobs (a job's argv says what it does), so
every path of the client and the server runs for real: the socket, the end marker, the output
routing, timeouts, crashes. ``test_jobs_end_to_end`` runs real Spark jobs in a real driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from spark_ingest import submit
from spark_ingest.local_driver import LocalDriver, driver_command
from spark_ingest.submit import TIMEOUT_EXIT_CODE

JOB = "validate_inputs"  # any known job name: the fake driver ignores it

FAKE_DRIVER = """
import os, sys, time
from spark_ingest.local_driver import serve

class FakeJobs:
    def __init__(self):
        self.ok = True
        print("fake driver starting", flush=True)

    def run(self, job, argv):
        verb, *rest = argv
        if verb == "say":
            for text in rest:
                print(f"out:{text}", flush=True)
                print(f"err:{text}", file=sys.stderr, flush=True)
            print(f"pid:{os.getpid()}", flush=True)
            return 0
        if verb == "exit":
            return int(rest[0])
        if verb == "raise":
            raise RuntimeError("boom in the driver")
        if verb == "sleep":
            print("sleeping", flush=True)
            time.sleep(float(rest[0]))
            return 0
        if verb == "die":
            print("dying", flush=True)
            os._exit(int(rest[0]))
        if verb == "unhealthy":
            self.ok = False
            return 1
        if verb == "argv":
            raise SystemExit(2)
        raise AssertionError(verb)

    def healthy(self):
        return self.ok

    def stop(self):
        print("fake driver stopped", flush=True)

sys.exit(serve(sys.argv[1], FakeJobs))
"""


@pytest.fixture
def fake_driver(tmp_path):
    script = tmp_path / "fake_driver.py"
    script.write_text(FAKE_DRIVER, encoding="utf-8")
    drivers = []

    def make(**kwargs) -> LocalDriver:
        driver = LocalDriver(command=lambda path: [sys.executable, str(script), path], **kwargs)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()


def _pid(proc) -> int:
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("pid:")]
    return int(line.split(":")[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_jobs_share_one_driver_and_each_gets_only_its_own_output(fake_driver):
    driver = fake_driver()
    seen = []
    first = driver.run(JOB, ["say", "a1", "a2"], on_line=lambda s, line: seen.append((s, line)))
    second = driver.run(JOB, ["say", "b1"])
    assert (first.returncode, second.returncode) == (0, 0)
    assert _pid(first) == _pid(second) == driver.pid  # one process served both
    # the start-up line belongs to the job that started the driver, nothing leaks across
    assert "fake driver starting" in first.stdout and "fake driver starting" not in second.stdout
    assert "out:a1\nout:a2\n" in first.stdout and "err:a1\nerr:a2\n" in first.stderr
    assert "a1" not in second.stdout + second.stderr and "out:b1" in second.stdout
    assert ("stdout", "out:a1") in seen and ("stderr", "err:a2") in seen
    assert not any("b1" in line for _, line in seen)
    assert "carrental-driver-job-end" not in first.stdout + second.stdout + second.stderr
    assert first.args[1:] == [JOB, "say", "a1", "a2"] and "pid" in first.args[0]


def test_each_job_gets_its_last_lines_on_both_streams(fake_driver):
    """stdout and stderr are separate pipes: a job ends once its end marker came on each."""
    driver = fake_driver()
    for n in range(20):
        texts = [f"j{n}-{i}" for i in range(5)]
        proc = driver.run(JOB, ["say", *texts])
        assert proc.stderr == "".join(f"err:{text}\n" for text in texts), n
        assert [line for line in proc.stdout.splitlines() if line.startswith("out:")] == [
            f"out:{text}" for text in texts
        ], n


def test_a_failed_job_returns_its_code_and_the_driver_serves_the_next(fake_driver):
    driver = fake_driver()
    pid = _pid(driver.run(JOB, ["say", "x"]))
    assert driver.run(JOB, ["exit", "3"]).returncode == 3
    raised = driver.run(JOB, ["raise"])
    assert raised.returncode == 1 and "RuntimeError: boom in the driver" in raised.stderr
    assert driver.run(JOB, ["argv"]).returncode == 2  # argparse's SystemExit(2)
    assert _pid(driver.run(JOB, ["say", "y"])) == pid


def test_a_timed_out_job_kills_the_driver_and_the_next_job_starts_another(fake_driver):
    driver = fake_driver()
    pid = _pid(driver.run(JOB, ["say", "x"]))
    slow = driver.run(JOB, ["sleep", "60"], timeout=2)
    assert slow.returncode == TIMEOUT_EXIT_CODE
    assert "sleeping" in slow.stdout and "timed out after 2" in slow.stderr
    assert not _alive(pid) and driver.pid is None
    assert _pid(driver.run(JOB, ["say", "again"])) != pid


def test_a_driver_that_dies_mid_job_returns_its_exit_code_and_output(fake_driver):
    driver = fake_driver()
    pid = _pid(driver.run(JOB, ["say", "x"]))
    died = driver.run(JOB, ["die", "7"])
    assert died.returncode == 7 and "dying" in died.stdout
    assert "exited with code 7" in died.stderr
    assert not _alive(pid)
    assert _pid(driver.run(JOB, ["say", "again"])) != pid


def test_an_unhealthy_driver_is_replaced_after_its_job(fake_driver):
    driver = fake_driver()
    pid = _pid(driver.run(JOB, ["say", "x"]))
    assert driver.run(JOB, ["unhealthy"]).returncode == 1
    assert not _alive(pid)
    assert _pid(driver.run(JOB, ["say", "again"])) != pid


def test_a_driver_that_cannot_start_fails_the_job_with_its_output(tmp_path):
    script = "import sys; print('no usable Java here'); sys.exit(5)"
    driver = LocalDriver(command=lambda path: [sys.executable, "-c", script, path])
    failed = driver.run(JOB, ["say", "x"], timeout=60)
    assert failed.returncode == 5 and "no usable Java here" in failed.stdout
    assert driver.pid is None
    driver.close()


def test_close_stops_the_driver_cleanly_and_removes_its_socket(fake_driver, tmp_path):
    driver = fake_driver()
    first = driver.run(JOB, ["say", "x"])
    pid = _pid(first)
    socket_dir = Path(driver._folder)  # the private folder of the socket
    assert socket_dir.is_dir() and oct(socket_dir.stat().st_mode & 0o777) == "0o700"
    driver.close()
    driver.close()  # twice is fine
    assert not _alive(pid) and not socket_dir.exists()


def test_unknown_jobs_are_refused_before_any_driver_starts(fake_driver):
    driver = fake_driver()
    with pytest.raises(ValueError, match="unknown job"):
        driver.run("drop_everything", ["say", "x"])
    assert driver.pid is None


def test_submit_job_runs_spark_jobs_in_the_driver_and_logs_them(fake_driver, tmp_path, monkeypatch):
    driver = fake_driver()
    # the fake driver's argv is the job's: make the job's arguments a 'say' of the run id
    monkeypatch.setattr(submit, "job_args", lambda lake, run_id, mode, engine: ["say", run_id])
    proc = submit.submit_job(JOB, tmp_path, "r-1", driver=driver)
    assert proc.returncode == 0 and "out:r-1" in proc.stdout
    log = (tmp_path / "runs" / "r-1" / "logs" / f"{JOB}.log").read_text()
    assert log.startswith(f"$ <local spark driver, pid {driver.pid}> {JOB} say r-1")
    assert "out:r-1" in log and "err:r-1" in log


def test_each_engine_has_its_driver_and_other_jobs_run_in_their_own_process(tmp_path, monkeypatch):
    spark = driver_command("/x/driver.sock", "spark")
    duckdb = driver_command("/x/driver.sock", "duckdb")
    assert Path(spark[0]).name == "spark-submit" and spark[-2:] == ["/x/driver.sock", "spark"]
    assert spark[-3].endswith("spark_ingest/local_driver.py")
    assert duckdb == [sys.executable, "-m", "spark_ingest.local_driver", "/x/driver.sock", "duckdb"]
    with pytest.raises(ValueError, match="unknown engine"):
        LocalDriver("polars")

    ran = []

    def own_process(cmd, **kwargs):
        ran.append(cmd)
        return submit.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(submit, "stream_process", own_process)
    spark_driver = LocalDriver("spark")
    proc = submit.submit_job(JOB, tmp_path, "r-2", engine="duckdb", driver=spark_driver)
    assert proc.returncode == 0 and ran[0][1:4] == ["-m", "spark_ingest.duckdb_engine", JOB]
    assert spark_driver.pid is None  # never started

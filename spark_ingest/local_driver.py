"""One driver process for every job of a local pipeline run (Spark, or the DuckDB engine).

On EMR Serverless each job is its own job run. On a laptop a ``spark-submit`` per job costs a
JVM start, a Python start and a new SparkSession (about 6 s per job here), and each job then
runs on a cold JIT. At 10M rentals an incremental run (three jobs) took 70.6 and 80.5 s as
three ``spark-submit``s and 42.2 and 50.3 s in one driver (see ``bench/README.md``).

So a local pipeline run (``carrental run``, the bench) holds a :class:`LocalDriver`: the first
Spark task starts one ``spark-submit`` of this file, and every Spark task of the run is sent
to it, one job at a time; the run closes it at its end. ``carrental spark`` (one job) still
starts its own ``spark-submit``. The driver's JVM maps a class-data archive, or writes one at
its exit when there is none (:mod:`spark_ingest.jvm_archive`).

On the DuckDB engine (``--engine duckdb``) the driver is one Python process with sqlframe
activated once (:mod:`spark_ingest.duckdb_engine`), so the jobs share its start-up (about
0.8 s per process) and its DuckDB connection; every table and view a job leaves in the
connection is dropped after it.

The jobs run exactly as under their own ``spark-submit``: the same entry module's ``main``,
the same settings (:func:`spark_ingest.submit.spark_submit_prefix`), the same arguments. What
the driver keeps between jobs is the JVM and the session; after each job it drops every cached
frame (``clearCache``), and a job's state is otherwise in its arguments and the lake.

Protocol: the client listens on a Unix socket in a private temporary folder (mode 0700) and
starts the driver with the socket's path; the driver builds its session, connects, then
reads one JSON request per line (``{"id", "job", "argv"}``) and answers each with one line
(``{"id", "exit_code", "healthy"}``). Before answering it prints an end marker on its stdout
and one on its stderr, and the client waits for both, so each job gets exactly the output
lines its driver wrote while it ran, on either stream (the JVM's own stderr lines, which do
not pass through the Python driver, go to the job that was running when they arrived).

Failures:

* a job that fails returns its exit code (1, or 3 for an input file error, as under
  ``spark-submit``); the driver stays up for the next job;
* a job past its timeout: the driver's whole process tree is killed, the job returns 124
  (as ``timeout(1)``), and the next job starts a new driver;
* a driver that dies (a JVM crash, an out-of-memory kill), or whose SparkContext stopped:
  the job returns the driver's exit code (1 if it had none) with all of its output, and the
  next job starts a new driver;
* Ctrl-C, or the run's process group killed: the driver is in the caller's process group and
  stops with it.

The timeout of a job counts from the moment it has the driver, including the driver's start
when it is the first job; a job waiting for another to finish (the two KPI jobs run in
parallel branches of the state machine) does not use up its timeout while it waits.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn, Protocol

from spark_ingest import jvm_archive
from spark_ingest.logs import log
from spark_ingest.submit import (
    DRIVER_MEMORY,
    TIMEOUT_EXIT_CODE,
    LineCallback,
    entry_script,
    kill_tree,
    spark_submit_prefix,
    submit_env,
)

DRIVER_APP_NAME = "carrental-local-run"
#: printed by the driver on its stdout and on its stderr after each job: ``<marker> <id>``
END_MARKER = "carrental-driver-job-end"
#: how long the client waits for the end marker once the answer came (the lines are in a pipe)
MARKER_WAIT_S = 10.0
#: how long ``close`` lets the driver stop its SparkContext before it is killed
CLOSE_TIMEOUT_S = 60.0
SOCKET_NAME = "driver.sock"


class _Timeout(Exception):
    pass


class _Gone(Exception):
    def __init__(self, returncode: int):
        super().__init__(returncode)
        self.returncode = returncode


@dataclass
class _Sink:
    """Where output lines go: the running job's, or (between jobs) the next job's."""

    lines: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    on_line: LineCallback | None = None


class LocalDriver:
    """A client of one long-lived local driver; use as a context manager or ``close()``.

    ``engine``: the jobs' engine, ``spark`` or ``duckdb`` (:func:`driver_command`).
    ``env``: extra environment of the driver (as :func:`spark_ingest.submit.submit_env`).
    ``command``: the command that starts a driver serving on the socket path it is given
    (default: :func:`driver_command`; tests use a driver without Spark).
    """

    def __init__(
        self,
        engine: str = "spark",
        env: dict | None = None,
        command: Callable[[str], list[str]] | None = None,
    ):
        if engine not in JOBS_BY_ENGINE:
            raise ValueError(f"unknown engine {engine!r}: expected one of {sorted(JOBS_BY_ENGINE)}")
        self.engine = engine
        self._env = submit_env(env)
        self._command = command
        #: the JVM's class-data archive (a Spark driver started by driver_command only)
        self._archive = (
            jvm_archive.archive_path(DRIVER_MEMORY, self._env)
            if engine == "spark" and command is None
            else None
        )
        self._pending: Path | None = None  # the archive the running driver writes at its exit
        self._lock = threading.Lock()  # one job at a time
        self._output = threading.Condition()  # guards _sink and _markers
        self._sink = _Sink()
        self._markers: Counter[int] = Counter()  # request id -> end markers seen
        self._requests = 0
        self._proc: subprocess.Popen | None = None
        self._conn: socket.socket | None = None
        self._replies: IO[str] | None = None
        self._folder: str | None = None
        self._pumps: list[threading.Thread] = []
        self._atexit = False
        self._launched: int | None = None  # the pid of the last driver started

    # ---- public -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The running driver's process id (``spark-submit``, or Python for DuckDB), or None."""
        return self._proc.pid if self._alive() else None

    def describe(self, job: str, argv: Sequence[str]) -> list[str]:
        """How a job's log names what ran it."""
        return [f"<local {self.engine} driver, pid {self._launched}>", job, *argv]

    def run(
        self,
        job: str,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``job``'s entry ``main(argv)`` in the driver (started if none runs); its output
        lines go to ``on_line`` as they come. Never raises on a failed job."""
        entry_script(job)  # an unknown job is refused here, as by spark-submit's path
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._output:
                sink = self._sink
                sink.on_line = on_line
            note = ""
            try:
                code = self._run(job, list(argv), deadline)
            except _Timeout:
                self._kill()
                code = TIMEOUT_EXIT_CODE
                note = f"\n{job} timed out after {timeout} s: the local {self.engine} driver "
                note += "was killed\n"
            except _Gone as gone:
                code = gone.returncode
                note = f"\nthe local {self.engine} driver exited with code {code} while "
                note += f"running {job}\n"
            except BaseException:  # Ctrl-C while waiting: stop the driver with the caller
                self._kill()
                raise
            with self._output:
                self._sink = _Sink()
            described = self.describe(job, argv)
            stdout, stderr = ("".join(sink.lines[name]) for name in ("stdout", "stderr"))
            return subprocess.CompletedProcess(described, code, stdout, stderr + note)

    def close(self) -> None:
        """Stop the driver: it stops its session and exits when the socket closes; it is killed
        after :data:`CLOSE_TIMEOUT_S`. Safe to call twice."""
        with self._lock:
            if self._proc is None:
                return
            for handle in (self._replies, self._conn):
                if handle is not None:
                    with contextlib.suppress(OSError):
                        handle.close()
            try:
                self._proc.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(
                    logging.WARNING,
                    "local_driver_kill",
                    pid=self._proc.pid,
                    after_s=CLOSE_TIMEOUT_S,
                )
                kill_tree(self._proc)
            self._cleanup()

    def __enter__(self) -> LocalDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------------

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._conn is not None

    def _run(self, job: str, argv: list[str], deadline: float | None) -> int:
        if not self._alive():
            if self._proc is not None:  # died between jobs
                self._kill()
            self._start_with_archive(deadline)
        assert self._conn is not None and self._replies is not None and self._proc is not None
        self._requests += 1
        request = {"id": self._requests, "job": job, "argv": argv}
        try:
            self._conn.sendall((json.dumps(request) + "\n").encode("utf-8"))
            self._conn.settimeout(_remaining(deadline))
            line = self._replies.readline()
        except TimeoutError as exc:
            raise _Timeout from exc
        except OSError:
            line = ""
        if not line:  # the driver went away: its exit code, once it has one
            raise _Gone(self._reap())
        reply = json.loads(line)
        with self._output:  # the job's last lines may still be in the pipes: wait for both ends
            self._output.wait_for(
                lambda: self._markers[request["id"]] >= 2 or self._proc.poll() is not None,
                timeout=MARKER_WAIT_S,
            )
        if not reply.get("healthy", False):
            log(logging.WARNING, "local_driver_unhealthy", job=job, pid=self._proc.pid)
            self._reap()
        return int(reply["exit_code"])

    def _start_with_archive(self, deadline: float | None) -> None:
        """Start a driver; one that dies before it serves while it maps the JVM's class-data
        archive is started once more without it, and the archive is deleted."""
        options: list[str] = []
        archive = self._archive
        if archive is not None:
            options, self._pending = jvm_archive.java_options(archive)
        mapped = bool(options) and self._pending is None
        try:
            self._start(deadline, options)
        except _Gone as gone:
            if not mapped:
                raise
            assert archive is not None
            log(logging.WARNING, "jvm_archive_refused", archive=str(archive), exit=gone.returncode)
            jvm_archive.discard(archive)
            self._archive = None
            self._start(deadline, [])

    def _start(self, deadline: float | None, java_options: Sequence[str] = ()) -> None:
        self._folder = tempfile.mkdtemp(prefix="carrental-driver-")  # mode 0700
        path = os.path.join(self._folder, SOCKET_NAME)
        if self._command is not None:
            command = self._command(path)
        else:
            command = driver_command(path, self.engine, java_options, self._env)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            listener.settimeout(0.5)
            self._proc = subprocess.Popen(
                command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
            self._launched = self._proc.pid
            self._pumps = [
                threading.Thread(target=self._pump, args=(name, pipe), daemon=True)
                for name, pipe in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr))
            ]
            for pump in self._pumps:
                pump.start()
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    if self._proc.poll() is not None:
                        raise _Gone(self._reap()) from None
                    if deadline is not None and time.monotonic() > deadline:
                        raise _Timeout from None
        finally:
            listener.close()
        conn.settimeout(None)
        self._conn, self._replies = conn, conn.makefile("r", encoding="utf-8")
        if not self._atexit:  # a caller that forgets close() leaves no JVM behind
            atexit.register(self.close)
            self._atexit = True
        log(logging.INFO, "local_driver_started", pid=self._proc.pid)

    def _pump(self, name: str, pipe: IO[str]) -> None:
        with pipe:
            for line in pipe:
                text = line.rstrip("\r\n")
                with self._output:
                    if text.startswith(END_MARKER + " "):
                        with contextlib.suppress(ValueError):
                            self._markers[int(text.split()[1])] += 1
                        self._output.notify_all()
                        continue
                    sink = self._sink
                    sink.lines[name].append(line)
                    if sink.on_line is None:
                        continue
                    try:
                        sink.on_line(name, text)
                    except Exception:
                        log(logging.WARNING, "on_line_failed", error=traceback.format_exc())
                        sink.on_line = None

    def _reap(self) -> int:
        """Wait for a driver that is going away; its exit code (1 if it had none)."""
        assert self._proc is not None
        try:
            self._proc.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_tree(self._proc)
        code = self._proc.returncode
        self._cleanup()
        return code if code else 1

    def _kill(self) -> None:
        if self._proc is not None:
            kill_tree(self._proc)
            self._cleanup()

    def _cleanup(self) -> None:
        if self._pending is not None:  # kept only after the driver's clean exit
            assert self._archive is not None
            returncode = self._proc.poll() if self._proc is not None else None
            jvm_archive.keep(self._pending, self._archive, returncode)
            self._pending = None
        for handle in (self._replies, self._conn):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        for pump in self._pumps:  # the pipes close with the process tree
            pump.join(timeout=CLOSE_TIMEOUT_S)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._proc, self._conn, self._replies, self._folder, self._pumps = (
            None,
            None,
            None,
            None,
            [],
        )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.001, deadline - time.monotonic())


def driver_command(
    socket_path: str,
    engine: str = "spark",
    java_options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """This module serving on ``socket_path``: this file under ``spark-submit`` (the jobs'
    local settings, and ``java_options`` for its JVM, whose environment is ``env``) for Spark,
    ``python -m`` for DuckDB."""
    if engine == "spark":
        prefix = spark_submit_prefix(java_options, env)
        return [*prefix, str(Path(__file__).resolve()), socket_path, engine]
    return [sys.executable, "-m", __spec__.name if __spec__ else __name__, socket_path, engine]


# ---- the driver side --------------------------------------------------------------------


class Jobs(Protocol):
    def run(self, job: str, argv: list[str]) -> int: ...
    def healthy(self) -> bool: ...
    def stop(self) -> None: ...


def run_entry(job: str, argv: list[str], session: object, after: Callable[[], object]) -> int:
    """``job``'s entry ``main(argv, session=session)``; ``after`` runs however it ends."""
    entry_script(job)
    module = importlib.import_module(f"spark_ingest.jobs.{job}")
    try:
        return int(module.main(argv, session=session))
    finally:
        after()


class SparkJobs:
    """The jobs' entry modules, run in one SparkSession."""

    def __init__(self) -> None:
        from spark_ingest.session import build_session

        self.spark = build_session(DRIVER_APP_NAME)

    def run(self, job: str, argv: list[str]) -> int:
        return run_entry(job, argv, self.spark, self.spark.catalog.clearCache)

    def healthy(self) -> bool:
        try:
            return not self.spark.sparkContext._jsc.sc().isStopped()
        except Exception:
            return False

    def stop(self) -> None:
        self.spark.stop()


class DuckDBJobs:
    """The jobs' entry modules on the DuckDB engine, in one sqlframe session."""

    def __init__(self) -> None:
        from spark_ingest import duckdb_engine

        duckdb_engine.activate()  # before any job module imports pyspark
        self.engine = duckdb_engine
        self.session = duckdb_engine.duckdb_session()

    def run(self, job: str, argv: list[str]) -> int:
        return run_entry(job, argv, self.session, lambda: self.engine.drop_all(self.session))

    def healthy(self) -> bool:
        try:
            return self.engine._connection(self.session).execute("select 1").fetchone() == (1,)
        except Exception:
            return False

    def stop(self) -> None:
        self.session.stop()


#: engine -> the driver side's jobs
JOBS_BY_ENGINE: dict[str, Callable[[], Jobs]] = {"spark": SparkJobs, "duckdb": DuckDBJobs}


def serve(socket_path: str, jobs_factory: Callable[[], Jobs] = SparkJobs) -> int:
    """Connect to ``socket_path`` and run each requested job until the client hangs up."""
    jobs = jobs_factory()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(socket_path)
            replies = conn.makefile("w", encoding="utf-8")
            for line in conn.makefile("r", encoding="utf-8"):
                request = json.loads(line)
                try:
                    code = jobs.run(request["job"], list(request["argv"]))
                except SystemExit as exc:  # argparse refusing an argument: its exit code
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                except Exception:  # a job's own errors end in its manifest; this is the rest
                    traceback.print_exc()
                    code = 1
                healthy = jobs.healthy()
                for stream in (sys.stdout, sys.stderr):  # after the job's last line on each
                    print(f"{END_MARKER} {request['id']}", file=stream, flush=True)
                answer = {"id": request["id"], "exit_code": code, "healthy": healthy}
                replies.write(json.dumps(answer) + "\n")
                replies.flush()
                if not healthy:
                    return 1
    finally:
        jobs.stop()
    return 0


def exit_without_teardown(code: int) -> NoReturn:
    """End the process once its exit handlers have run (the DuckDB engine's spill folder,
    logging's flush) and its output is flushed, without the interpreter's teardown: after a
    1M-rental pipeline run, freeing the DuckDB driver's objects one by one made its close take
    0.27 s (0.37 s with :func:`~spark_ingest.duckdb_engine.tune_gc`), and 0.06-0.12 s without
    it. The session is stopped and every job answered by then; the process runs no threads
    of its own."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    # run as a file (spark-submit), the package's folder is first on sys.path, where its
    # modules (io.py, logs.py, ...) could shadow others imported from now on
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != here]
    engine = sys.argv[2] if len(sys.argv) > 2 else "spark"
    code = serve(sys.argv[1], JOBS_BY_ENGINE[engine])
    if engine == "duckdb":  # a Spark driver's exit is spark-submit's JVM's
        exit_without_teardown(code)
    sys.exit(code)

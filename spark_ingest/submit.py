"""Run an entry script through the ``spark-submit`` of the installed pyspark (local mode).

Used by ``carrental spark`` and by the local orchestration executor. The driver uses the same
Python as the caller (``PYSPARK_PYTHON`` / ``PYSPARK_DRIVER_PYTHON = sys.executable``) and the
repository root is put on ``PYTHONPATH`` so ``from spark_ingest ... import`` resolves exactly
as it does on EMR with the package shipped through ``--py-files``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from spark_ingest.conf import LOCAL_JAVA_OPTIONS, SPARK_CONF
from spark_ingest.layout import (
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    RUNS_PREFIX,
    SPARK_JOBS,
    validate_run_id,
)
from spark_ingest.logs import log

if TYPE_CHECKING:
    from spark_ingest.local_driver import LocalDriver

PACKAGE_DIR = Path(__file__).resolve().parent
JOBS_DIR = PACKAGE_DIR / "jobs"
LOG4J_CONFIG = PACKAGE_DIR / "log4j2.properties"
LOCAL_MASTER = "local[2]"
DRIVER_MEMORY = os.environ.get("CARRENTAL_SPARK_DRIVER_MEMORY", "3g")
LOCAL_SHUFFLE_PARTITIONS = "8"
#: Exit code reported when spark-submit is killed for exceeding ``timeout`` (as timeout(1)).
TIMEOUT_EXIT_CODE = 124

#: ``on_line(stream, line)``: ``stream`` is "stdout" or "stderr", ``line`` has no newline.
LineCallback = Callable[[str, str], None]


def spark_submit_executable() -> str:
    """``spark-submit`` next to ``sys.executable`` (the venv), else pyspark's own ``bin``."""
    beside = Path(sys.executable).parent / "spark-submit"
    if beside.exists():
        return str(beside)
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit")


def java_executable(env: Mapping[str, str] | None = None) -> str | None:
    """The ``java`` Spark's launcher runs, or None when it cannot run.

    As ``pyspark/bin/spark-class``: ``$JAVA_HOME/bin/java`` whenever JAVA_HOME is set and not
    empty (None when that file is missing or not executable: the launcher does not fall back
    to ``PATH``), else the ``java`` on ``PATH``.
    """
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        return java if os.path.isfile(java) and os.access(java, os.X_OK) else None
    return shutil.which("java", path=env.get("PATH"))


#: the variables every JVM reads its options from, besides its command line
JVM_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
_COLLECTOR = re.compile(r"-XX:\+Use\w+GC\b")


def local_java_options(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """:data:`~spark_ingest.conf.LOCAL_JAVA_OPTIONS` without the collector when ``env`` (by
    default this process's) already picks one in :data:`JVM_OPTION_VARIABLES`: a JVM given
    two collectors refuses to start ("Multiple garbage collectors selected")."""
    env = os.environ if env is None else env
    if any(_COLLECTOR.search(env.get(name) or "") for name in JVM_OPTION_VARIABLES):
        return tuple(option for option in LOCAL_JAVA_OPTIONS if not _COLLECTOR.search(option))
    return LOCAL_JAVA_OPTIONS


def entry_script(job: str) -> Path:
    if job not in SPARK_JOBS:
        raise ValueError(f"unknown job {job!r}: expected one of {', '.join(SPARK_JOBS)}")
    return JOBS_DIR / f"{job}.py"


def job_args(
    lake_dir: str | Path, run_id: str, mode: str = "incremental", engine: str = "spark"
) -> list[str]:
    """The entry script's arguments for a local lake folder."""
    lake = Path(lake_dir).resolve()
    return [
        "--raw-root",
        str(lake / RAW_PREFIX),
        "--processed-root",
        str(lake / PROCESSED_PREFIX),
        "--quarantine-root",
        str(lake / QUARANTINE_PREFIX),
        "--runs-root",
        str(lake / RUNS_PREFIX),
        "--run-id",
        validate_run_id(run_id),
        "--mode",
        mode,
        "--engine",
        engine,
    ]


def build_command(
    job: str,
    lake_dir: str | Path,
    run_id: str,
    *,
    mode: str = "incremental",
    engine: str = "spark",
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The command that runs ``job``: ``spark-submit`` in local mode (its JVM's options for the
    environment ``env``, by default this process's), or (``engine`` duckdb) the same job code
    on DuckDB through :mod:`spark_ingest.duckdb_engine`, no JVM."""
    if engine == "duckdb":
        return [
            sys.executable,
            "-m",
            "spark_ingest.duckdb_engine",
            job,
            *job_args(lake_dir, run_id, mode, engine),
            *extra_args,
        ]
    return [
        *spark_submit_prefix(env=env),
        str(entry_script(job)),
        *job_args(lake_dir, run_id, mode, engine),
        *extra_args,
    ]


def spark_submit_prefix(
    java_options: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> list[str]:
    """``spark-submit`` in local mode with :data:`SPARK_CONF` (8 shuffle partitions for the 2
    local cores, no UI) and :func:`local_java_options` for ``env`` (the JVM's environment, by
    default this process's), up to the script to run; ``java_options``: more options for the
    driver's JVM (:mod:`spark_ingest.jvm_archive`)."""
    conf = dict(SPARK_CONF)
    conf["spark.sql.shuffle.partitions"] = LOCAL_SHUFFLE_PARTITIONS  # 2 local cores
    conf["spark.ui.enabled"] = "false"
    conf["spark.ui.showConsoleProgress"] = "false"
    options = [f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}"] if LOG4J_CONFIG.is_file() else []
    options += [*local_java_options(env), *java_options]
    confs: list[str] = []
    for key, value in conf.items():
        confs += ["--conf", f"{key}={value}"]
    return [
        spark_submit_executable(),
        "--master",
        LOCAL_MASTER,
        "--driver-memory",
        DRIVER_MEMORY,
        *(["--driver-java-options", " ".join(options)] if options else []),
        *confs,
    ]


def submit_env(env: dict | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out.update(env or {})
    out["PYSPARK_PYTHON"] = sys.executable
    out["PYSPARK_DRIVER_PYTHON"] = sys.executable
    repo_root = str(PACKAGE_DIR.parent)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, out.get("PYTHONPATH")) if p)
    out.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return out


def process_tree(pid: int) -> list[int]:
    """Every live process below ``pid``, read from ``/proc`` (empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the child and everything below it (spark-submit -> JVM -> Python driver).

    The child stays in the caller's process group on purpose: a scheduler that stops
    ``carrental run`` by killing its group stops the Spark jobs with it.
    """
    for pid in [*process_tree(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def stream_process(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    on_line: LineCallback | None = None,
    merge_stderr: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``cmd`` and hand each output line to ``on_line`` as it is written.

    Like ``subprocess.run(capture_output=True, text=True)``: the result holds the full
    stdout/stderr (``merge_stderr`` folds stderr into stdout) and after ``timeout`` seconds
    the child and all its descendants are killed and ``TimeoutExpired`` is raised with the
    output so far. A failing ``on_line`` is reported once and then no longer called; it
    never stops the pipes from being drained.
    """
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    captured: dict[str, list[str]] = {"stdout": [], "stderr": []}
    callback_lock = threading.Lock()  # lines reach on_line one at a time

    def pump(name: str, pipe: IO[str]) -> None:
        nonlocal on_line
        with pipe:
            for line in pipe:
                captured[name].append(line)
                with callback_lock:
                    if on_line is None:
                        continue
                    try:
                        on_line(name, line.rstrip("\r\n"))
                    except Exception:
                        log(logging.WARNING, "on_line_failed", error=traceback.format_exc())
                        on_line = None

    readers = [
        threading.Thread(target=pump, args=(name, pipe), name=f"{name}-reader", daemon=True)
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr))
        if pipe is not None
    ]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except BaseException as exc:  # the timeout, or Ctrl-C while waiting
        kill_tree(proc)
        for reader in readers:
            reader.join()
        if isinstance(exc, subprocess.TimeoutExpired):
            exc.output, exc.stderr = "".join(captured["stdout"]), "".join(captured["stderr"])
        raise
    for reader in readers:
        reader.join()
    out, err = "".join(captured["stdout"]), "".join(captured["stderr"])
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def submit_job(
    job: str,
    lake_dir: str | Path,
    run_id: str,
    *,
    mode: str = "incremental",
    engine: str = "spark",
    extra_args: Sequence[str] = (),
    env: dict | None = None,
    timeout: float | None = None,
    on_line: LineCallback | None = None,
    driver: LocalDriver | None = None,
) -> subprocess.CompletedProcess:
    """spark-submit ``job`` against ``lake_dir``; stream its output lines to ``on_line``,
    capture them and tee them to ``<lake>/runs/<run_id>/logs/<job>.log``. Never raises on a
    non-zero exit; a timeout kills the job and returns code 124.

    With a ``driver`` of the same engine (:class:`spark_ingest.local_driver.LocalDriver`,
    whose own ``env`` applies) the job runs in that run-long driver instead of a process of
    its own."""
    cmd = build_command(
        job, lake_dir, run_id, mode=mode, engine=engine, extra_args=extra_args, env=submit_env(env)
    )
    log_dir = Path(lake_dir).resolve() / RUNS_PREFIX / validate_run_id(run_id) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if driver is not None and engine == driver.engine:
        argv = [*job_args(lake_dir, run_id, mode, engine), *extra_args]
        proc = driver.run(job, argv, timeout=timeout, on_line=on_line)
        cmd = proc.args
    else:
        try:
            proc = stream_process(cmd, env=submit_env(env), timeout=timeout, on_line=on_line)
        except subprocess.TimeoutExpired as exc:
            err = f"{exc.stderr}\nspark-submit timed out after {timeout} s\n"
            proc = subprocess.CompletedProcess(cmd, TIMEOUT_EXIT_CODE, exc.output, err)
    (log_dir / f"{job}.log").write_text(
        f"$ {' '.join(cmd)}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
        encoding="utf-8",
    )
    return proc

"""Run an entry script through the ``spark-submit`` of the installed pyspark (local mode).

Used by ``carrental spark`` and by the local orchestration executor. The driver uses the same
Python as the caller (``PYSPARK_PYTHON`` / ``PYSPARK_DRIVER_PYTHON = sys.executable``) and the
repository root is put on ``PYTHONPATH`` so ``from spark_ingest ... import`` resolves exactly
as it does on EMR with the package shipped through ``--py-files``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from spark_ingest.conf import SPARK_CONF
from spark_ingest.layout import (
    JOBS,
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    RUNS_PREFIX,
    validate_run_id,
)

PACKAGE_DIR = Path(__file__).resolve().parent
JOBS_DIR = PACKAGE_DIR / "jobs"
LOG4J_CONFIG = PACKAGE_DIR / "log4j2.properties"
LOCAL_MASTER = "local[2]"
DRIVER_MEMORY = os.environ.get("CARRENTAL_SPARK_DRIVER_MEMORY", "3g")
LOCAL_SHUFFLE_PARTITIONS = "8"


def spark_submit_executable() -> str:
    """``spark-submit`` next to ``sys.executable`` (the venv), else pyspark's own ``bin``."""
    beside = Path(sys.executable).parent / "spark-submit"
    if beside.exists():
        return str(beside)
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit")


def entry_script(job: str) -> Path:
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}: expected one of {', '.join(JOBS)}")
    return JOBS_DIR / f"{job}.py"


def job_args(
    lake_dir: str | Path, run_id: str, mode: str = "full", engine: str = "spark"
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
    mode: str = "full",
    engine: str = "spark",
    extra_args: Sequence[str] = (),
) -> list[str]:
    conf = dict(SPARK_CONF)
    conf["spark.sql.shuffle.partitions"] = LOCAL_SHUFFLE_PARTITIONS  # 2 local cores
    conf["spark.ui.enabled"] = "false"
    conf["spark.ui.showConsoleProgress"] = "false"
    log_options = (
        ["--driver-java-options", f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}"]
        if LOG4J_CONFIG.is_file()
        else []
    )
    confs: list[str] = []
    for key, value in conf.items():
        confs += ["--conf", f"{key}={value}"]
    return [
        spark_submit_executable(),
        "--master",
        LOCAL_MASTER,
        "--driver-memory",
        DRIVER_MEMORY,
        *log_options,
        *confs,
        str(entry_script(job)),
        *job_args(lake_dir, run_id, mode, engine),
        *extra_args,
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


def submit_job(
    job: str,
    lake_dir: str | Path,
    run_id: str,
    *,
    mode: str = "full",
    engine: str = "spark",
    extra_args: Sequence[str] = (),
    env: dict | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """spark-submit ``job`` against ``lake_dir``; capture output and tee it to
    ``<lake>/runs/<run_id>/logs/<job>.log``. Never raises on a non-zero exit."""
    cmd = build_command(job, lake_dir, run_id, mode=mode, engine=engine, extra_args=extra_args)
    log_dir = Path(lake_dir).resolve() / RUNS_PREFIX / validate_run_id(run_id) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=submit_env(env), timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        err += f"\nspark-submit timed out after {timeout} s\n"
        proc = subprocess.CompletedProcess(cmd, 124, out, err)
    (log_dir / f"{job}.log").write_text(
        f"$ {' '.join(cmd)}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
        encoding="utf-8",
    )
    return proc

"""Helpers shared by the reliability tests: run a job, read its outputs with DuckDB, snapshot
the published tables, and find the processes a test started."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from spark_ingest.layout import JOB_TABLES, PARTITION_COLUMNS

JOB = "vehicle_location_performance"
OTHER_JOB = "user_transaction_analysis"


def submit_module():
    """``spark_ingest.submit`` (imported lazily so collecting the tests starts no JVM)."""
    from spark_ingest import submit

    return submit


def run_job(job: str, lake: Path, run_id: str, **kwargs) -> subprocess.CompletedProcess:
    return submit_module().submit_job(job, lake, run_id, **kwargs)


def tail(proc: subprocess.CompletedProcess, n: int = 4000) -> str:
    return f"exit {proc.returncode}\n--- stderr (tail) ---\n{(proc.stderr or '')[-n:]}"


def manifest(lake: Path, run_id: str, job: str) -> dict | None:
    path = lake / "runs" / run_id / "manifests" / f"{job}.json"
    return json.loads(path.read_text()) if path.exists() else None


def table_dir(lake: Path, job: str, table: str) -> Path:
    return lake / "data" / "processed" / job / table


def _parquet_files(folder: Path) -> list[Path]:
    """``**/*.parquet`` under ``folder``, ignoring names that start with ``_`` or ``.``."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        out += [Path(root, f) for f in files if f.endswith(".parquet") and f[0] not in "_."]
    return sorted(out)


def read_rows(folder: Path, partitioned: bool = False) -> list[dict]:
    """Every row of the Parquet files under ``folder`` (DuckDB, independent of Spark)."""
    files = [str(p) for p in _parquet_files(folder)]
    if not files:
        return []
    rel = duckdb.connect().execute(
        "select * from read_parquet(?, hive_partitioning = ?, union_by_name = true)",
        [files, partitioned],
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def read_table(lake: Path, job: str, table: str) -> list[dict]:
    return read_rows(table_dir(lake, job, table), partitioned=table in PARTITION_COLUMNS)


def read_quarantine(lake: Path, dataset: str, job: str, run_id: str) -> list[dict]:
    folder = lake / "data" / "quarantine" / dataset / f"job={job}" / f"run_id={run_id}"
    return read_rows(folder) if folder.exists() else []


def sorted_rows(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted((k, repr(v)) for k, v in row.items())) for row in rows)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published_state(lake: Path, job: str) -> dict[str, dict]:
    """table -> where it points, the checksum of every file, and its rows (sorted)."""
    state = {}
    for table in JOB_TABLES[job]:
        folder = table_dir(lake, job, table)
        files = _parquet_files(folder)
        state[table] = {
            "target": os.path.realpath(folder),
            "files": {str(p.relative_to(folder)): sha256(p) for p in files},
            "rows": sorted_rows(read_rows(folder, table in PARTITION_COLUMNS)),
        }
    return state


def tree_snapshot(root: Path) -> dict[str, str]:
    """Relative path -> checksum (or 'dir' / 'link:<target>') of everything under ``root``."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = sha256(path)
    return out


SUBMIT_SNIPPET = (
    "import sys\n"
    "from spark_ingest.submit import submit_job\n"
    "proc = submit_job(sys.argv[1], sys.argv[2], sys.argv[3])\n"
    "sys.stderr.write(proc.stderr[-4000:])\n"
    "sys.exit(proc.returncode)\n"
)


def start_job_process(job: str, lake: Path, run_id: str) -> subprocess.Popen:
    """submit_job in a child Python (its own process group) so a test can SIGKILL it."""
    repo_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", SUBMIT_SNIPPET, job, str(lake), run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )

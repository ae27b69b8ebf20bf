"""The `make bench` harness: every side on the same input, in one invocation.

Sides (each runs both KPI jobs ``repeats`` times, interleaved so that machine noise spreads
over all sides; the project sides run ``validate_inputs`` first and the KPI jobs with
``--inputs validated``, as a pipeline run does; the references start one process per job, a
project side runs its three jobs in one driver process per repeat):

* ``baseline``: the seed-style PySpark scripts in ``bench/baseline/`` (``spark-submit``, local[2]);
* ``project``: the project's jobs through ``spark_ingest.submit.submit_job`` (spark engine),
  the three of a repeat in one local Spark driver as in ``carrental run``
  (:mod:`spark_ingest.local_driver`: started by the first job, stopped by the last, both timed);
* ``project_duckdb``: the same jobs with ``--engine duckdb`` (only when the jobs accept it),
  also in one driver process per repeat;
* ``duckdb_sql``: the hand-written DuckDB SQL reference (``bench/duckdb_reference.py``);
* ``incremental``: an untimed ``--mode full`` run, then a timed ``--mode incremental`` run
  after 1% more rentals arrive as a new file; only when the jobs accept ``--mode incremental``.
  On a generated input (:func:`make_increment`) ``carrental.generate.append_day`` adds a new
  day of 1% MORE rentals: the full run reads the N rentals every side reads and the timed run
  ends at 1.01 N, against the project side's full run over N (a conservative comparison).
  Without a generator manifest the last 1% of the rentals are split off instead: the full run
  reads 99% and the timed run ends at the same N. A timed run whose manifest (or log) shows
  that it ran as a full run is a failed repeat, as is a repeat whose set-up run failed.

Per side and job it reports the medians of wall time, CPU time and peak RSS over the
successful repeats (see :mod:`bench.measure`) and the ratio of each to the baseline, plus a
side-by-side check of the overall revenue and transaction count each side computed: a
disagreement is a ``MISMATCH`` line in the report and a non-zero exit of ``python -m bench``.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import gzip
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path

from bench.measure import Measurement, measure
from spark_ingest import jvm_archive
from spark_ingest.layout import (
    DATASETS,
    JOBS,
    RAW_PREFIX,
    RUNS_PREFIX,
    VALIDATE_JOB,
    processed_uri,
)
from spark_ingest.local_driver import LocalDriver
from spark_ingest.submit import DRIVER_MEMORY, kill_tree

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
BASELINE_DIR = BENCH_DIR / "baseline"
JOBS_DIR = REPO_ROOT / "spark_ingest" / "jobs"
MASTER = "local[2]"
RENTALS = "rental_transactions"
OVERALL_TABLE = "overall_transaction_statistics"
INCREMENT_FRACTION = 0.01
DELTA_FILE = "rentals_zz_bench_delta.csv"
GENERATOR_MANIFEST = "generator_manifest.json"
PARKED_DIR = "_bench_delta"
#: Log events of a job asked for ``--mode incremental`` that ran as a full run instead
#: (``spark_ingest.pipeline``: no usable ledger, a stored state it could not read and retried
#: in full, or an engine without incremental state). Only read when the job left no manifest:
#: its manifest's ``mode`` is the mode that ran (see :func:`not_incremental`).
FULL_RUN_EVENTS: tuple[str, ...] = ("mode_first_run", "state_unreadable", "mode_engine_full")
#: what :func:`make_increment` returns as its ``how`` when it appended a generated day
APPEND_HOW = "carrental.generate.append_day"
#: the repeats per side the performance issue asks for
MIN_REPEATS = 3
#: money: sides differ when their revenues differ by more than this fraction (the baseline sums
#: a float: $0.34 off at 10M rentals and $635M) or than half a cent
REVENUE_REL_TOLERANCE = 1e-8
LOG_TAIL_CHARS = 2000

BASELINE = "baseline"
PROJECT = "project"
PROJECT_DUCKDB = "project_duckdb"
DUCKDB_SQL = "duckdb_sql"
INCREMENTAL = "incremental"
SIDES: tuple[str, ...] = (BASELINE, PROJECT, PROJECT_DUCKDB, DUCKDB_SQL, INCREMENTAL)
SIDE_LABELS: dict[str, str] = {
    BASELINE: "baseline (seed-style)",
    PROJECT: "project (spark engine)",
    PROJECT_DUCKDB: "project (duckdb engine)",
    DUCKDB_SQL: "duckdb SQL reference",
    INCREMENTAL: "project incremental +1%",
}
TOTAL = "all jobs"
PROJECT_SIDES: tuple[str, ...] = (PROJECT, PROJECT_DUCKDB, INCREMENTAL)
#: a project side's processes, in order: validate once, then each KPI job reads the result
PIPELINE_JOBS: tuple[str, ...] = (VALIDATE_JOB, *JOBS)
VALIDATED_ARGS = ("--inputs", "validated")
#: the rentals of the untimed run that writes the JVM class-data archive (prime_jvm_archive)
WARM_UP_RENTALS = 20_000


def side_jobs(side: str) -> tuple[str, ...]:
    """The processes a side runs per repeat (the references: one per KPI job)."""
    return PIPELINE_JOBS if side in PROJECT_SIDES else JOBS


METRICS = ("wall_s", "cpu_s", "peak_rss_mb")


@dataclass
class BenchConfig:
    transactions: int = 1_000_000
    repeats: int = 3
    seed: int = 42
    dirty_fraction: float = 0.0
    results_dir: Path = RESULTS_DIR
    raw_dir: Path | None = None
    sides: tuple[str, ...] = SIDES
    timeout_s: float = 4 * 3600
    keep_work: bool = True

    def to_dict(self) -> dict:
        out = asdict(self)
        out["results_dir"] = str(self.results_dir)
        out["raw_dir"] = str(self.raw_dir) if self.raw_dir else None
        out["sides"] = list(self.sides)
        return out


@dataclass
class SideResult:
    side: str
    status: str = "pending"  # measured | skipped | failed
    note: str = ""
    runs: dict[str, list[dict]] = field(default_factory=dict)  # job -> per-repeat measurements


# ---------------------------------------------------------------------------- input data


def _log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def carrental_command() -> list[str]:
    script = Path(sys.executable).parent / "carrental"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "carrental.cli"]


def data_cache_dir(config: BenchConfig) -> Path:
    name = f"data-{config.transactions}-{config.seed}"
    if config.dirty_fraction:
        name += f"-dirty{config.dirty_fraction:g}"
    return config.results_dir / name


def check_raw_root(raw_root: Path) -> Path:
    for dataset in DATASETS:
        folder = raw_root / dataset
        if not any(folder.glob("*.csv")) and not any(folder.glob("*.csv.gz")):
            raise FileNotFoundError(f"{dataset}: no *.csv or *.csv.gz file in {folder}")
    return raw_root


def ensure_data(config: BenchConfig) -> Path:
    """The raw root (``<lake>/data/raw``) to benchmark on; generate and cache it when needed."""
    if config.raw_dir is not None:
        return check_raw_root(Path(config.raw_dir).resolve())
    cache = data_cache_dir(config)
    raw_root = cache / RAW_PREFIX
    marker = cache / ".complete"
    if marker.exists():
        _log(f"reusing cached input {cache}")
        return check_raw_root(raw_root)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    try:
        from carrental.generate import generate
    except ImportError:
        generate = None
    if generate is not None:
        _log(f"generating {config.transactions} rentals into {cache} (carrental.generate)")
        generate(cache, config.transactions, seed=config.seed, dirty_fraction=config.dirty_fraction)
        how: list[str] = ["carrental.generate.generate"]
    else:
        how = [
            *carrental_command(),
            "generate",
            "--lake-dir",
            str(cache),
            "--transactions",
            str(config.transactions),
            "--seed",
            str(config.seed),
        ]
        if config.dirty_fraction:
            how += ["--dirty-fraction", str(config.dirty_fraction)]
        _log(f"generating {config.transactions} rentals: {' '.join(how)}")
        done = subprocess.run(how, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"generator failed (exit {done.returncode}): {done.stderr[-LOG_TAIL_CHARS:]}"
            )
    check_raw_root(raw_root)
    marker.write_text(json.dumps({"generated_by": how}) + "\n")
    return raw_root


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def prepare_lake(raw_root: Path, lake: Path) -> Path:
    """A fresh lake whose ``data/raw`` holds hard links to (or copies of) the input files."""
    shutil.rmtree(lake, ignore_errors=True)
    lake.mkdir(parents=True)
    generator_manifest = raw_root.parent.parent / GENERATOR_MANIFEST
    if generator_manifest.is_file():
        shutil.copy2(generator_manifest, lake / GENERATOR_MANIFEST)
    for dataset in DATASETS:
        target = lake / RAW_PREFIX / dataset
        target.mkdir(parents=True)
        for src in sorted((raw_root / dataset).iterdir()):
            if src.is_file() and not src.name.startswith(("_", ".")):
                _link_or_copy(src, target / src.name)
    return lake


#: bytes read per call when warming the inputs
WARM_CHUNK = 8 << 20


def warm_inputs(raw: Path) -> int:
    """Read every raw input file once, untimed, so that each timed job finds its inputs in the
    page cache; returns the bytes read.

    Without it a job's time depends on what ran before it: on this project's VM the guest
    kernel (DAMON) pages out file pages left idle for a minute, and a cold 10M-rental CSV took
    DuckDB's reader 30.9 s to load against 4.9-6.0 s warm (``bench/README.md``). Every side
    gets the same warm-up."""
    total = 0
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            while chunk := handle.read(WARM_CHUNK):
                total += len(chunk)
    return total


def clear_outputs(lake: Path) -> None:
    """Remove everything a job wrote (processed, quarantine, runs, ledgers); keep the input."""
    for child in lake.iterdir():
        if child.name in (PARKED_DIR, GENERATOR_MANIFEST):
            continue
        if child.name == "data":
            for sub in child.iterdir():
                if sub.name != "raw":
                    _remove(sub)
        else:
            _remove(child)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def make_increment(
    lake: Path, fraction: float = INCREMENT_FRACTION, dirty_fraction: float = 0.0
) -> tuple[Path, int, str]:
    """Create the +``fraction`` rentals file for the incremental side and park it outside raw.

    With a generator manifest in the lake, ``carrental.generate.append_day`` writes a new day of
    rentals (the realistic case: a new daily file), ``fraction`` more than the lake holds, with
    ``dirty_fraction`` defects as the bench's input. Otherwise the last rows of the rentals are
    split off into a delta file. Returns (parked path, rows, how); ``how`` starts with
    :data:`APPEND_HOW` in the first case.
    """
    rentals = count_rentals(lake / RAW_PREFIX)
    rows = max(1, round(rentals * fraction))
    if (lake / GENERATOR_MANIFEST).is_file():
        with contextlib.suppress(ImportError):
            from carrental.generate import append_day, read_manifest

            manifest = read_manifest(lake)
            first = date.fromisoformat(manifest["arguments"]["start_date"])
            days = [first + timedelta(days=int(manifest["arguments"]["days"]) - 1)]
            days += [date.fromisoformat(a["day"]) for a in manifest.get("appends", [])]
            day = max(days) + timedelta(days=1)
            append_day(lake, day, rows, dirty_fraction=dirty_fraction)
            created = lake / RAW_PREFIX / RENTALS / f"rentals_{day:%Y-%m-%d}.csv"
            parked = lake / PARKED_DIR / created.name
            parked.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(created, parked)
            return parked, rows, f"{APPEND_HOW}({day})"
    parked, rows = split_increment(lake, fraction)
    return parked, rows, "last rows of the rentals split into a new file"


def increment_note(appended: bool, delta_rows: int, rentals: int) -> str:
    """The report's line on what the incremental side's timed run covers: ``rentals`` is what
    every other side reads, ``delta_rows`` the increment (:func:`make_increment`)."""
    if appended:
        end = rentals + delta_rows
        return (
            f"incremental: the timed --mode incremental run adds {delta_rows:,} new rentals to "
            f"the {rentals:,} of its untimed --mode full set-up run, so it ends at {end:,} "
            f"rentals and is compared with the project side's full run over {rentals:,}: a "
            f"conservative comparison (a full run over {end:,} would take longer)."
        )
    return (
        f"incremental: the last {delta_rows:,} rentals are held back from the untimed --mode "
        f"full set-up run ({rentals - delta_rows:,} rentals) and added by the timed --mode "
        f"incremental run, which ends at the {rentals:,} rentals every other side reads."
    )


def increment_totals(path: Path) -> tuple[int, str]:
    """(rows, the sum of ``total_amount``) of a clean rentals CSV: what an appended increment
    adds to the overall statistics when every row of it is valid."""
    opener = gzip.open if path.name.endswith(".gz") else open
    rows, revenue = 0, Decimal(0)
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            rows += 1
            revenue += Decimal(record["total_amount"])
    return rows, str(revenue)


def input_is_dirty(raw_root: Path, dirty_fraction: float) -> bool:
    """Whether the input holds injected defects: generated with a dirty fraction, or a raw
    folder whose generator manifest counts injected defects."""
    if dirty_fraction:
        return True
    manifest = raw_root.parent.parent / GENERATOR_MANIFEST
    with contextlib.suppress(OSError, ValueError, AttributeError):
        injected = json.loads(manifest.read_text(encoding="utf-8")).get("injected", {})
        return any(count for kinds in injected.values() for count in kinds.values())
    return False


def split_increment(lake: Path, fraction: float = INCREMENT_FRACTION) -> tuple[Path, int]:
    """Move the last ``fraction`` of the rentals into a separate delta CSV, parked outside raw.

    Streams the last rentals file: its first rows stay (as plain CSV), the rest go to the delta.
    Returns the parked delta path and its row count.
    """
    folder = lake / RAW_PREFIX / RENTALS
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    last = files[-1]
    last_rows = _count_rows(last)
    take = min(last_rows, max(1, round(count_rentals(lake / RAW_PREFIX) * fraction)))
    base = folder / ("_bench_base_" + last.name.removesuffix(".gz"))
    parked = lake / PARKED_DIR / DELTA_FILE
    parked.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if last.name.endswith(".gz") else open
    with (
        opener(last, "rt", encoding="utf-8", newline="") as source,
        open(base, "w", encoding="utf-8", newline="") as keep,
        open(parked, "w", encoding="utf-8", newline="") as delta,
    ):
        header = source.readline()
        keep.write(header)
        delta.write(header)
        for index, line in enumerate(source):
            (keep if index < last_rows - take else delta).write(line)
    last.unlink()
    base.rename(folder / last.name.removesuffix(".gz"))
    return parked, take


def _count_rows(path: Path) -> int:
    """Data lines of one CSV (newlines minus the header; assumes no newlines inside fields)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    newlines, last = 0, b"\n"
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (0 if last == b"\n" else 1)
    return max(0, lines - 1)


def count_rentals(raw_root: Path) -> int:
    folder = raw_root / RENTALS
    return sum(
        _count_rows(path)
        for path in sorted(folder.iterdir())
        if path.name.endswith((".csv", ".csv.gz")) and not path.name.startswith(("_", "."))
    )


# ---------------------------------------------------------------------------- runners


def spark_submit_binary() -> str:
    """The spark-submit the project's launcher uses (the one inside the virtualenv's pyspark)."""
    with contextlib.suppress(Exception):
        from spark_ingest import submit

        for name in ("spark_submit_executable", "spark_submit_path", "spark_submit_binary"):
            found = getattr(submit, name, None)
            if callable(found):
                return str(found())
        for name in ("SPARK_SUBMIT",):
            found = getattr(submit, name, None)
            if isinstance(found, str | Path):
                return str(found)
    local = Path(sys.executable).parent / "spark-submit"
    if local.exists():
        return str(local)
    return shutil.which("spark-submit") or "spark-submit"


def driver_memory() -> str:
    """The project's local ``--driver-memory``; the baseline gets the same, to compare code."""
    with contextlib.suppress(Exception):
        from spark_ingest.submit import DRIVER_MEMORY

        return str(DRIVER_MEMORY)
    return os.environ.get("CARRENTAL_SPARK_DRIVER_MEMORY", "3g")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def baseline_command(job: str, raw_root: Path, output_root: Path) -> list[str]:
    return [
        spark_submit_binary(),
        "--master",
        MASTER,
        "--driver-memory",
        driver_memory(),
        "--name",
        f"bench-baseline-{job}",
        "--conf",
        "spark.ui.enabled=false",
        str(BASELINE_DIR / f"{job}.py"),
        str(raw_root),
        str(output_root),
    ]


def duckdb_command(job: str, raw_root: Path, output_root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.duckdb_reference",
        "--job",
        job,
        "--raw-root",
        str(raw_root),
        "--output-root",
        str(output_root),
    ]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``, every process below it (``spark-submit`` -> JVM -> Python workers)
    and whatever is left of its process group (descendants whose parent already exited)."""
    kill_tree(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_logged(cmd: list[str], log_path: Path, timeout: float) -> int:
    """Run ``cmd`` with its output in ``log_path``; its exit code, or 124 after ``timeout``
    seconds. The child leads a session of its own, so that a timeout (or an interruption of
    the bench) kills its whole tree, not only the child itself."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            log.write(f"\n[bench] timed out after {timeout} s\n")
            return 124
        except BaseException:
            kill_group(proc)
            raise


def run_project(
    job: str,
    lake: Path,
    run_id: str,
    log_path: Path,
    timeout: float,
    *,
    engine: str,
    mode: str,
    driver: LocalDriver | None = None,
) -> int:
    """One job of a project side; a KPI job reads what ``validate_inputs`` handed over. With a
    ``driver`` of the job's engine the job runs in it, as in a local pipeline run."""
    from spark_ingest.submit import submit_job

    done = submit_job(
        job,
        str(lake),
        run_id,
        mode=mode,
        engine=engine,
        extra_args=() if job == VALIDATE_JOB else VALIDATED_ARGS,
        env=child_env(),
        timeout=timeout,
        driver=driver,
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"{done.stdout or ''}\n{done.stderr or ''}", encoding="utf-8")
    return done.returncode


def not_incremental(lake: Path, run_id: str, job: str, log_text: str) -> str | None:
    """Why ``job``, run with ``--mode incremental``, did not run incrementally; None when it
    did. Its manifest (``<lake>/runs/<run_id>/manifests/<job>.json``) holds the mode that ran:
    ``full`` after a first run without a usable ledger (``mode_first_run``) or a retry in full
    after a stored state it could not read (with a ``fallback``). Without a manifest, the
    job's log lines (:data:`FULL_RUN_EVENTS`)."""
    path = lake / RUNS_PREFIX / run_id / "manifests" / f"{job}.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if isinstance(manifest, dict) and manifest.get("mode"):
        if manifest["mode"] == "incremental":
            return None
        fallback = (manifest.get("fallback") or {}).get("reason")
        why = "its manifest's mode" + (f"; fallback: {fallback}" if fallback else "")
        return f"{job} ran as --mode {manifest['mode']} ({why})"
    event = next((e for e in FULL_RUN_EVENTS if f'"event": "{e}"' in log_text), None)
    return f"{job} ran as --mode full (its log says {event!r})" if event else None


def not_appended(lake: Path, run_id: str, job: str) -> str | None:
    """Why ``job``, run incrementally, did more than append the new rentals; None when its
    manifest's ``ingest.check.path`` is ``append``. An incremental run may still re-check
    every stored rental (``recheck``: a new rental's key is already stored) or rebuild the
    KPI partials from every segment (``rebuild``): a correct run, but not the daily case the
    incremental target is about, so the report says so beside the time."""
    path = lake / RUNS_PREFIX / run_id / "manifests" / f"{job}.json"
    try:
        check = json.loads(path.read_text(encoding="utf-8"))["ingest"]["check"]
        taken, reason = check["path"], check.get("reason")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return (
            f"{job}: no ingest.check.path in {path} ({type(exc).__name__}: {exc}), so whether "
            "it only appended is unknown"
        )
    if taken == "append":
        return None
    why = f" ({reason})" if reason else ""
    return f"{job} took the {taken!r} path{why}: timed as it ran (more work than an append)"


def not_timed(returncode: int, failure: str, log_path: Path) -> dict:
    """The record of a job a repeat did not time (its set-up failed): it counts as failed."""
    return {
        "wall_s": 0.0,
        "cpu_s": 0.0,
        "peak_rss_mb": 0.0,
        "rss_method": "",
        "returncode": returncode,
        "samples": 0,
        "peak_processes": [],
        "log": str(log_path),
        "failure": failure,
    }


def prime_jvm_archive(work: Path, timeout: float) -> str:
    """Make sure the local Spark driver's class-data archive (:mod:`spark_ingest.jvm_archive`)
    exists before anything is timed, so every repeat of a Spark side maps it and none writes
    it: without one, an untimed full then incremental run of the three jobs over a small
    generated lake writes it. Returns a line for the report's notes."""
    archive = jvm_archive.archive_path(DRIVER_MEMORY, child_env())
    if archive is None:
        return "JVM class-data archive: off (CARRENTAL_JVM_ARCHIVE, or no java); not used."
    if jvm_archive.usable(archive):
        return f"JVM class-data archive: {archive} (already there), mapped by every Spark side."
    from carrental.generate import generate

    lake = work / "jvm-archive-warm-up"
    started = time.perf_counter()
    generate(lake, WARM_UP_RENTALS, seed=1)
    with LocalDriver(env=child_env()) as driver:
        for mode in ("full", "incremental"):
            for job in PIPELINE_JOBS:
                log_path = work / "jvm-archive-warm-up-logs" / f"{mode}-{job}.log"
                rc = run_project(
                    job,
                    lake,
                    f"warm-up-{mode}",
                    log_path,
                    timeout,
                    engine="spark",
                    mode=mode,
                    driver=driver,
                )
                if rc != 0:
                    _log(f"  JVM archive warm-up: {job} ({mode}) failed: exit {rc}; see {log_path}")
    shutil.rmtree(lake, ignore_errors=True)
    seconds = time.perf_counter() - started
    kept = "written" if jvm_archive.usable(archive) else "NOT written (see the warm-up logs)"
    return (
        f"JVM class-data archive: {archive} {kept} by an untimed warm-up run "
        f"({WARM_UP_RENTALS:,} rentals, {seconds:.0f} s) before the first repeat; every Spark "
        "side's driver maps it."
    )


def job_features(job: str) -> dict:
    """What the project's job accepts, read from its ``--help`` (no Spark is started)."""
    script = JOBS_DIR / f"{job}.py"
    if not script.exists():
        return {"exists": False, "engine_duckdb": False, "incremental": False, "help": ""}
    try:
        done = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=REPO_ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        text = done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        text = ""
    return {
        "exists": True,
        "engine_duckdb": "--engine" in text and "duckdb" in text,
        "incremental": "--mode" in text and "incremental" in text,
        "help": text[-LOG_TAIL_CHARS:],
    }


def submit_available() -> str | None:
    """None when ``spark_ingest.submit.submit_job`` can be imported, else the reason."""
    try:
        from spark_ingest.submit import submit_job  # noqa: F401
    except Exception as exc:
        return f"spark_ingest.submit.submit_job is not importable ({type(exc).__name__}: {exc})"
    return None


def _run_id(side: str, repeat: int) -> str:
    return f"bench-{side.replace('_', '-')}-r{repeat}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------- statistics


def run_ok(run: dict) -> bool:
    """A run (or a repeat of :func:`total_runs`) that counts: exit code 0 and no ``failure``
    (why a run that exited 0 does not count, e.g. an incremental run that ran in full)."""
    return run["returncode"] == 0 and not run.get("failure")


def medians(runs: list[dict]) -> dict[str, float] | None:
    """The medians over the runs that count (:func:`run_ok`); None when none does."""
    ok = [run for run in runs if run_ok(run)]
    if not ok:
        return None
    return {metric: round(statistics.median(run[metric] for run in ok), 3) for metric in METRICS}


def total_runs(per_job: dict[str, list[dict]]) -> list[dict]:
    """Per repeat: wall and CPU summed over the jobs, peak RSS the max (jobs run one after
    another); the repeat's exit code is its first job's that is not 0 (a job killed by a signal
    has a negative one), and its ``failure`` the first job's."""
    jobs = [job for job in PIPELINE_JOBS if job in per_job]
    if not jobs:
        return []
    count = min(len(per_job[job]) for job in jobs)
    out = []
    for index in range(count):
        runs = [per_job[job][index] for job in jobs]
        failures = [run["failure"] for run in runs if run.get("failure")]
        out.append(
            {
                "wall_s": round(sum(run["wall_s"] for run in runs), 3),
                "cpu_s": round(sum(run["cpu_s"] for run in runs), 3),
                "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
                "returncode": next((r["returncode"] for r in runs if r["returncode"]), 0),
                "failure": failures[0] if failures else None,
            }
        )
    return out


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return round(value / reference, 3)


def build_rows(results: dict[str, SideResult]) -> list[dict]:
    """One row per side and process plus an ``all jobs`` row per side, with ratios to the
    baseline (a project side's validate_inputs row has none: the baseline has no such job)."""
    baseline = results.get(BASELINE)
    rows: list[dict] = []
    for side in SIDES:
        result = results.get(side)
        if result is None:
            continue
        per_job = {job: result.runs.get(job, []) for job in side_jobs(side)}
        for job in (*side_jobs(side), TOTAL):
            runs = total_runs(per_job) if job == TOTAL else per_job[job]
            med = medians(runs) if runs else None
            ref = None
            if baseline is not None:
                base_per_job = {j: baseline.runs.get(j, []) for j in JOBS}
                base_runs = total_runs(base_per_job) if job == TOTAL else base_per_job.get(job)
                ref = medians(base_runs) if base_runs else None
            row = {
                "side": side,
                "label": SIDE_LABELS[side],
                "job": job,
                "status": result.status,
                "note": result.note,
                "runs_ok": sum(1 for run in runs if run_ok(run)),
                "runs": len(runs),
            }
            for metric in METRICS:
                row[metric] = med[metric] if med else None
                row[f"{metric}_ratio"] = _ratio(row[metric], ref[metric] if ref else None)
            row["speedup"] = _ratio(ref["wall_s"], row["wall_s"]) if ref and med else None
            rows.append(row)
    return rows


#: (what, side A, side B, target): the ratio is A's median wall / B's (all jobs)
TARGETS = (
    ("speed-up of the project full run over the baseline", BASELINE, PROJECT, ">= 3x"),
    ("speed-up of the duckdb engine over the baseline", BASELINE, PROJECT_DUCKDB, ">= 3x"),
    ("speed-up of incremental +1% over the project full run", PROJECT, INCREMENTAL, ">= 5x"),
    ("duckdb engine wall / duckdb SQL reference wall", PROJECT_DUCKDB, DUCKDB_SQL, "<= 1.5x"),
)


def meets(ratio: float, target: str) -> bool:
    """``ratio`` satisfies a :data:`TARGETS` target such as ``">= 3x"`` or ``"<= 1.5x"``."""
    op, limit = target.split()
    bound = float(limit.removesuffix("x"))
    if op == ">=":
        return ratio >= bound
    if op == "<=":
        return ratio <= bound
    raise ValueError(f"unknown target {target!r}")


def _verdict(ratio: float, target: str) -> str:
    return "met" if meets(ratio, target) else "not met"


def format_ratio(ratio: float, target: str) -> str:
    """``ratio`` with 2 decimals, or as many more as it takes for the printed number to meet
    ``target`` exactly when the ratio does (1.5004 against ``<= 1.5`` prints ``1.5004x``,
    never ``1.50x``)."""
    for digits in range(2, 18):
        text = f"{ratio:.{digits}f}"
        if meets(float(text), target) == meets(ratio, target):
            return f"{text}x"
    return f"{ratio!r}x"


def repeats_note(repeats: int) -> str | None:
    """The report's note when fewer repeats than the performance issue asks for were run."""
    if repeats >= MIN_REPEATS:
        return None
    return (
        f"--repeats {repeats}: the performance issue asks for at least {MIN_REPEATS} repeats "
        "per side; each median here is of fewer."
    )


def target_notes(
    totals: dict[str, dict], per_repeat: dict[str, list[dict]] | None = None
) -> list[str]:
    """One line per target of the performance issue whose two sides were both run: the ratio
    of the medians, and with ``per_repeat`` (side -> :func:`total_runs`) the ratio within each
    repeat (the sides of one repeat run interleaved, so they share the machine's phase) and how
    many of them meet the target. A repeat in which either side failed is left out. A side that
    was run (``runs`` in its total) without a successful repeat makes the line "not measured";
    a target whose sides were not both run has no line."""
    notes = []
    per_repeat = per_repeat or {}
    for what, side, other, target in TARGETS:
        a, b = totals.get(side, {}).get("wall_s"), totals.get(other, {}).get("wall_s")
        if not (a and b):
            ran = [totals.get(name, {}).get("runs") for name in (side, other)]
            unmeasured = [name for name in (side, other) if not totals.get(name, {}).get("wall_s")]
            if all(ran):
                sides = " and ".join(unmeasured)
                notes.append(
                    f"{what} (all jobs, wall): not measured (side{'s' * (len(unmeasured) > 1)} "
                    f"{sides} had no successful repeat; target: {target})"
                )
            continue
        note = (
            f"{what} (all jobs, wall): {format_ratio(a / b, target)} "
            f"(target: {target}; {_verdict(a / b, target)})"
        )
        # an interrupted run may hold one repeat more of one side than of the other
        pairs = zip(per_repeat.get(side, []), per_repeat.get(other, []), strict=False)
        ratios = [
            x["wall_s"] / y["wall_s"] for x, y in pairs if run_ok(x) and run_ok(y) and y["wall_s"]
        ]
        if ratios:
            met = sum(meets(ratio, target) for ratio in ratios)
            listed = ", ".join(format_ratio(ratio, target) for ratio in ratios)
            note += f"; per repeat {listed}: met in {met} of {len(ratios)}"
        notes.append(note)
    return notes


def result_target_notes(results: dict[str, SideResult], rows: list[dict]) -> list[str]:
    """:func:`target_notes` of a bench run's results and their :func:`build_rows`."""
    per_repeat = {
        side: total_runs({job: result.runs.get(job, []) for job in side_jobs(side)})
        for side, result in results.items()
    }
    return target_notes({row["side"]: row for row in rows if row["job"] == TOTAL}, per_repeat)


# ---------------------------------------------------------------------------- correctness


def parquet_files(table_dir: Path) -> list[str]:
    root = os.path.realpath(table_dir)
    files = []
    for path in glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True):
        parts = Path(os.path.relpath(path, root)).parts
        if not any(part.startswith(("_", ".")) for part in parts):
            files.append(path)
    return sorted(files)


def read_overall(table_dir: Path) -> dict | None:
    import duckdb

    files = parquet_files(table_dir)
    if not files:
        return None
    row = duckdb.sql(
        "select cast(overall_total_revenue as varchar), cast(overall_total_transactions as bigint)"
        " from read_parquet($files)",
        params={"files": files},
    ).fetchone()
    return {"overall_total_revenue": row[0], "overall_total_transactions": int(row[1])}


def collect_overall(lakes: dict[str, Path], notes: list[str]) -> dict[str, dict | None]:
    """Each side's overall_transaction_statistics (as left by its last run)."""
    overall: dict[str, dict | None] = {}
    for side, lake in lakes.items():
        if side in (BASELINE, DUCKDB_SQL):
            table_dir = lake / "output" / OVERALL_TABLE
        else:
            table_dir = Path(processed_uri(str(lake), JOBS[1], OVERALL_TABLE))
        try:
            overall[side] = read_overall(table_dir)
        except Exception as exc:
            overall[side] = None
            notes.append(f"could not read {side}'s {OVERALL_TABLE}: {exc}")
    return overall


#: the sides a correctness check takes as its reference, first found first
REFERENCE_ORDER: tuple[str, ...] = (PROJECT, DUCKDB_SQL, BASELINE, PROJECT_DUCKDB)


def _money(value: object) -> Decimal:
    return Decimal(str(value))


def compare_overall(
    overall: dict[str, dict | None], *, dirty: bool = False, increment: dict | None = None
) -> dict:
    """Each side's overall revenue / transactions, the difference to the reference side (the
    first of :data:`REFERENCE_ORDER` that is held to agree), and the ``mismatches``: a line per
    side that does not agree with it (transactions exactly, revenue within
    :data:`REVENUE_REL_TOLERANCE`, for the baseline's float sum).

    ``dirty``: the input holds defects, which the references do not quarantine as the
    project's jobs do; only the project sides are then held to agree. ``increment`` (from
    :func:`make_increment`: ``appended``, ``rows``, ``revenue`` or None) describes the
    incremental side's extra rentals: appended, its totals must be the reference's plus the
    increment's (left out of the check when the increment's revenue is not known); split off,
    the reference's. ``not_compared`` says why a side was left out."""
    present = [side for side in SIDES if overall.get(side)]
    not_compared: dict[str, str] = {}
    if dirty:
        why = {
            BASELINE: "dirty input: the baseline has no validation or quarantine",
            DUCKDB_SQL: "dirty input: the SQL reference's checks are simpler than the jobs'",
        }
        not_compared.update({side: why[side] for side in why if side in present})
    if INCREMENTAL in present:
        if increment is None:
            not_compared[INCREMENTAL] = "the increment it read is not known"
        elif increment.get("appended") and increment.get("revenue") is None:
            not_compared[INCREMENTAL] = (
                f"it read {increment['rows']:,} appended rentals with defects, whose valid rows "
                "and revenue the harness does not compute"
            )
    held = [side for side in present if side not in not_compared]
    reference_side = next((side for side in REFERENCE_ORDER if side in held), None)
    if reference_side is None:
        reference_side = next((side for side in REFERENCE_ORDER if side in present), None)
    out: dict = {
        "reference": reference_side,
        "sides": {},
        "mismatches": [],
        "not_compared": not_compared,
    }
    if reference_side is None:
        return out
    ref = overall[reference_side]
    ref_revenue = _money(ref["overall_total_revenue"])
    ref_count = ref["overall_total_transactions"]
    for side, values in overall.items():
        if not values:
            out["sides"][side] = None
            continue
        revenue = _money(values["overall_total_revenue"])
        count = values["overall_total_transactions"]
        out["sides"][side] = {
            **values,
            "revenue_diff": round(float(revenue - ref_revenue), 6),
            "revenue_rel_diff": float((revenue - ref_revenue) / ref_revenue)
            if ref_revenue
            else None,
            "transactions_diff": count - ref_count,
        }
        if side == reference_side or side not in held:
            continue
        expected_count, expected_revenue = ref_count, ref_revenue
        basis = f"as {SIDE_LABELS[reference_side]}"
        if side == INCREMENTAL and increment and increment.get("appended"):
            expected_count += increment["rows"]
            expected_revenue += _money(increment["revenue"])
            basis = (
                f"{SIDE_LABELS[reference_side]} plus the increment: {increment['rows']:,} "
                f"rentals, {increment['revenue']}"
            )
        tolerance = max(Decimal("0.005"), abs(expected_revenue) * _money(REVENUE_REL_TOLERANCE))
        out["sides"][side]["expected_transactions"] = expected_count
        out["sides"][side]["expected_revenue"] = f"{expected_revenue:.2f}"
        if count != expected_count or abs(revenue - expected_revenue) > tolerance:
            out["mismatches"].append(
                f"MISMATCH: {SIDE_LABELS[side]}: {count:,} rentals and revenue "
                f"{values['overall_total_revenue']} against {expected_count:,} and "
                f"{expected_revenue:.2f} expected ({basis})"
            )
    return out


# ---------------------------------------------------------------------------- machine


def _first_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stderr or done.stdout).strip()
    return text.splitlines()[0] if text else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> dict:
    memory_gb = None
    cpu_model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    java = (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java")
        if "JAVA_HOME" in os.environ
        else "java"
    )
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "java": _first_line([java, "-version"]),
        "spark": _version("pyspark"),
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "sqlframe": _version("sqlframe"),
        "spark_submit": spark_submit_binary(),
        "driver_memory": driver_memory(),
        "master": MASTER,
        "loadavg_at_start": list(os.getloadavg()),
    }


# ---------------------------------------------------------------------------- the run


def run_bench(config: BenchConfig) -> dict:
    """Run every requested side ``config.repeats`` times and return the report dict."""
    if config.repeats < 1:
        raise ValueError("repeats must be >= 1")
    unknown = set(config.sides) - set(SIDES)
    if unknown:
        raise ValueError(f"unknown sides {sorted(unknown)}: expected some of {list(SIDES)}")
    started = datetime.now(UTC)
    stamp = f"{started:%Y%m%dT%H%M%SZ}"
    machine = machine_description()
    config.results_dir.mkdir(parents=True, exist_ok=True)
    raw_root = ensure_data(config)
    work = config.results_dir / f"work-{stamp}"
    notes: list[str] = []
    results = {side: SideResult(side) for side in SIDES}
    for side in SIDES:
        if side not in config.sides:
            results[side].status, results[side].note = "skipped", "not requested (--sides)"

    # Which project sides can run at all?
    wanted = {PROJECT, PROJECT_DUCKDB, INCREMENTAL} & set(config.sides)
    features = {job: job_features(job) if wanted else {} for job in PIPELINE_JOBS}
    missing_submit = submit_available() if wanted else None
    for side in PROJECT_SIDES:
        if results[side].status != "pending":
            continue
        if missing_submit:
            results[side].status, results[side].note = "skipped", missing_submit
        elif not all(f["exists"] for f in features.values()):
            results[side].status = "skipped"
            results[side].note = "the project's job scripts are not in spark_ingest/jobs/ yet"
    if results[PROJECT_DUCKDB].status == "pending" and not all(
        f["engine_duckdb"] for f in features.values()
    ):
        results[PROJECT_DUCKDB].status = "skipped"
        results[PROJECT_DUCKDB].note = "the jobs do not accept --engine duckdb yet"
    if results[INCREMENTAL].status == "pending" and not all(
        f["incremental"] for f in features.values()
    ):
        results[INCREMENTAL].status = "skipped"
        results[INCREMENTAL].note = "the jobs do not accept --mode incremental yet"

    active = [side for side, result in results.items() if result.status == "pending"]
    lakes = {side: prepare_lake(raw_root, work / side / "lake") for side in active}
    rentals = count_rentals(raw_root)
    dirty = input_is_dirty(raw_root, config.dirty_fraction)
    few = repeats_note(config.repeats)
    if few:
        notes.append(few)
    parked: dict[str, Path] = {}
    increment: dict | None = None
    if INCREMENTAL in active:
        parked_path, delta_rows, how = make_increment(
            lakes[INCREMENTAL], dirty_fraction=config.dirty_fraction
        )
        parked[INCREMENTAL] = parked_path
        appended = how.startswith(APPEND_HOW)
        # a clean appended day: every row is valid, so its sum is what the run adds
        revenue = (
            increment_totals(parked_path)[1] if appended and not config.dirty_fraction else None
        )
        increment = {"appended": appended, "rows": delta_rows, "revenue": revenue, "how": how}
        notes.append(
            f"incremental: per repeat an untimed --mode full run of all jobs, then a timed "
            f"--mode incremental run after adding {delta_rows} rentals "
            f"({INCREMENT_FRACTION:.0%}; {how})."
        )
        notes.append(increment_note(appended, delta_rows, rentals))

    if {PROJECT, INCREMENTAL} & set(active):
        _log("JVM class-data archive: checking (an untimed warm-up run writes it if missing)")
        notes.append(prime_jvm_archive(work, config.timeout_s))

    partial = config.results_dir / f"bench-{stamp}.partial.json"

    def save_partial(completed_repeats: int) -> None:
        """Keep what was measured so far, in case a long run is interrupted (after every
        job: ``--from-partial`` renders it)."""
        data = {
            "stamp": stamp,
            "created_at": started.isoformat(),
            "config": config.to_dict(),
            "machine": machine,
            "input": {"raw_root": str(raw_root), "work_dir": str(work), "increment": increment},
            "completed_repeats": completed_repeats,
            "results": {side: asdict(result) for side, result in results.items()},
            "notes": notes,
            "dirty": dirty,
        }
        scratch = partial.with_name(partial.name + ".tmp")
        scratch.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(scratch, partial)

    for repeat in range(1, config.repeats + 1):
        for side in list(active):
            _log(f"repeat {repeat}/{config.repeats}: {SIDE_LABELS[side]}")
            lake = lakes[side]
            clear_outputs(lake)
            raw = lake / RAW_PREFIX
            output = lake / "output"
            run_id = _run_id(side, repeat)
            if side == INCREMENTAL:
                delta_in_raw = raw / RENTALS / parked[side].name
                if delta_in_raw.exists():
                    shutil.move(delta_in_raw, parked[side])
                set_up_failed = None
                with LocalDriver(env=child_env()) as setup:
                    for job in PIPELINE_JOBS:
                        set_up_log = work / side / "logs" / f"r{repeat}-{job}-full.log"
                        rc = run_project(
                            job,
                            lake,
                            f"{run_id}-full",
                            set_up_log,
                            config.timeout_s,
                            engine="spark",
                            mode="full",
                            driver=setup,
                        )
                        if rc != 0:
                            _log(f"  incremental set-up (full run of {job}) failed: exit {rc}")
                            set_up_failed = (job, rc, set_up_log)
                            break
                shutil.move(parked[side], delta_in_raw)
                if set_up_failed:
                    job, rc, set_up_log = set_up_failed
                    failure = (
                        f"the untimed --mode full set-up run failed ({job}: exit {rc}); not timed"
                    )
                    notes.append(f"incremental repeat {repeat}: {failure}; see {set_up_log}")
                    for job in side_jobs(side):
                        results[side].runs.setdefault(job, []).append(
                            not_timed(rc, failure, set_up_log)
                        )
                    save_partial(repeat - 1)
                    continue
            # a project side's jobs share one driver per repeat (started in the first job's
            # measurement, stopped in the last's), as in a local pipeline run
            driver = (
                LocalDriver("duckdb" if side == PROJECT_DUCKDB else "spark", env=child_env())
                if side in PROJECT_SIDES
                else None
            )
            for job in side_jobs(side):
                log_path = work / side / "logs" / f"r{repeat}-{job}.log"

                def runner(
                    side=side,
                    job=job,
                    lake=lake,
                    raw=raw,
                    output=output,
                    log=log_path,
                    run_id=run_id,
                    driver=driver,
                ):
                    if side == BASELINE:
                        return run_logged(baseline_command(job, raw, output), log, config.timeout_s)
                    if side == DUCKDB_SQL:
                        return run_logged(duckdb_command(job, raw, output), log, config.timeout_s)
                    code = run_project(
                        job,
                        lake,
                        run_id,
                        log,
                        config.timeout_s,
                        engine="duckdb" if side == PROJECT_DUCKDB else "spark",
                        mode="incremental" if side == INCREMENTAL else "full",
                        driver=driver,
                    )
                    if driver is not None and job == side_jobs(side)[-1]:
                        driver.close()
                    return code

                warm_inputs(raw)
                measurement: Measurement = measure(runner)
                record = measurement.to_dict()
                record["log"] = str(log_path)
                record["failure"] = None
                log_text = log_path.read_text(encoding="utf-8", errors="replace")
                if side == INCREMENTAL and measurement.returncode == 0:
                    # timing a full run as the incremental one would flatter nothing: fail it
                    record["failure"] = not_incremental(lake, run_id, job, log_text)
                    if record["failure"]:
                        notes.append(
                            f"incremental repeat {repeat}: {record['failure']}: not an "
                            f"incremental run, so the repeat counts as failed; see {log_path}"
                        )
                        _log(f"  {job}: NOT incremental: {record['failure']}")
                    elif path_note := not_appended(lake, run_id, job):
                        record["path"] = path_note
                        notes.append(f"incremental repeat {repeat}: {path_note}; see {log_path}")
                        _log(f"  {job}: incremental, not an append: {path_note}")
                results[side].runs.setdefault(job, []).append(record)
                _log(
                    f"  {job}: exit {measurement.returncode}, wall {measurement.wall_s:.1f} s, "
                    f"cpu {measurement.cpu_s:.1f} s, peak RSS {measurement.peak_rss_mb:.0f} MB "
                    f"({', '.join(measurement.peak_processes) or 'n/a'})"
                )
                if measurement.returncode != 0:
                    _log(f"  {job} failed; log {log_path}:\n{log_text[-LOG_TAIL_CHARS:]}")
                save_partial(repeat - 1)
            if driver is not None:  # stopped by the last job, unless the side stopped early
                driver.close()
        save_partial(repeat)

    for side in active:
        all_runs = [run for runs in results[side].runs.values() for run in runs]
        failed = [run for run in all_runs if not run_ok(run)]
        results[side].status = "failed" if failed else "measured"
        if failed:
            codes = sorted({run["returncode"] for run in failed if run["returncode"]})
            reasons = dict.fromkeys(run["failure"] for run in failed if run.get("failure"))
            results[side].note = (
                f"{len(failed)}/{len(all_runs)} runs failed"
                + (f" (exit {codes})" if codes else "")
                + "".join(f"; {reason}" for reason in reasons)
                + f"; logs under {work / side / 'logs'}"
            )

    overall = collect_overall({side: lakes[side] for side in active}, notes)

    machine["loadavg_at_end"] = list(os.getloadavg())
    rss_methods = sorted(
        {run["rss_method"] for r in results.values() for runs in r.runs.values() for run in runs}
        - {""}
    )
    rows = build_rows(results)
    notes += result_target_notes(results, rows)
    report = {
        "created_at": started.isoformat(),
        "stamp": stamp,
        "config": config.to_dict(),
        "input": {
            "raw_root": str(raw_root),
            "work_dir": str(work),
            "rentals": rentals,
            "increment": increment,
        },
        "machine": machine,
        "rss_method": rss_methods,
        "job_features": {
            job: {k: v for k, v in f.items() if k != "help"} for job, f in features.items()
        },
        "sides": {
            side: {
                "label": SIDE_LABELS[side],
                "status": result.status,
                "note": result.note,
                "runs": result.runs,
            }
            for side, result in results.items()
        },
        "rows": rows,
        "correctness": compare_overall(overall, dirty=dirty, increment=increment),
        "notes": notes,
    }
    partial.unlink(missing_ok=True)
    if not config.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return report


# ---------------------------------------------------------------------------- output


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def render_markdown(report: dict) -> str:
    config, machine = report["config"], report["machine"]
    lines = [
        f"# make bench — {report['stamp']}",
        "",
        f"{report['input']['rentals']:,} rentals in {report['input']['raw_root']} "
        f"(seed {config['seed']}, dirty fraction {config['dirty_fraction']:g}), "
        f"{config['repeats']} repeats per side; medians of the successful repeats (ok runs). "
        "Ratios are side / baseline (lower is better); speed-up is baseline wall / side wall.",
        "",
        "| side | job | wall s | CPU s | peak RSS MB | wall x baseline | speed-up "
        "| CPU x baseline | RSS x baseline | ok runs | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        status = row["status"]
        lines.append(
            f"| {row['label']} | {row['job']} | {_fmt(row['wall_s'])} | {_fmt(row['cpu_s'])} "
            f"| {_fmt(row['peak_rss_mb'], 0)} | {_fmt(row['wall_s_ratio'], 2)} "
            f"| {_fmt(row['speedup'], 2, 'x')} | {_fmt(row['cpu_s_ratio'], 2)} "
            f"| {_fmt(row['peak_rss_mb_ratio'], 2)} | {row['runs_ok']}/{row['runs']} | {status} |"
        )
    fewer = [
        f"- {row['label']}, {row['job']}: "
        + (
            f"median of {row['runs_ok']} of {row['runs']} repeats "
            f"({row['runs'] - row['runs_ok']} failed)"
            if row["runs_ok"]
            else f"no successful repeat of {row['runs']}"
        )
        for row in report["rows"]
        if row["runs_ok"] < row["runs"]
    ]
    if fewer:
        lines += ["", *fewer]
    side_notes = [
        f"- {data['label']}: {data['status']}: {data['note']}"
        for data in report["sides"].values()
        if data["note"]
    ]
    if side_notes:
        lines += ["", *side_notes]
    correctness = report["correctness"]
    lines += [
        "",
        f"## Correctness: overall revenue and transactions (last repeat; differences vs "
        f"{correctness.get('reference') or 'n/a'})",
        "",
        "| side | overall_total_revenue | overall_total_transactions | Δ revenue | Δ revenue rel "
        "| Δ transactions |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for side, values in correctness.get("sides", {}).items():
        if not values:
            lines.append(f"| {SIDE_LABELS[side]} | - | - | - | - | - |")
            continue
        rel = values["revenue_rel_diff"]
        lines.append(
            f"| {SIDE_LABELS[side]} | {values['overall_total_revenue']} "
            f"| {values['overall_total_transactions']} | {values['revenue_diff']:.2f} "
            f"| {'-' if rel is None else f'{rel:.2e}'} | {values['transactions_diff']} |"
        )
    checked = [
        *(f"- **{mismatch}**" for mismatch in correctness.get("mismatches", [])),
        *(
            f"- not held to agree: {SIDE_LABELS[side]}: {why}"
            for side, why in correctness.get("not_compared", {}).items()
        ),
    ]
    if "mismatches" in correctness and not correctness["mismatches"] and correctness["sides"]:
        checked.insert(0, "- no mismatch: every side held to agree matches the reference")
    if checked:
        lines += ["", *checked]
    lines += [
        "",
        "## Machine",
        "",
        f"- cores: {machine['cores']} ({machine['cpu_model']}), memory: {machine['memory_gb']} GB",
        f"- load average at start / end: {machine['loadavg_at_start']} / "
        f"{machine.get('loadavg_at_end')}",
        f"- Java: {machine['java']}",
        f"- Spark (pyspark): {machine['spark']}, master {machine['master']}, "
        f"driver memory {machine.get('driver_memory')} (both Spark sides), "
        f"spark-submit {machine['spark_submit']}",
        f"- Python {machine['python']}, duckdb {machine['duckdb']}, sqlframe {machine['sqlframe']}",
        f"- OS: {machine['os']}",
        "",
        "## Method",
        "",
        "- wall: perf_counter around each job; CPU: user+sys of the child processes during the "
        "job (reaped: getrusage RUSAGE_CHILDREN deltas; live, such as a shared driver: "
        "/proc/<pid>/stat deltas).",
        f"- peak RSS: {', '.join(report['rss_method']) or 'n/a'} (shared pages count once per "
        "process, so it is an upper bound).",
        "- the references run each job as its own process (spark-submit or python); a project "
        "side runs its three jobs in one driver per repeat, as a local pipeline run does "
        "(started in the first job's time, stopped in the last's); sides are interleaved within "
        "each repeat; outputs are removed (untimed) before each repeat; before each job every "
        "raw input file is read once (untimed), so each job finds its input in the page cache.",
        "- the baseline has no validation or quarantine: compare correctness on clean data only.",
        "- the project's vehicle_location_performance also writes rentals_fact (as does the "
        "DuckDB reference); the baseline does not.",
    ]
    lines += [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict, results_dir: Path) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    md_path = results_dir / f"bench-{report['stamp']}.md"
    json_path = results_dir / f"bench-{report['stamp']}.json"
    md_path.write_text(render_markdown(report), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return md_path, json_path


def report_from_partial(path: Path) -> dict:
    """A report from the ``.partial.json`` of an interrupted run (written after every job,
    with the run's notes so far; correctness from what the work folder still holds)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    results = {side: SideResult(**value) for side, value in data["results"].items()}
    for result in results.values():
        if result.status == "pending":
            failed = any(not run_ok(r) for runs in result.runs.values() for r in runs)
            result.status = "failed" if failed else "measured" if result.runs else "not reached"
    rss = {r["rss_method"] for x in results.values() for runs in x.runs.values() for r in runs}
    rss.discard("")
    raw_root = Path(data["input"]["raw_root"])
    work = Path(data["input"]["work_dir"])
    measured = [side for side, result in results.items() if result.runs]
    rows = build_rows(results)
    notes = [
        f"interrupted run: {data['completed_repeats']} of {data['config']['repeats']} repeats "
        "completed; correctness from the outputs left in the work folder (if any).",
        *data.get("notes", []),
        *result_target_notes(results, rows),
    ]
    return {
        **{key: data[key] for key in ("created_at", "stamp", "config", "machine")},
        "input": {**data["input"], "rentals": count_rentals(raw_root)},
        "rss_method": sorted(rss),
        "sides": {
            side: {"label": SIDE_LABELS[side], **asdict(result)} for side, result in results.items()
        },
        "rows": rows,
        "correctness": compare_overall(
            collect_overall({side: work / side / "lake" for side in measured}, notes),
            dirty=data.get("dirty", False),
            increment=data["input"].get("increment"),
        ),
        "notes": notes,
    }


def parse_sides(text: str) -> tuple[str, ...]:
    sides = tuple(part.strip() for part in re.split(r"[,\s]+", text) if part.strip())
    return sides or SIDES


__all__ = [
    "SIDES",
    "BenchConfig",
    "build_rows",
    "compare_overall",
    "ensure_data",
    "machine_description",
    "render_markdown",
    "run_bench",
    "write_report",
]

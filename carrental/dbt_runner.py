"""Run dbt (the virtualenv's) against one lake's warehouse.

``run_dbt(lake_dir, ["build", "-s", "business_kpis+"])`` runs dbt in a subprocess
with the project at the repository root, the profile from ``DBT_PROFILES_DIR``
(or, when unset, a copy of ``profiles.example.yml`` made under ``<lake>/.dbt/``),
``CARRENTAL_WAREHOUSE=<lake>/warehouse.duckdb``, and target/log folders inside
the lake (``<lake>/.dbt/target`` and ``<lake>/.dbt/logs``) so two lakes never
share dbt state. With ``run_id`` the ``run_results.json`` is copied to
``<lake>/runs/<run_id>/dbt/``. Captured runs stream dbt's JSON log lines to an optional
``on_line`` callback (see :class:`carrental.progress.DbtProgress`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carrental.errors import EnvironmentProblem, UsageError, check_run_id
from spark_ingest.layout import runs_uri
from spark_ingest.submit import LineCallback, stream_process

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES_EXAMPLE = REPO_ROOT / "profiles.example.yml"
FAILED_STATUSES = frozenset({"fail", "error", "runtime error"})
#: dbt events its text format prints without the time stamp.
PRINT_EVENTS = frozenset({"PrintEvent", "ShowNode", "CompiledNode"})
#: ``s3://…``, ``gs://…``, and the ``s3:/…`` a Path makes of it (it collapses ``//``).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


@dataclass
class DbtResult:
    returncode: int
    stdout: str
    failed_nodes: list[str] = field(default_factory=list)
    run_results: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's virtualenv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise EnvironmentProblem("dbt is not installed", hint="run `make setup`")
    return found


def local_lake(lake_dir: str | Path) -> Path:
    """``lake_dir`` as a local folder; a URI (``s3://bucket/lake``) is a usage error.

    dbt's state (profile copy, target/, logs/, run_results.json) lives under the lake on
    every target, so even ``--target athena`` needs a local folder; on Athena the data's
    location comes from the profile (``DBT_ATHENA_S3_DATA_DIR``), not from the lake folder.
    """
    if _URI.match(str(lake_dir)):
        raise UsageError(
            f"--lake-dir must be a local folder, not the URI {lake_dir}",
            hint="dbt keeps its target/ and logs/ under <lake>/.dbt; pass a local folder "
            "(e.g. --lake-dir lake); for --target athena the S3 data location comes from "
            "DBT_ATHENA_S3_DATA_DIR",
        )
    return Path(lake_dir).resolve()


def target_dir(lake_dir: str | Path) -> Path:
    """Where dbt writes manifest.json, run_results.json and the docs for this lake."""
    return local_lake(lake_dir) / ".dbt" / "target"


def _profiles_dir(lake: Path, env: dict[str, str]) -> str:
    configured = env.get("DBT_PROFILES_DIR")
    if configured and (Path(configured) / "profiles.yml").exists():
        return configured
    own = lake / ".dbt"
    own.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROFILES_EXAMPLE, own / "profiles.yml")
    return str(own)


def failed_nodes_from(run_results: dict[str, Any] | None) -> list[str]:
    """Unique ids of the models and tests that failed or errored."""
    if not run_results:
        return []
    return [
        item["unique_id"]
        for item in run_results.get("results", [])
        if str(item.get("status", "")).lower() in FAILED_STATUSES
    ]


def human_text(json_lines: str) -> str:
    """dbt's text-format output rebuilt from its ``--log-format json`` lines.

    Each event becomes ``HH:MM:SS  <message>`` (UTC, as dbt prints it); lines that are not
    dbt JSON (a user's own ``--log-format text``, a crash before logging starts) are kept.
    """
    lines = []
    for line in json_lines.splitlines():
        try:
            info = json.loads(line)["info"]
            msg, name, ts = info["msg"], info["name"], info["ts"]
        except (ValueError, KeyError, TypeError):
            lines.append(line)
            continue
        lines.append(msg if name in PRINT_EVENTS else f"{ts[11:19]}  {msg}")
    return "\n".join(lines) + ("\n" if lines else "")


def dbt_command(
    lake_dir: str | Path,
    args: list[str],
    *,
    target: str = "local",
    env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The dbt command line and environment for ``lake_dir`` (run it with cwd=REPO_ROOT)."""
    lake = local_lake(lake_dir)
    full_env = dict(os.environ if env is None else env)
    full_env["CARRENTAL_WAREHOUSE"] = str(lake / "warehouse.duckdb")
    full_env["DBT_PROFILES_DIR"] = _profiles_dir(lake, full_env)
    full_env.setdefault("DBT_TARGET_PATH", str(target_dir(lake)))
    full_env.setdefault("DBT_LOG_PATH", str(lake / ".dbt" / "logs"))
    full_env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    full_env.setdefault("DBT_VERSION_CHECK", "false")
    command = [dbt_executable(), *args]
    needs_target = args[0] not in {"deps", "clean", "init", "--version", "-h", "--help"}
    if needs_target and "--target" not in args and "-t" not in args:
        command += ["--target", target]
    return command, full_env


def run_dbt(
    lake_dir: str | Path,
    args: list[str],
    *,
    target: str = "local",
    run_id: str | None = None,
    capture: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    on_line: LineCallback | None = None,
) -> DbtResult:
    """Run ``dbt <args> --target <target>`` against ``lake_dir``'s warehouse.

    A captured run logs in dbt's JSON format: each line goes to ``on_line`` as dbt writes it
    and ``DbtResult.stdout`` is the text dbt would have printed (:func:`human_text`); the
    file log under ``<lake>/.dbt/logs`` keeps dbt's default format. ``capture=False`` leaves
    dbt's own output on this process's stdout (then ``DbtResult.stdout`` is empty).
    ``failed_nodes`` lists the unique ids whose status is fail/error in this invocation's
    run_results.json.
    """
    if run_id is not None:  # first: an unsafe run id is a usage error (exit 2), never a crash
        # without --run-id dbt runs all the same; only run_results.json is not filed by run
        check_run_id(run_id, hint="e.g. --run-id 20240501T060000Z-demo, or omit --run-id")
    if not args:
        raise UsageError("no dbt command given", hint="for example: carrental dbt -- build")
    if on_line is not None and not capture:
        raise ValueError("on_line needs capture=True")
    local_lake(lake_dir)
    if target == "local" and not Path(lake_dir).is_dir():
        raise UsageError(
            f"lake folder {lake_dir} does not exist",
            hint="run `carrental run` (or generate, spark and crawl) first",
        )
    command, full_env = dbt_command(lake_dir, args, target=target, env=env)
    if capture:
        full_env["DBT_LOG_FORMAT"] = "json"
        full_env.setdefault("DBT_LOG_FORMAT_FILE", "debug")  # else the file log follows suit
    lake = Path(lake_dir).resolve()
    results_path = Path(full_env["DBT_TARGET_PATH"]) / "run_results.json"
    before = results_path.stat().st_mtime_ns if results_path.exists() else None
    try:
        if capture:
            proc = stream_process(
                command,
                cwd=REPO_ROOT,
                env=full_env,
                timeout=timeout,
                on_line=on_line,
                merge_stderr=True,
            )
        else:
            proc = subprocess.run(command, cwd=REPO_ROOT, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentProblem(
            f"dbt {' '.join(args)} did not finish within {timeout} s",
            hint="look at the dbt log under <lake>/.dbt/logs",
        ) from exc
    run_results = None
    if results_path.exists() and results_path.stat().st_mtime_ns != before:
        run_results = json.loads(results_path.read_text(encoding="utf-8"))
        if run_id is not None:
            dest = Path(runs_uri(str(lake), run_id)) / "dbt"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results_path, dest / "run_results.json")
    return DbtResult(
        returncode=proc.returncode,
        stdout=human_text(proc.stdout) if capture else "",
        failed_nodes=failed_nodes_from(run_results),
        run_results=run_results,
    )

"""`carrental status`: the last runs and the raw files that arrived since the last success."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from carrental import console
from carrental.errors import InputError, UsageError
from carrental.report.history import analyse
from carrental.report.inputs import (
    find_asl,
    list_runs,
    load_history,
    load_manifests,
    parse_time,
    read_json,
)
from spark_ingest.layout import DATASETS, RAW_PREFIX

STATUS_HELP = """Show the last runs and which raw files are new since the last successful run.

For each run: its status, start time, duration, rows read / quarantined / written \
(from the job manifests), the failing state and error if it failed, and the report path.

Raw files are compared with the files recorded in the last successful run's manifests \
(inputs.<dataset>.files): a file is new when it was not recorded, changed when its size \
or checksum differs (or, when only names were recorded, when it was modified after that \
run started).

Examples:

  carrental status --lake-dir lake

  carrental status --lake-dir lake --limit 3

  carrental --json status --lake-dir lake | jq '.raw_files.new'
"""


# --------------------------------------------------------------------------- runs


def _rows_from_manifests(manifests: dict[str, dict[str, Any]]) -> dict[str, int | None]:
    """Rows read and quarantined per dataset (max over jobs: both jobs read rentals)."""
    if not manifests:
        return {"rows_read": None, "rows_quarantined": None, "rows_written": None}
    read: dict[str, int] = {}
    rejected: dict[str, int] = {}
    written = 0
    for manifest in manifests.values():
        for dataset, info in (manifest.get("inputs") or {}).items():
            if isinstance(info, dict):
                read[dataset] = max(read.get(dataset, 0), int(info.get("rows_read") or 0))
                rejected[dataset] = max(rejected.get(dataset, 0), int(info.get("rejected") or 0))
        for info in (manifest.get("outputs") or {}).values():
            if isinstance(info, dict):
                written += int(info.get("rows") or 0)
    return {
        "rows_read": sum(read.values()),
        "rows_quarantined": sum(rejected.values()),
        "rows_written": written,
    }


def run_summary(lake: Path, run_id: str, asl: dict[str, Any] | None = None) -> dict[str, Any]:
    run_dir = lake / "runs" / run_id
    execution = read_json(run_dir / "execution.json")
    execution = execution if isinstance(execution, dict) else None
    history = load_history(run_dir)
    manifests = load_manifests(run_dir)
    summary = analyse(history, execution, asl)
    status = summary.status
    if not status:
        statuses = {str(m.get("status")) for m in manifests.values()}
        status = "FAILED" if "FAILED" in statuses else "UNKNOWN"
    started = summary.started
    if started is None and manifests:
        starts = [parse_time(m.get("started_at")) for m in manifests.values()]
        started = min((s for s in starts if s), default=None)
    duration = (summary.stopped - started).total_seconds() if started and summary.stopped else None
    error = summary.error
    failing = summary.states.get(summary.failing_state or "")
    if failing and failing.errors:
        err, cause = failing.errors[-1]
        error = f"{err}: {cause}" if cause else err
    if not error:
        for manifest in manifests.values():
            err = manifest.get("error")
            if isinstance(err, dict) and err.get("message"):
                error = f"{manifest.get('job')}: {err.get('message')}"
                break
    report = run_dir / "report.html"
    return {
        "run_id": run_id,
        "status": status,
        "started": started.isoformat() if started else None,
        "duration_seconds": round(duration, 1) if duration is not None else None,
        **_rows_from_manifests(manifests),
        "failing_state": summary.failing_state,
        "error": error,
        "report": str(report) if report.is_file() else None,
        "_started": started,
        "_manifests": manifests,
    }


# --------------------------------------------------------------------------- raw files


def _raw_key(dataset: str, path: str) -> str:
    """'<dataset>/<name>' for a recorded path (s3://, file://, absolute or relative)."""
    text = path.replace("\\", "/")
    marker = f"{RAW_PREFIX}/{dataset}/"
    if marker in text:
        return f"{dataset}/{text.split(marker, 1)[1]}"
    return f"{dataset}/{text.rsplit('/', 1)[-1]}"


def _recorded_files(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    recorded: dict[str, dict[str, Any]] = {}
    for manifest in manifests.values():
        for dataset, info in (manifest.get("inputs") or {}).items():
            if not isinstance(info, dict):
                continue
            for entry in info.get("files") or []:
                if isinstance(entry, str):
                    recorded[_raw_key(dataset, entry)] = {}
                elif isinstance(entry, dict):
                    path = entry.get("path") or entry.get("uri") or entry.get("name")
                    if path:
                        recorded[_raw_key(dataset, str(path))] = entry
    return recorded


def _current_files(lake: Path) -> dict[str, os.stat_result]:
    files: dict[str, os.stat_result] = {}
    for dataset in DATASETS:
        folder = lake / RAW_PREFIX / dataset
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not any(p.startswith((".", "_")) for p in rel.parts):
                files[f"{dataset}/{rel.as_posix()}"] = path.stat()
    return files


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def raw_changes(lake: Path, last_success: dict[str, Any] | None) -> dict[str, Any]:
    current = _current_files(lake)
    if last_success is None:
        return {
            "since_run": None,
            "new": sorted(current),
            "changed": [],
            "removed": [],
            "unchanged": 0,
        }
    recorded = _recorded_files(last_success["_manifests"])
    since: datetime | None = last_success["_started"]
    new, changed, unchanged = [], [], 0
    for key, stat in sorted(current.items()):
        entry = recorded.get(key)
        if entry is None:
            new.append(key)
            continue
        size = entry.get("size") or entry.get("size_bytes")
        sha = entry.get("sha256")
        if size is not None and int(size) != stat.st_size:
            changed.append(key)
        elif sha:
            if _sha256(lake / RAW_PREFIX / key) != sha:
                changed.append(key)
            else:
                unchanged += 1
        elif since is not None and datetime.fromtimestamp(stat.st_mtime, tz=UTC) > since:
            changed.append(key)
        else:
            unchanged += 1
    removed = sorted(k for k in recorded if k not in current)
    return {
        "since_run": last_success["run_id"],
        "new": new,
        "changed": changed,
        "removed": removed,
        "unchanged": unchanged,
    }


def collect_status(lake_dir: str | os.PathLike[str], limit: int = 10) -> dict[str, Any]:
    """Everything `carrental status` shows, as a JSON-ready dict."""
    lake = Path(lake_dir)
    if not lake.is_dir():
        raise InputError(
            f"lake folder {lake} does not exist",
            hint="pass --lake-dir of an existing lake, or create one with `make run`",
        )
    asl_path = find_asl(lake)
    asl = read_json(asl_path) if asl_path else None
    runs = [run_summary(lake, run_id, asl) for run_id in list_runs(lake)]
    runs.sort(
        key=lambda r: (r["_started"] or datetime.min.replace(tzinfo=UTC), r["run_id"]),
        reverse=True,
    )
    last_success = next((r for r in runs if r["status"] == "SUCCEEDED"), None)
    raw = raw_changes(lake, last_success)
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs[:limit]]
    return {
        "lake_dir": str(lake),
        "total_runs": len(runs),
        "runs": public,
        "last_successful_run": last_success["run_id"] if last_success else None,
        "raw_files": raw,
    }


# --------------------------------------------------------------------------- output

MAX_FILES_SHOWN = 20  # per category in the human output (--json lists them all)
_STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "RUNNING": "blue"}


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _fmt_rows(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def render_human(payload: dict[str, Any]) -> Group:
    parts: list[Any] = []
    if not payload["runs"]:
        parts.append(Text(f"No runs yet in {payload['lake_dir']}/runs."))
    else:
        table = Table(
            title=f"Last {len(payload['runs'])} of {payload['total_runs']} runs "
            f"in {payload['lake_dir']}",
            title_justify="left",
            box=None,
            pad_edge=False,
            header_style="bold",
        )
        table.add_column("run id", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("started", no_wrap=True)
        table.add_column("took", justify="right", no_wrap=True)
        for column in ("read", "quar.", "written"):
            table.add_column(column, justify="right", no_wrap=True)
        failures: list[Text] = []
        for run in payload["runs"]:
            style = _STATUS_STYLE.get(run["status"], "yellow")
            if run["failing_state"] or run["error"]:
                line = Text("✗ ", style="red") + Text(f"{run['run_id']}: ")
                if run["failing_state"]:
                    line += Text("failed at ") + Text(run["failing_state"], style="bold")
                else:
                    line += Text("failed")
                if run["error"]:
                    line += Text(f" — {run['error']}"[:300])
                failures.append(line)
            table.add_row(
                run["run_id"],
                Text(run["status"], style=style),
                (run["started"] or "—")[5:16].replace("T", " "),
                _fmt_duration(run["duration_seconds"]),
                _fmt_rows(run["rows_read"]),
                _fmt_rows(run["rows_quarantined"]),
                _fmt_rows(run["rows_written"]),
            )
        parts.append(table)
        parts.extend(failures)
        latest = payload["runs"][0]
        if latest.get("report"):
            parts.append(Text(f"Latest report: {latest['report']}"))
    raw = payload["raw_files"]
    since = raw["since_run"]
    head = (
        f"Raw files since the last successful run {since}:"
        if since
        else "No successful run yet: every raw file is new."
    )
    lines = Text(("\n" if parts else "") + head)
    for label, key, style in (
        ("new", "new", "green"),
        ("changed", "changed", "yellow"),
        ("removed", "removed", "red"),
    ):
        for name in raw[key][:MAX_FILES_SHOWN]:
            lines += Text("\n  ") + Text(f"{label:8}", style=style) + Text(f" {name}")
        if len(raw[key]) > MAX_FILES_SHOWN:
            lines += Text(f"\n  … and {len(raw[key]) - MAX_FILES_SHOWN} more {label} files")
    if since:
        lines += Text(
            f"\n  {len(raw['new'])} new, {len(raw['changed'])} changed, "
            f"{len(raw['removed'])} removed, {raw['unchanged']} unchanged"
        )
    parts.append(lines)
    return Group(*parts)


def register(app: typer.Typer) -> None:
    @app.command("status", help=STATUS_HELP, short_help="Show the last runs and new raw files.")
    def status(
        lake_dir: Annotated[
            Path, typer.Option("--lake-dir", help="The lake folder (local path).")
        ] = Path("lake"),
        limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs to show.")] = 10,
    ) -> None:
        if limit < 1:
            raise UsageError("--limit must be at least 1", hint="for example --limit 5")
        payload = collect_status(lake_dir, limit)
        console.result(payload, render_human(payload))  # type: ignore[arg-type]

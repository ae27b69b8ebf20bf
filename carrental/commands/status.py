"""`carrental status`: the last runs and the raw files that arrived since the last success."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from carrental import console
from carrental.errors import InputError, UsageError
from carrental.paths import local_folder
from carrental.report.history import analyse
from carrental.report.inputs import find_asl, list_runs, parse_time, read_json
from spark_ingest.layout import DATASETS, RAW_PREFIX

STATUS_HELP = """Show the last runs and which raw files are new since the last successful run.

For each run: its status, start time, duration, rows read / quarantined / written \
(from the job manifests), the failing state and error if it failed, and the report path.

Raw files are compared with the files recorded in the last successful run's manifests \
(inputs.<dataset>.files): a file is new when it was not recorded, changed when its size \
or checksum differs (or, when only names were recorded, when it was modified after that \
run started).

A run file that cannot be read (not JSON, or a count that is not a number) is named in a \
warning; every other run is still listed, and the exit code is then 3.

Examples:

  carrental status --lake-dir lake

  carrental status --lake-dir lake --limit 3

  carrental --json status --lake-dir lake | jq '.raw_files.new'
"""


# --------------------------------------------------------------------------- runs

#: One unreadable run file or value: ``{"file", "field", "message"}`` (``field`` None when the
#: whole file is unreadable). Collected while reading, shown as warnings, listed under --json.
Problem = dict[str, Any]


def _problem(problems: list[Problem], path: Path, message: str, field: str | None = None):
    problems.append({"file": str(path), "field": field, "message": message})


def _read_run_json(path: Path, problems: list[Problem], what: str, kinds: tuple = (dict,)) -> Any:
    """The parsed JSON of a run file; None when absent, or (plus a problem) when unreadable,
    not JSON or not of the expected kind."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        _problem(problems, path, f"{path} is not valid JSON ({exc}): expected {what}; skipped")
        return None
    except OSError as exc:
        _problem(problems, path, f"{path} cannot be read ({exc}): expected {what}; skipped")
        return None
    if not isinstance(data, kinds):
        kind = type(data).__name__
        _problem(problems, path, f"{path}: expected {what}, got a JSON {kind}; skipped")
        return None
    return data


def _load_history(run_dir: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    what = "the execution history (a JSON object with events, or a list)"
    data = _read_run_json(run_dir / "history.json", problems, what, (dict, list))
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        return []
    return [event for event in events if isinstance(event, dict)]


def _load_manifests(
    run_dir: Path, problems: list[Problem]
) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """The run's job manifests by job name, and the file each came from."""
    manifests: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    folder = run_dir / "manifests"
    if not folder.is_dir():
        return manifests, paths
    for path in sorted(folder.glob("*.json")):
        data = _read_run_json(path, problems, "a job manifest (a JSON object)")
        if data is not None:
            job = str(data.get("job") or path.stem)
            manifests[job], paths[job] = data, path
    return manifests, paths


def _section(
    manifest: dict[str, Any], key: str, path: Path, problems: list[Problem]
) -> dict[str, Any]:
    """``manifest[key]`` when it is an object (absent: empty), else empty plus a problem."""
    value = manifest.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _problem(problems, path, f"{path}: {key} must be an object, got {value!r}; ignored", key)
        return {}
    return value


def _whole(value: Any, path: Path, field: str, problems: list[Problem]) -> int | None:
    """A count from a manifest: None when absent, else a whole number (a problem if not)."""
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    _problem(
        problems, path, f"{path}: {field} must be a whole number, got {value!r}; ignored", field
    )
    return None


def _rows_from_manifests(
    manifests: dict[str, dict[str, Any]],
    paths: dict[str, Path] | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, int | None]:
    """Rows read and quarantined per dataset (max over jobs: both jobs read rentals)."""
    if not manifests:
        return {"rows_read": None, "rows_quarantined": None, "rows_written": None}
    problems = [] if problems is None else problems
    read: dict[str, int] = {}
    rejected: dict[str, int] = {}
    written = 0
    for job, manifest in manifests.items():
        path = (paths or {}).get(job, Path(f"{job}.json"))
        for dataset, info in _section(manifest, "inputs", path, problems).items():
            if isinstance(info, dict):
                n = _whole(info.get("rows_read"), path, f"inputs.{dataset}.rows_read", problems)
                read[dataset] = max(read.get(dataset, 0), n or 0)
                n = _whole(info.get("rejected"), path, f"inputs.{dataset}.rejected", problems)
                rejected[dataset] = max(rejected.get(dataset, 0), n or 0)
        for table, info in _section(manifest, "outputs", path, problems).items():
            if isinstance(info, dict):
                written += _whole(info.get("rows"), path, f"outputs.{table}.rows", problems) or 0
    return {
        "rows_read": sum(read.values()),
        "rows_quarantined": sum(rejected.values()),
        "rows_written": written,
    }


def run_summary(
    lake: Path,
    run_id: str,
    asl: dict[str, Any] | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, Any]:
    """One run's row of the status table; unreadable files and values go to ``problems``."""
    problems = [] if problems is None else problems
    run_dir = lake / "runs" / run_id
    execution = _read_run_json(
        run_dir / "execution.json", problems, "the execution record (a JSON object)"
    )
    history = _load_history(run_dir, problems)
    manifests, manifest_paths = _load_manifests(run_dir, problems)
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
        **_rows_from_manifests(manifests, manifest_paths, problems),
        "failing_state": summary.failing_state,
        "error": error,
        "report": str(report) if report.is_file() else None,
        "_started": started,
        "_manifests": manifests,
        "_manifest_paths": manifest_paths,
    }


# --------------------------------------------------------------------------- raw files


def _raw_key(dataset: str, path: str) -> str:
    """'<dataset>/<name>' for a recorded path (s3://, file://, absolute or relative)."""
    text = path.replace("\\", "/")
    marker = f"{RAW_PREFIX}/{dataset}/"
    if marker in text:
        return f"{dataset}/{text.split(marker, 1)[1]}"
    return f"{dataset}/{text.rsplit('/', 1)[-1]}"


def _recorded_files(
    manifests: dict[str, dict[str, Any]],
    paths: dict[str, Path] | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, dict[str, Any]]:
    """'<dataset>/<name>' -> the recorded entry; a size that is not a number is dropped."""
    problems = [] if problems is None else problems
    recorded: dict[str, dict[str, Any]] = {}
    for job, manifest in manifests.items():
        source = (paths or {}).get(job, Path(f"{job}.json"))
        for dataset, info in _section(manifest, "inputs", source, problems).items():
            if not isinstance(info, dict):
                continue
            files = info.get("files") or []
            if not isinstance(files, list):
                field = f"inputs.{dataset}.files"
                _problem(
                    problems, source, f"{source}: {field} must be a list, got {files!r}", field
                )
                continue
            for i, entry in enumerate(files):
                if isinstance(entry, str):
                    recorded[_raw_key(dataset, entry)] = {}
                elif isinstance(entry, dict):
                    path = entry.get("path") or entry.get("uri") or entry.get("name")
                    if not path:
                        continue
                    entry = dict(entry)
                    for key in ("size", "size_bytes"):
                        field = f"inputs.{dataset}.files[{i}].{key}"
                        if _whole(entry.get(key), source, field, problems) is None:
                            entry.pop(key, None)
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


def raw_changes(
    lake: Path, last_success: dict[str, Any] | None, problems: list[Problem] | None = None
) -> dict[str, Any]:
    current = _current_files(lake)
    if last_success is None:
        return {
            "since_run": None,
            "new": sorted(current),
            "changed": [],
            "removed": [],
            "unchanged": 0,
        }
    recorded = _recorded_files(
        last_success["_manifests"], last_success.get("_manifest_paths"), problems
    )
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
    """Everything `carrental status` shows, as a JSON-ready dict.

    ``problems`` lists the run files (and fields) that could not be read, sorted by file;
    those runs are still listed, without the unreadable values."""
    lake = Path(lake_dir)
    if not lake.is_dir():
        raise InputError(
            f"lake folder {lake} does not exist",
            hint="pass --lake-dir of an existing lake, or create one with `make run`",
        )
    asl_path = find_asl(lake)
    asl = read_json(asl_path) if asl_path else None
    problems: list[Problem] = []
    runs = [run_summary(lake, run_id, asl, problems) for run_id in list_runs(lake)]
    runs.sort(
        key=lambda r: (r["_started"] or datetime.min.replace(tzinfo=UTC), r["run_id"]),
        reverse=True,
    )
    last_success = next((r for r in runs if r["status"] == "SUCCEEDED"), None)
    raw = raw_changes(lake, last_success, problems)
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs[:limit]]
    return {
        "lake_dir": str(lake),
        "total_runs": len(runs),
        "runs": public,
        "last_successful_run": last_success["run_id"] if last_success else None,
        "raw_files": raw,
        "problems": _unique_sorted(problems),
    }


def _unique_sorted(problems: list[Problem]) -> list[Problem]:
    seen = {(p["file"], p["field"] or "", p["message"]): p for p in problems}
    return [seen[key] for key in sorted(seen)]


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
        # str, not Path: a Path turns s3://bucket into s3:/bucket (see carrental.paths).
        lake_dir: Annotated[
            str, typer.Option("--lake-dir", help="The lake folder (local path).")
        ] = "lake",
        limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs to show.")] = 10,
    ) -> None:
        if limit < 1:
            raise UsageError("--limit must be at least 1", hint="for example --limit 5")
        lake = local_folder(
            lake_dir,
            hint="status reads a local lake; `carrental run --target aws` copies each AWS "
            "run's history.json and execution.json into <lake>/runs/<run_id>/",
        )
        payload = collect_status(lake, limit)
        for problem in payload["problems"]:
            console.warn(escape(problem["message"]))
        console.result(payload, render_human(payload))  # type: ignore[arg-type]
        files = sorted({p["file"] for p in payload["problems"]})
        if files:
            raise InputError(
                f"{len(files)} run file{'s' if len(files) != 1 else ''} could not be read "
                "(named in the warnings above)",
                hint="the runs are listed without the unreadable values (see the warnings); "
                "fix or delete the damaged files",
            )

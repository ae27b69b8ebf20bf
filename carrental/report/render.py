"""Assemble the one-file HTML report: header, graph, data quality, KPIs, timing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import plotly.io as pio
import plotly.offline

from carrental.report import charts
from carrental.report.graph import fmt_seconds, legend_html, render_svg
from carrental.report.history import ExecutionSummary, analyse
from carrental.report.inputs import RunInputs, load_run
from carrental.report.mask import mask_row

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
SAMPLE_FIRST_COLUMNS = ("reason_code", "reason_codes", "reason_detail", "source_file")
SAMPLE_HIDDEN_COLUMNS = {"dataset", "job", "run_id"}


def build_report(
    lake_dir: str | os.PathLike[str],
    run_id: str,
    *,
    asl_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``<lake>/runs/<run_id>/report.html`` and return its path.

    Every input is optional: a run that failed before Spark still gets a report
    showing where and why it stopped. ``asl_path`` defaults to the repository's
    ``orchestration/statemachine/car_rental_pipeline.asl.json``.
    """
    inputs = load_run(lake_dir, run_id, asl_path)
    html = render(inputs)
    out = Path(lake_dir) / "runs" / run_id / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".report.html.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------- formatting


def fmt_delta(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return "—"
    diff = now - before
    pct = f" ({diff / before * 100:+.0f}%)" if before else ""
    return f"{diff:+.1f} s{pct}"


def fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—" if value is None else str(value)


def fmt_kpi(name: str, value: Any) -> str:
    number = charts._num(value)
    if number is None:
        return "—" if value is None else str(value)
    low = name.lower()
    if any(word in low for word in ("revenue", "amount", "value", "spend")):
        return f"${number:,.2f}"
    if "duration" in low or "hours" in low:
        return f"{number:,.1f} h"
    if any(word in low for word in ("share", "pct", "percent", "rate")):
        return f"{number * 100:.1f}%" if abs(number) <= 1 else f"{number:.1f}%"
    if float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}"


def fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def table(columns: list[str], rows: list[list[str]], table_id: str, css: str = "") -> str:
    """An HTML table; every header and cell is escaped here."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="table-wrap"><table id="{escape(table_id)}" class="{escape(css)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def figure_html(fig: Any, chart_id: str) -> str:
    if fig is None:
        return ""
    inner = pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=chart_id, config=PLOTLY_CONFIG
    )
    return f'<div class="chart" data-chart="{escape(chart_id)}">{inner}</div>'


def empty(message: str, element_id: str | None = None) -> str:
    attr = f' id="{escape(element_id)}"' if element_id else ""
    return f'<p class="muted empty"{attr}>{escape(message)}</p>'


# --------------------------------------------------------------------------- sections


def header_section(inputs: RunInputs, summary: ExecutionSummary) -> str:
    status = summary.status or "UNKNOWN"
    execution = inputs.execution or {}
    duration = (
        (summary.stopped - summary.started).total_seconds()
        if summary.started and summary.stopped
        else None
    )
    run_input = execution.get("input") or {}
    if isinstance(run_input, str):  # DescribeExecution returns the input as a JSON string
        try:
            run_input = json.loads(run_input)
        except ValueError:
            run_input = {}
    run_input = run_input if isinstance(run_input, dict) else {}
    mode = next((m.get("mode") for m in inputs.manifests.values() if m.get("mode")), None)
    mode = mode or run_input.get("mode")
    engine = next((m.get("engine") for m in inputs.manifests.values() if m.get("engine")), None)
    if engine is None and not inputs.manifests:
        engine = "no Spark job in this run"
    facts = [
        ("Started", fmt_time(summary.started)),
        ("Finished", fmt_time(summary.stopped)),
        ("Duration", fmt_seconds(duration)),
        ("Mode", mode or "—"),
        ("Engine", engine or "—"),
        ("Execution", str(execution.get("name") or inputs.run_id)),
    ]
    facts_html = "".join(
        f'<div class="fact"><span class="label">{escape(k)}</span>'
        f'<span class="value">{escape(str(v))}</span></div>'
        for k, v in facts
    )
    failure = ""
    lines = []
    failing = summary.states.get(summary.failing_state or "")
    state_cause = None
    if failing and failing.errors:
        err, state_cause = failing.errors[-1]
        lines.append(
            f'<div class="state-error"><code>{escape(failing.name)}</code> raised '
            f'<span class="error-name">{escape(err)}</span></div>'
        )
        if state_cause:
            lines.append(f'<pre class="error-cause">{escape(state_cause)}</pre>')
    if summary.error or (summary.cause and summary.cause != state_cause):
        label = "Execution error" if lines else "Error"
        lines.append(
            f'<div class="state-error">{label}: '
            f'<span class="error-name">{escape(summary.error or "")}</span></div>'
        )
        if summary.cause and summary.cause != state_cause:
            lines.append(f'<pre class="error-cause">{escape(summary.cause)}</pre>')
    if status not in ("SUCCEEDED", "RUNNING", "UNKNOWN") or summary.failing_state:
        failure = (
            '<div class="alert alert-failed" id="failure-summary">'
            f"<strong>Run {escape(status.lower())}</strong>"
            + (
                f' at state <code class="failing-state">{escape(summary.failing_state)}</code>'
                if summary.failing_state
                else ""
            )
            + "".join(lines)
            + "</div>"
        )
    if not inputs.execution:
        failure += empty("No execution.json was found for this run.", "no-execution")
    return (
        '<header id="section-summary">'
        f'<div class="title-row"><h1>Car rental pipeline run <code>{escape(inputs.run_id)}</code>'
        f'</h1><span id="run-status" class="badge badge-{escape(status.lower())}">'
        f"{escape(status)}</span></div>"
        f'<div class="facts">{facts_html}</div>{failure}</header>'
    )


def graph_section(inputs: RunInputs, summary: ExecutionSummary) -> str:
    svg = render_svg(inputs.asl, summary.states)
    rows = []
    for run in sorted(
        summary.states.values(),
        key=lambda r: (
            (r.visits[0].entered is None, r.visits[0].entered or datetime.max.replace(tzinfo=UTC))
            if r.visits
            else (True, datetime.max.replace(tzinfo=UTC))
        ),
    ):
        err = "; ".join(f"{e}: {c}" if c else e for e, c in run.errors)
        rows.append(
            [
                run.name,
                run.type or "",
                run.outcome,
                fmt_seconds(run.duration),
                str(run.attempts or ""),
                str(len(run.visits)),
                err[:400],
            ]
        )
    states_table = (
        table(
            ["State", "Type", "Outcome", "Duration", "Attempts", "Visits", "Error"],
            rows,
            "state-table",
            "states",
        )
        if rows
        else empty("No state history was recorded for this run.", "state-table-empty")
    )
    return (
        '<section id="section-graph"><h2>Execution graph</h2>'
        '<p class="muted">The state machine as defined in the ASL, laid out like the Step '
        "Functions console. Colours show each state's outcome in this run; hover a state for "
        "details.</p>"
        f'{legend_html()}<div class="graph-wrap" id="graph-container">{svg}</div>'
        f"<h3>States visited</h3>{states_table}</section>"
    )


def quality_rows(inputs: RunInputs) -> list[dict[str, Any]]:
    out = []
    for job, manifest in sorted(inputs.manifests.items()):
        for dataset, info in sorted((manifest.get("inputs") or {}).items()):
            if not isinstance(info, dict):
                continue
            read = info.get("rows_read")
            valid = info.get("valid")
            rejected = info.get("rejected")
            by_reason = info.get("rejected_by_reason") or {}
            out.append(
                {
                    "job": job,
                    "dataset": dataset,
                    "read": int(read or 0),
                    "valid": int(valid or 0),
                    "quarantined": int(rejected or 0),
                    "by_reason": {str(k): int(v or 0) for k, v in by_reason.items()},
                    "files": len(info.get("files") or []),
                }
            )
    return out


def quality_section(inputs: RunInputs) -> str:
    quality = quality_rows(inputs)
    parts = ['<section id="section-quality"><h2>Data quality</h2>']
    if quality:
        total_read = sum(q["read"] for q in quality)
        total_bad = sum(q["quarantined"] for q in quality)
        parts.append(
            '<div class="cards small">'
            + card("Rows read (all jobs)", fmt_int(total_read))
            + card("Rows quarantined", fmt_int(total_bad))
            + card(
                "Quarantine rate",
                f"{(total_bad / total_read * 100):.2f}%" if total_read else "—",
            )
            + "</div>"
        )
        parts.append(
            table(
                ["Job", "Dataset", "Files", "Rows read", "Valid", "Quarantined", "Reasons"],
                [
                    [
                        q["job"],
                        q["dataset"],
                        fmt_int(q["files"]),
                        fmt_int(q["read"]),
                        fmt_int(q["valid"]),
                        fmt_int(q["quarantined"]),
                        ", ".join(f"{k}: {v:,}" for k, v in sorted(q["by_reason"].items())),
                    ]
                    for q in quality
                ],
                "dq-table",
            )
        )
        parts.append(figure_html(charts.rows_by_dataset(quality), "chart-rows-by-dataset"))
        reason_fig = charts.reason_codes(quality)
        parts.append(
            figure_html(reason_fig, "chart-reason-codes")
            if reason_fig
            else empty("No rows were quarantined in this run.", "chart-reason-codes")
        )
    else:
        parts.append(empty("No job manifests were written for this run.", "dq-table"))
    parts.append(sample_html(inputs))
    parts.append(dbt_html(inputs))
    parts.append("</section>")
    return "".join(parts)


def sample_html(inputs: RunInputs) -> str:
    parts = ['<h3>Sample of quarantined rows</h3><div id="quarantine-sample">']
    if not inputs.quarantine_samples:
        parts.append(empty("No quarantined rows were written for this run."))
    for dataset, rows in sorted(inputs.quarantine_samples.items()):
        columns = inputs.quarantine_columns.get(dataset) or list(rows[0].keys())
        ordered = [c for c in SAMPLE_FIRST_COLUMNS if c in columns] + [
            c for c in columns if c not in SAMPLE_FIRST_COLUMNS and c not in SAMPLE_HIDDEN_COLUMNS
        ]
        masked = [mask_row(dataset, row, inputs.pii_columns) for row in rows]
        body = [
            [
                os.path.basename(r.get(c, "")) if c == "source_file" else r.get(c, "")
                for c in ordered
            ]
            for r in masked
        ]
        parts.append(f"<h4>{escape(dataset)}</h4>")
        parts.append(table(ordered, body, f"quarantine-sample-{dataset}", "sample"))
    parts.append(
        f'<p class="muted">PII columns are masked ({escape(", ".join(inputs.pii_columns))}); '
        f"list from {escape(inputs.pii_source)}.</p></div>"
    )
    return "".join(parts)


def dbt_html(inputs: RunInputs) -> str:
    results = (inputs.dbt_results or {}).get("results") or []
    tests = [
        r
        for r in results
        if isinstance(r, dict) and str(r.get("unique_id", "")).startswith(("test.", "unit_test."))
    ]
    models = [
        r
        for r in results
        if isinstance(r, dict)
        and str(r.get("unique_id", "")).startswith(("model.", "seed.", "snapshot."))
    ]
    if not results:
        return "<h3>dbt tests</h3>" + empty("dbt did not run for this run.", "dbt-tests")
    counts: dict[str, int] = {}
    for test in tests:
        counts[str(test.get("status"))] = counts.get(str(test.get("status")), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no tests"
    failing_first = sorted(
        tests, key=lambda t: (t.get("status") in ("pass", "success"), str(t.get("unique_id")))
    )
    rows = []
    for test in failing_first:
        uid = str(test.get("unique_id", ""))
        parts = uid.split(".")
        rows.append(
            [
                parts[2] if len(parts) > 2 else uid,
                str(test.get("status", "")),
                fmt_int(test.get("failures")) if test.get("failures") is not None else "—",
                fmt_seconds(charts._num(test.get("execution_time"))),
                str(test.get("message") or "")[:300],
            ]
        )
    model_line = (
        f"{len(models)} models/seeds built: "
        + ", ".join(
            f"{n} {s}"
            for s, n in sorted(
                {
                    str(m.get("status")): sum(
                        1 for x in models if x.get("status") == m.get("status")
                    )
                    for m in models
                }.items()
            )
        )
        if models
        else "no models in run_results.json"
    )
    return (
        f'<h3>dbt tests</h3><p class="muted" id="dbt-summary">{escape(summary)} · '
        f"{escape(model_line)}</p>"
        + table(["Test", "Status", "Failures", "Time", "Message"], rows, "dbt-tests", "dbt")
    )


def card(label: str, value: str, css: str = "") -> str:
    return (
        f'<div class="card {escape(css)}"><div class="card-value">{escape(value)}</div>'
        f'<div class="card-label">{escape(label)}</div></div>'
    )


def kpi_section(inputs: RunInputs) -> str:
    marts = inputs.marts
    parts = ['<section id="section-kpis"><h2>Business KPIs</h2>']
    parts.append(f'<p class="muted">Source: {escape(inputs.mart_source)}.</p>')
    kpis = (marts.get("business_kpis") or [None])[0]
    if kpis:
        cards = "".join(
            card(name.replace("_", " ").capitalize(), fmt_kpi(name, value))
            for name, value in kpis.items()
        )
        parts.append(f'<div class="cards" id="kpi-headlines">{cards}</div>')
    else:
        parts.append(empty("The business KPIs are not available.", "kpi-headlines"))
    for chart_id, builder, mart, missing in (
        (
            "chart-location-revenue",
            charts.location_revenue,
            "location_leaderboard",
            "Location revenue is not available.",
        ),
        (
            "chart-vehicle-type",
            charts.vehicle_type,
            "vehicle_type_mix",
            "Vehicle type mix is not available.",
        ),
        ("chart-daily", charts.daily, "daily_business_metrics", "Daily metrics are not available."),
        (
            "chart-spending-tiers",
            charts.spending_tiers,
            "customer_value_segments",
            "Customer value segments are not available.",
        ),
    ):
        fig = builder(marts.get(mart) or [])
        parts.append(figure_html(fig, chart_id) if fig else empty(missing, chart_id))
    parts.append("</section>")
    return "".join(parts)


def _state_durations(summary: ExecutionSummary) -> dict[str, float]:
    return {name: run.duration for name, run in summary.states.items() if run.duration is not None}


def timing_section(inputs: RunInputs, summary: ExecutionSummary) -> str:
    previous = (
        analyse(inputs.previous_history, inputs.previous_execution, inputs.asl)
        if inputs.previous_run_id
        else None
    )
    prev_durations = _state_durations(previous) if previous else {}
    ordered = sorted(
        (r for r in summary.states.values() if r.duration is not None),
        key=lambda r: r.visits[0].entered or datetime.max.replace(tzinfo=UTC),
    )
    state_rows = [
        {"state": r.name, "seconds": r.duration, "previous": prev_durations.get(r.name)}
        for r in ordered
    ]
    step_rows = []
    for job, manifest in sorted(inputs.manifests.items()):
        prev_steps = (inputs.previous_manifests.get(job) or {}).get("timings_seconds") or {}
        for step, seconds in (manifest.get("timings_seconds") or {}).items():
            if charts._num(seconds) is None or step == "total":
                continue
            step_rows.append(
                {
                    "job": job,
                    "step": step,
                    "seconds": charts._num(seconds),
                    "previous": charts._num(prev_steps.get(step)),
                }
            )
    now_total = (
        (summary.stopped - summary.started).total_seconds()
        if summary.started and summary.stopped
        else None
    )
    prev_total = (
        (previous.stopped - previous.started).total_seconds()
        if previous and previous.started and previous.stopped
        else None
    )
    label = inputs.previous_run_id
    parts = ['<section id="section-timing"><h2>Timing</h2>']
    compare = (
        f"Compared with the previous run <code>{escape(label)}</code> "
        f"({escape(str(previous.status if previous else '?'))})."
        if label
        else "There is no earlier run to compare with."
    )
    parts.append(f'<p class="muted" id="timing-previous">{compare}</p>')
    parts.append(
        '<div class="cards small">'
        + card("This run", fmt_seconds(now_total))
        + card("Previous run", fmt_seconds(prev_total))
        + card("Change", fmt_delta(now_total, prev_total))
        + "</div>"
    )
    fig = charts.state_timing(state_rows, label)
    parts.append(
        figure_html(fig, "chart-state-timing")
        if fig
        else empty("No state timings were recorded.", "chart-state-timing")
    )
    steps_fig = charts.job_steps(step_rows, label)
    if steps_fig:
        parts.append(figure_html(steps_fig, "chart-job-steps"))
    if state_rows:
        parts.append(
            table(
                ["State", "This run", "Previous run", "Change"],
                [
                    [
                        r["state"],
                        fmt_seconds(r["seconds"]),
                        fmt_seconds(r["previous"]),
                        fmt_delta(r["seconds"], r["previous"]),
                    ]
                    for r in state_rows
                ],
                "timing-table",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def notes_section(inputs: RunInputs) -> str:
    if not inputs.notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in inputs.notes)
    return f'<section id="section-notes"><h2>Notes</h2><ul>{items}</ul></section>'


# --------------------------------------------------------------------------- page


CSS = """
:root { --ink:#16191f; --muted:#5f6b7a; --line:#e9ebed; --bg:#f4f5f7; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font-family:-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif; font-size:14px; }
nav { position:sticky; top:0; z-index:10; background:#232f3e; color:#fff; padding:10px 28px;
  display:flex; gap:22px; align-items:center; }
nav .brand { font-weight:700; margin-right:12px; }
nav a { color:#d5dbdb; text-decoration:none; } nav a:hover { color:#fff; }
main { max-width:1280px; margin:0 auto; padding:20px 28px 60px; }
header, section { background:var(--card); border:1px solid var(--line); border-radius:12px;
  padding:20px 24px; margin-bottom:20px; box-shadow:0 1px 2px rgba(0,0,0,.04); }
h1 { font-size:22px; margin:0; } h2 { font-size:19px; margin:0 0 10px; }
h3 { font-size:15px; margin:22px 0 8px; } h4 { font-size:13px; margin:14px 0 6px; color:var(--muted);
  text-transform:uppercase; letter-spacing:.04em; }
code { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:.92em; }
.title-row { display:flex; align-items:center; gap:14px; flex-wrap:wrap; }
.badge { padding:4px 12px; border-radius:999px; font-weight:700; font-size:12px; letter-spacing:.05em; }
.badge-succeeded { background:#e9f6ec; color:#1d8102; border:1px solid #1d8102; }
.badge-failed, .badge-timed_out, .badge-aborted { background:#fdecea; color:#d13212;
  border:1px solid #d13212; }
.badge-running, .badge-unknown { background:#eef4ff; color:#0972d3; border:1px solid #0972d3; }
.facts { display:flex; flex-wrap:wrap; gap:10px 32px; margin-top:14px; }
.fact .label { display:block; color:var(--muted); font-size:12px; }
.fact .value { font-weight:600; }
.alert { margin-top:16px; padding:12px 16px; border-radius:8px; }
.alert-failed { background:#fdecea; border-left:4px solid #d13212; }
.error-name { font-weight:700; color:#d13212; font-family:ui-monospace,Menlo,monospace; }
.state-error { margin-top:8px; }
.error-cause { white-space:pre-wrap; margin:6px 0 0; font-size:12px; max-height:160px; overflow:auto; }
.muted { color:var(--muted); } .empty { font-style:italic; }
.legend { display:flex; flex-wrap:wrap; gap:16px; margin:6px 0 12px; font-size:12px; }
.legend-item { display:flex; align-items:center; gap:6px; }
.swatch { width:14px; height:14px; border-radius:4px; border:2px solid; display:inline-block; }
.graph-wrap { overflow-x:auto; background:#fafbfc; border:1px solid var(--line); border-radius:10px;
  padding:10px; text-align:center; }
#execution-graph text { font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif; }
#execution-graph .node-name { font-size:13px; font-weight:600; fill:#16191f; }
#execution-graph .node-name.dim { fill:#8d99a8; font-weight:500; }
#execution-graph .node-sub { font-size:11px; fill:#5f6b7a; font-weight:400; }
#execution-graph .node-icon { font-size:13px; }
#execution-graph .container-label { font-size:13px; font-weight:700; fill:#16191f; }
#execution-graph .pill-text { font-size:12px; font-weight:600; fill:#414d5c; }
.table-wrap { overflow-x:auto; margin:8px 0 4px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th { text-align:left; background:#f2f3f3; color:#414d5c; font-weight:600; padding:7px 10px;
  border-bottom:1px solid #d5dbdb; white-space:nowrap; }
td { padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
table.sample td { white-space:nowrap; max-width:360px; overflow:hidden; text-overflow:ellipsis;
  font-family:ui-monospace,Menlo,monospace; font-size:12px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px;
  margin:10px 0 16px; }
.card { background:linear-gradient(180deg,#ffffff,#f7f9fb); border:1px solid var(--line);
  border-radius:10px; padding:14px 16px; }
.card-value { font-size:24px; font-weight:700; color:#0b3b73; }
.cards.small .card-value { font-size:18px; }
.card-label { color:var(--muted); font-size:12px; margin-top:4px; }
.grid-2 { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
@media (max-width: 1000px) { .grid-2 { grid-template-columns:1fr; } }
.chart { margin:12px 0; min-height:260px; }
footer { color:var(--muted); font-size:12px; text-align:center; }
"""


def render(inputs: RunInputs) -> str:
    summary = analyse(inputs.history, inputs.execution, inputs.asl)
    body = "".join(
        [
            header_section(inputs, summary),
            graph_section(inputs, summary),
            quality_section(inputs),
            kpi_section(inputs),
            timing_section(inputs, summary),
            notes_section(inputs),
        ]
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    status = summary.status or "UNKNOWN"
    nav = "".join(
        f'<a href="#{sid}">{label}</a>'
        for sid, label in (
            ("section-summary", "Summary"),
            ("section-graph", "Execution graph"),
            ("section-quality", "Data quality"),
            ("section-kpis", "KPIs"),
            ("section-timing", "Timing"),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(status)} · run {escape(inputs.run_id)} · carrental</title>"
        f"<style>{CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        "</head><body>"
        f'<nav><span class="brand">carrental</span>{nav}</nav>'
        f"<main>{body}<footer>Generated {escape(generated)} · one self-contained file, "
        "no network needed.</footer></main></body></html>\n"
    )


__all__ = ["build_report", "render"]

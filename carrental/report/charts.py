"""Plotly figures for the report, built from mart rows read defensively.

The marts' exact column names belong to the dbt models; every chart finds its
columns by a list of likely names and returns None when they are not there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ["#0972d3", "#e07700", "#1d8102", "#8456ce", "#d13212", "#00819e", "#7d8998"]
FONT = "-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TOP_LOCATIONS = 20


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def pick(
    columns: Iterable[str],
    exact: Iterable[str] = (),
    contains: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> str | None:
    """The first column named exactly like a candidate, else one containing a fragment."""
    cols = list(columns)
    lower = {c.lower(): c for c in cols}
    for name in exact:
        if name.lower() in lower:
            return lower[name.lower()]
    excluded = [e.lower() for e in exclude]
    for fragment in contains:
        for col in cols:
            low = col.lower()
            if fragment.lower() in low and not any(e in low for e in excluded):
                return col
    return None


def _style(fig: go.Figure, title: str, height: int = 400) -> go.Figure:
    fig.update_layout(
        title={
            "text": title,
            "x": 0.01,
            "xanchor": "left",
            "y": 0.98,
            "yref": "container",
            "yanchor": "top",
            "font": {"size": 16},
        },
        template="plotly_white",
        font={"family": FONT, "size": 12, "color": "#16191f"},
        colorway=PALETTE,
        height=height,
        margin={"l": 60, "r": 30, "t": 84, "b": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.03, "xanchor": "left", "x": 0},
        hoverlabel={"font": {"family": FONT}},
    )
    return fig


def location_revenue(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Top 20 locations by revenue, with the cumulative share of all revenue as a line."""
    if not rows:
        return None
    cols = rows[0].keys()
    name = pick(cols, ("location_name", "pickup_location_name", "location"), ("name",))
    revenue = pick(
        cols,
        ("total_revenue", "total_revenue_at_location", "revenue"),
        ("revenue",),
        ("share", "rank", "avg", "pct", "cum"),
    )
    if not name or not revenue:
        return None
    ident = pick(cols, ("location_id", "pickup_location"))
    city = pick(cols, ("city", "pickup_city"))
    data = [r for r in rows if _num(r.get(revenue)) is not None]
    total = sum(_num(r[revenue]) or 0.0 for r in data)
    data.sort(key=lambda r: -(_num(r[revenue]) or 0.0))
    top = data[:TOP_LOCATIONS]
    labels: list[str] = []
    for row in top:
        label = str(row.get(name) or row.get(ident) or "?")
        if city and row.get(city):
            label = f"{label} ({row[city]})"
        if label in labels:
            label = f"{label} #{row.get(ident)}"
        labels.append(label)
    values = [_num(r[revenue]) or 0.0 for r in top]
    running, shares = 0.0, []
    for value in values:
        running += value
        shares.append(100.0 * running / total if total else 0.0)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=labels,
            y=values,
            name="Revenue",
            marker_color=PALETTE[0],
            hovertemplate="%{x}<br>revenue $%{y:,.2f}<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=shares,
            name="Cumulative share of all revenue",
            mode="lines+markers",
            line={"color": PALETTE[1], "width": 2.5},
            hovertemplate="%{x}<br>cumulative %{y:.1f}%<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="Revenue ($)", tickprefix="$", secondary_y=False)
    fig.update_yaxes(
        title_text="Cumulative share",
        ticksuffix="%",
        range=[0, 105],
        tick0=0,
        dtick=20,
        secondary_y=True,
        showgrid=False,
    )
    fig.update_xaxes(tickangle=-35)
    title = f"Revenue by pickup location — top {len(top)} of {len(data)}"
    return _style(fig, title, height=460)


def vehicle_type(rows: list[dict[str, Any]]) -> go.Figure | None:
    if not rows:
        return None
    cols = rows[0].keys()
    vtype = pick(cols, ("vehicle_type",), ("type",))
    revenue = pick(
        cols,
        ("total_revenue", "total_revenue_by_vehicle_type", "revenue"),
        ("revenue",),
        ("share", "avg", "pct", "rank"),
    )
    duration = pick(
        cols,
        ("avg_rental_duration_hours", "avg_rental_duration_hours_by_vehicle_type"),
        ("duration",),
    )
    if not vtype or not (revenue or duration):
        return None
    data = sorted(rows, key=lambda r: -(_num(r.get(revenue)) or 0.0) if revenue else 0.0)
    labels = [str(r.get(vtype)) for r in data]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Revenue", "Average rental duration"),
        horizontal_spacing=0.12,
    )
    if revenue:
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[_num(r.get(revenue)) for r in data],
                name="Revenue",
                marker_color=PALETTE[0],
                hovertemplate="%{x}<br>$%{y:,.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.update_yaxes(tickprefix="$", row=1, col=1)
    if duration:
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[_num(r.get(duration)) for r in data],
                name="Avg duration (h)",
                marker_color=PALETTE[2],
                hovertemplate="%{x}<br>%{y:.1f} h<extra></extra>",
            ),
            row=1,
            col=2,
        )
        fig.update_yaxes(ticksuffix=" h", row=1, col=2)
    fig.update_layout(showlegend=False)
    return _style(fig, "Revenue and average rental duration by vehicle type")


def _as_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)


def daily(rows: list[dict[str, Any]]) -> go.Figure | None:
    if not rows:
        return None
    cols = rows[0].keys()
    day = pick(
        cols, ("rental_date", "date", "metric_date", "business_date", "day"), ("date", "day")
    )
    revenue = pick(
        cols, ("total_revenue", "daily_revenue", "revenue"), ("revenue",), ("avg", "cum", "share")
    )
    rentals = pick(
        cols,
        ("total_rentals", "rentals", "rental_count", "daily_rentals", "total_transactions"),
        ("rentals", "transactions", "count"),
        ("revenue", "duration", "avg", "cum"),
    )
    if not day or not (revenue or rentals):
        return None
    data = sorted(rows, key=lambda r: str(_as_date(r.get(day))))
    dates = [_as_date(r.get(day)) for r in data]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if rentals:
        fig.add_trace(
            go.Bar(
                x=dates,
                y=[_num(r.get(rentals)) for r in data],
                name="Rentals",
                marker_color="#b8d4f5",
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,} rentals<extra></extra>",
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title_text="Rentals", secondary_y=True, showgrid=False, rangemode="tozero")
    if revenue:
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=[_num(r.get(revenue)) for r in data],
                name="Revenue",
                mode="lines",
                line={"color": PALETTE[0], "width": 2.2},
                hovertemplate="%{x|%Y-%m-%d}<br>$%{y:,.2f}<extra></extra>",
            ),
            secondary_y=False,
        )
        fig.update_yaxes(
            title_text="Revenue ($)", tickprefix="$", secondary_y=False, rangemode="tozero"
        )
    return _style(fig, "Daily revenue and rentals")


def spending_tiers(rows: list[dict[str, Any]]) -> go.Figure | None:
    if not rows:
        return None
    cols = rows[0].keys()
    tier = pick(
        cols, ("value_segment", "spending_tier", "segment", "tier"), ("segment", "tier", "bucket")
    )
    if not tier:
        return None
    spend = pick(
        cols,
        ("total_spending", "segment_revenue", "total_revenue", "revenue"),
        ("spend", "revenue"),
        ("avg", "average", "min", "max", "share", "pct"),
    )
    groups: dict[str, list[float]] = {}
    if pick(cols, ("user_id", "customer_id")):  # one row per customer: count them
        for row in rows:
            key = str(row.get(tier))
            bucket = groups.setdefault(key, [0.0, 0.0])
            bucket[0] += 1
            bucket[1] += (_num(row.get(spend)) or 0.0) if spend else 0.0
    else:
        count = pick(
            cols,
            ("customers", "customer_count", "users", "user_count", "total_customers"),
            ("customers", "users", "count"),
            ("revenue", "spend", "avg", "pct", "share"),
        )
        if not count:
            return None
        for row in rows:
            bucket = groups.setdefault(str(row.get(tier)), [0.0, 0.0])
            bucket[0] += _num(row.get(count)) or 0.0
            bucket[1] += (_num(row.get(spend)) or 0.0) if spend else 0.0
    order = sorted(groups, key=lambda k: (groups[k][1] / groups[k][0]) if groups[k][0] else 0.0)
    fig = make_subplots(
        rows=1,
        cols=2 if spend else 1,
        subplot_titles=("Customers", "Spending") if spend else ("Customers",),
        horizontal_spacing=0.12,
    )
    fig.add_trace(
        go.Bar(
            x=order,
            y=[groups[k][0] for k in order],
            name="Customers",
            marker_color=PALETTE[3],
            text=[f"{int(groups[k][0]):,}" for k in order],
            textposition="auto",
            hovertemplate="%{x}<br>%{y:,} customers<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if spend:
        fig.add_trace(
            go.Bar(
                x=order,
                y=[groups[k][1] for k in order],
                name="Spending",
                marker_color=PALETTE[1],
                hovertemplate="%{x}<br>$%{y:,.2f}<extra></extra>",
            ),
            row=1,
            col=2,
        )
        fig.update_yaxes(tickprefix="$", row=1, col=2)
    fig.update_layout(showlegend=False)
    return _style(fig, "Customer spending tiers")


def rows_by_dataset(quality: list[dict[str, Any]]) -> go.Figure | None:
    if not quality:
        return None
    labels = [f"{q['dataset']} · {q['job']}" for q in quality]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[q["valid"] for q in quality],
            name="Valid",
            orientation="h",
            marker_color=PALETTE[2],
        )
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[q["quarantined"] for q in quality],
            name="Quarantined",
            orientation="h",
            marker_color=PALETTE[4],
        )
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="Rows")
    return _style(fig, "Rows read per dataset", height=max(260, 70 + 44 * len(quality)))


def reason_codes(quality: list[dict[str, Any]]) -> go.Figure | None:
    codes = sorted({c for q in quality for c in q["by_reason"]})
    if not codes:
        return None
    fig = go.Figure()
    for index, q in enumerate(quality):
        if not q["by_reason"]:
            continue
        fig.add_trace(
            go.Bar(
                x=codes,
                y=[q["by_reason"].get(c, 0) for c in codes],
                name=f"{q['dataset']} ({q['job']})",
                marker_color=PALETTE[index % len(PALETTE)],
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="Quarantined rows")
    return _style(fig, "Quarantined rows by reason code", height=380)


def _this_vs_previous(
    labels: list[str],
    rows: list[dict[str, Any]],
    previous_label: str | None,
    color: str,
    hover: bool,
) -> go.Figure:
    """Horizontal bars of ``seconds`` per label, beside the previous run's when known."""
    series = [("This run", [r["seconds"] for r in rows], color, "this run")]
    if previous_label and any(r.get("previous") is not None for r in rows):
        previous = [r.get("previous") for r in rows]
        series.append((f"Previous run ({previous_label})", previous, "#aab7b8", "previous"))
    fig = go.Figure()
    for name, seconds, marker, tag in series:
        fig.add_trace(
            go.Bar(
                y=labels,
                x=seconds,
                name=name,
                orientation="h",
                marker_color=marker,
                hovertemplate=f"%{{y}}<br>%{{x:.1f}} s<extra>{tag}</extra>" if hover else None,
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed")
    return fig


def state_timing(rows: list[dict[str, Any]], previous_label: str | None) -> go.Figure | None:
    if not rows:
        return None
    names = [r["state"] for r in rows]
    fig = _this_vs_previous(names, rows, previous_label, PALETTE[0], hover=True)
    fig.update_xaxes(title_text="Wall time (s)")
    return _style(fig, "Wall time per state", height=max(300, 90 + 34 * len(rows)))


def job_steps(rows: list[dict[str, Any]], previous_label: str | None) -> go.Figure | None:
    if not rows:
        return None
    labels = [f"{r['job']}: {r['step']}" for r in rows]
    fig = _this_vs_previous(labels, rows, previous_label, PALETTE[5], hover=False)
    fig.update_xaxes(title_text="Seconds")
    return _style(fig, "Spark job steps", height=max(280, 90 + 30 * len(rows)))

"""Lay out an ASL state machine top-down and draw it as inline SVG.

It mimics the Step Functions console's graph view: a Start pill, one rounded box
per state, Parallel/Map states as dashed containers with their branches side by
side, an End pill, and the path taken coloured by outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from carrental.report.history import (
    CANCELLED,
    CAUGHT,
    FAILED,
    NOT_RUN,
    RETRIED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    StateRun,
)

NODE_H = 46
LAYER_GAP = 42
NODE_GAP = 26
PAD = 18
HEADER = 30
LINE_H = 15
WRAP_AT = 24  # longer names wrap at a CamelCase boundary
MAX_SIDE_BY_SIDE = 1150  # wider Parallel branches are stacked instead

COLOURS = {
    SUCCEEDED: ("#e9f6ec", "#1d8102", "Succeeded"),
    RETRIED: ("#e8f1fd", "#0972d3", "Succeeded after retry"),
    CAUGHT: ("#fff4e0", "#e07700", "Caught error"),
    FAILED: ("#fdecea", "#d13212", "Failed"),
    RUNNING: ("#eef4ff", "#5a6be6", "In progress"),
    SKIPPED: ("#f2f3f3", "#7d8998", "Skipped (re-run)"),
    CANCELLED: ("#f2f3f3", "#5f6b7a", "Cancelled"),
    NOT_RUN: ("#ffffff", "#aab7b8", "Not run"),
}


@dataclass
class Node:
    name: str
    type: str
    width: float
    height: float
    x: float = 0.0  # top-left, relative to the enclosing layout until placed
    y: float = 0.0
    branches: list[Layout] = field(default_factory=list)
    stacked: bool = False

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next | choice | catch | back


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: float
    height: float
    start: str | None
    terminals: list[str]


def _successors(state: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], "next"))
    for choice in state.get("Choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            out.append((choice["Next"], "choice"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "choice"))
    for catch in state.get("Catch") or []:
        if isinstance(catch, dict) and isinstance(catch.get("Next"), str):
            out.append((catch["Next"], "catch"))
    return out


def _branches(state: dict[str, Any]) -> list[dict[str, Any]]:
    if state.get("Type") == "Parallel":
        return [b for b in state.get("Branches") or [] if isinstance(b, dict)]
    if state.get("Type") == "Map":
        inner = state.get("ItemProcessor") or state.get("Iterator")
        return [inner] if isinstance(inner, dict) else []
    return []


def name_lines(name: str) -> list[str]:
    """One line, or two split at the CamelCase/underscore boundary nearest the middle."""
    if len(name) <= WRAP_AT:
        return [name]
    cuts = [
        i
        for i in range(1, len(name))
        if (name[i].isupper() and name[i - 1].islower()) or name[i - 1] in "_-. "
    ]
    if not cuts:
        cuts = [len(name) // 2]
    cut = min(cuts, key=lambda i: abs(i - len(name) / 2))
    return [name[:cut], name[cut:]]


def _node_width(name: str, type_: str) -> float:
    """Room for the bold name and for 'Type · 1 min 10 s · 3 attempts' below it."""
    longest = max(len(line) for line in name_lines(name))
    return max(180.0, 8.4 * longest + 52, 6.3 * (len(type_) + 28) + 40)


def layout_machine(machine: dict[str, Any]) -> Layout:
    """Layered layout: each state sits one layer below its deepest predecessor."""
    states: dict[str, dict[str, Any]] = {
        k: v for k, v in (machine.get("States") or {}).items() if isinstance(v, dict)
    }
    start = machine.get("StartAt") if machine.get("StartAt") in states else None
    order: list[str] = []
    colour: dict[str, int] = {}
    edges: list[Edge] = []

    def visit(name: str) -> None:  # iterative DFS to find discovery order and back edges
        stack = [(name, iter(_successors(states[name])))]
        colour[name] = 1
        order.append(name)
        while stack:
            current, successors = stack[-1]
            advanced = False
            for target, kind in successors:
                if target not in states:
                    continue
                if colour.get(target) == 1:
                    edges.append(Edge(current, target, "back"))
                    continue
                edges.append(Edge(current, target, kind))
                if target not in colour:
                    colour[target] = 1
                    order.append(target)
                    stack.append((target, iter(_successors(states[target]))))
                    advanced = True
                    break
            if not advanced:
                colour[current] = 2
                stack.pop()

    if start:
        visit(start)
    for name in states:
        if name not in colour:
            visit(name)

    layer = {name: 0 for name in order}
    forward = [e for e in edges if e.kind != "back"]
    for _ in range(len(order)):  # longest path over the DAG of forward edges
        changed = False
        for edge in forward:
            if layer[edge.target] < layer[edge.source] + 1:
                layer[edge.target] = layer[edge.source] + 1
                changed = True
        if not changed:
            break

    nodes: dict[str, Node] = {}
    for name in order:
        state = states[name]
        type_ = str(state.get("Type") or "Task")
        branches = [layout_machine(b) for b in _branches(state)]
        if branches:
            side = sum(b.width for b in branches) + NODE_GAP * (len(branches) - 1) + 2 * PAD
            stacked = side > MAX_SIDE_BY_SIDE and len(branches) > 1
            if stacked:
                width = max(b.width for b in branches) + 2 * PAD
                height = sum(b.height for b in branches) + 2 * NODE_GAP * (len(branches) - 1)
                height += HEADER + PAD
            else:
                width = side
                height = max(b.height for b in branches) + HEADER + PAD
            width = max(width, _node_width(name, type_) + 120)
            nodes[name] = Node(name, type_, width, height, branches=branches, stacked=stacked)
        else:
            lines = len(name_lines(name))
            nodes[name] = Node(name, type_, _node_width(name, type_), NODE_H + LINE_H * (lines - 1))

    layers: dict[int, list[str]] = {}
    for name in order:
        layers.setdefault(layer[name], []).append(name)
    total_w = max(
        (sum(nodes[n].width for n in ns) + NODE_GAP * (len(ns) - 1) for ns in layers.values()),
        default=0.0,
    )
    preds: dict[str, list[tuple[str, str]]] = {}
    for edge in forward:
        preds.setdefault(edge.target, []).append((edge.source, edge.kind))
    y = 0.0
    for index in sorted(layers):
        names = layers[index]
        if index > 0:  # barycentre ordering: sit under the predecessors to cut crossings
            rank = {n: i for i, n in enumerate(names)}

            def centre(n: str, rank: dict[str, int] = rank) -> tuple[float, int]:
                main = [p for p, kind in preds.get(n, []) if kind != "catch"]
                sources = main or [p for p, _ in preds.get(n, [])]
                if not sources:
                    return (float("inf"), rank[n])
                return (sum(nodes[p].cx for p in sources) / len(sources), rank[n])

            names.sort(key=centre)
        row_w = sum(nodes[n].width for n in names) + NODE_GAP * (len(names) - 1)
        row_h = max(nodes[n].height for n in names)
        x = (total_w - row_w) / 2
        for n in names:
            nodes[n].x = x
            nodes[n].y = y
            x += nodes[n].width + NODE_GAP
        y += row_h + LAYER_GAP
    height = max(0.0, y - LAYER_GAP)
    terminals = [
        n
        for n in order
        if states[n].get("End") is True or states[n].get("Type") in ("Succeed", "Fail")
    ]
    return Layout(nodes, edges, total_w, height, start, terminals)


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _Painter:
    def __init__(self, runs: dict[str, StateRun]):
        self.runs = runs
        self.bg_parts: list[str] = []
        self.parts: list[str] = []
        self.edge_parts: list[str] = []

    def outcome(self, name: str) -> str:
        run = self.runs.get(name)
        return run.outcome if run else NOT_RUN

    def taken(self, edge: Edge) -> bool:
        src, dst = self.outcome(edge.source), self.outcome(edge.target)
        if NOT_RUN in (src, dst):
            return False
        if edge.kind == "catch":
            return src in (CAUGHT, FAILED)
        return True

    def paint(self, layout: Layout, ox: float, oy: float) -> None:
        for edge in layout.edges:
            self.edge(layout.nodes[edge.source], layout.nodes[edge.target], edge, ox, oy)
        for node in layout.nodes.values():
            self.node(node, ox, oy)

    def edge(self, src: Node, dst: Node, edge: Edge, ox: float, oy: float) -> None:
        taken = self.taken(edge)
        stroke = "#414d5c" if taken else "#c6cdd2"
        if edge.kind == "catch":
            stroke = COLOURS[CAUGHT][1] if taken else "#e9c9a0"
        dash = ' stroke-dasharray="5 4"' if edge.kind in ("catch", "back") else ""
        marker = "arrow-taken" if taken else "arrow"
        if edge.kind == "catch":
            marker = "arrow-catch"
        if edge.kind == "back":
            x1, y1 = ox + src.x + src.width, oy + src.y + src.height / 2
            x2, y2 = ox + dst.x + dst.width, oy + dst.y + dst.height / 2
            bulge = max(x1, x2) + 46
            path = f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2 + 2:.1f},{y2:.1f}"
        else:
            x1, y1 = ox + src.cx, oy + src.y + src.height
            x2, y2 = ox + dst.cx, oy + dst.y
            mid = (y2 - y1) / 2
            path = (
                f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + mid:.1f} {x2:.1f},{y2 - mid:.1f} "
                f"{x2:.1f},{y2 - 2:.1f}"
            )
        width = "2" if taken else "1.4"
        self.edge_parts.append(
            f'<path class="edge edge-{edge.kind}{" taken" if taken else ""}" d="{path}" '
            f'fill="none" stroke="{stroke}" stroke-width="{width}"{dash} '
            f'marker-end="url(#{marker})"/>'
        )

    def node(self, node: Node, ox: float, oy: float) -> None:
        outcome = self.outcome(node.name)
        fill, stroke, label = COLOURS[outcome]
        run = self.runs.get(node.name)
        x, y = ox + node.x, oy + node.y
        name = escape(node.name)
        tip = [f"{node.name} ({node.type}): {label}"]
        detail = node.type
        if run is not None:
            if run.duration is not None:
                detail += f" · {fmt_seconds(run.duration)}"
                tip.append(f"duration {fmt_seconds(run.duration)}")
            if run.attempts > 1:
                detail += f" · {run.attempts} attempts"
            if len(run.visits) > 1:
                tip.append(f"{len(run.visits)} visits")
            tip += [f"{err}: {cause}"[:300] for err, cause in run.errors]
        title = f"<title>{escape(chr(10).join(tip))}</title>"
        attrs = (
            f'class="state state-{outcome}" data-state="{name}" data-outcome="{outcome}" '
            f'data-type="{escape(node.type)}"'
        )
        if node.branches:
            self.bg_parts.append(
                f'<rect class="container" x="{x:.1f}" y="{y:.1f}" width="{node.width:.1f}" '
                f'height="{node.height:.1f}" rx="10" fill="{fill}" fill-opacity="0.35" '
                f'stroke="{stroke}" stroke-width="1.6" stroke-dasharray="7 4"/>'
            )
            self.parts.append(
                f"<g {attrs}>{title}"
                f'<text x="{x + 12:.1f}" y="{y + 20:.1f}" class="container-label">'
                f"{name}<tspan class='node-sub' dx='8'>{escape(detail)}</tspan></text></g>"
            )
            inner = sum(b.width for b in node.branches) + NODE_GAP * (len(node.branches) - 1)
            bx = x + (node.width - inner) / 2
            by = y + HEADER
            for branch in node.branches:
                if node.stacked:
                    bx = x + (node.width - branch.width) / 2
                self.bg_parts.append(
                    f'<rect class="branch" x="{bx - 8:.1f}" y="{by - 6:.1f}" '
                    f'width="{branch.width + 16:.1f}" height="{branch.height + 12:.1f}" rx="8" '
                    'fill="#ffffff" fill-opacity="0.6" stroke="#d5dbdb" stroke-width="1"/>'
                )
                self.paint(branch, bx, by)
                if node.stacked:
                    by += branch.height + 2 * NODE_GAP
                else:
                    bx += branch.width + NODE_GAP
            return
        lines = name_lines(node.name)
        name_svg = escape(lines[0]) + "".join(
            f'<tspan x="{x + 30:.1f}" dy="{LINE_H}">{escape(line)}</tspan>' for line in lines[1:]
        )
        icon = {"Fail": "✕", "Succeed": "✓", "Choice": "◆", "Wait": "◷", "Pass": "→"}.get(
            node.type, "▣"
        )
        self.parts.append(
            f"<g {attrs}>{title}"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.width:.1f}" height="{node.height:.1f}" '
            f'rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{2 if outcome != NOT_RUN else 1.2}"'
            f"{'' if outcome != NOT_RUN else ' stroke-dasharray=' + chr(34) + '4 3' + chr(34)}/>"
            f'<text x="{x + 12:.1f}" y="{y + 19:.1f}" class="node-icon" fill="{stroke}">{icon}</text>'
            f'<text x="{x + 30:.1f}" y="{y + 19:.1f}" class="node-name'
            f'{" dim" if outcome == NOT_RUN else ""}">{name_svg}</text>'
            f'<text x="{x + 30:.1f}" y="{y + node.height - 10:.1f}" class="node-sub">'
            f"{escape(detail)}</text></g>"
        )


def render_svg(asl: dict[str, Any] | None, runs: dict[str, StateRun]) -> str:
    """The whole graph as one <svg> element (or an explanatory paragraph)."""
    if not asl or not isinstance(asl.get("States"), dict):
        return '<p class="muted">The state machine definition was not found.</p>'
    layout = layout_machine(asl)
    margin = 24
    pill_w, pill_h = 84, 28
    extra_right = 60 if any(e.kind == "back" for e in _all_edges(layout)) else 0
    width = max(layout.width, pill_w) + 2 * margin + extra_right
    top = margin + pill_h + LAYER_GAP
    height = top + layout.height + LAYER_GAP + pill_h + margin
    painter = _Painter(runs)
    ox = margin + (width - 2 * margin - extra_right - layout.width) / 2
    painter.paint(layout, ox, top)
    cx = ox + layout.width / 2
    started = any(r.visits for r in runs.values())
    start_stroke = "#414d5c" if started else "#aab7b8"
    pills = [
        f'<g class="pill pill-start"><rect x="{cx - pill_w / 2:.1f}" y="{margin}" width="{pill_w}" '
        f'height="{pill_h}" rx="14" fill="#ffffff" stroke="{start_stroke}" stroke-width="1.5"/>'
        f'<text x="{cx:.1f}" y="{margin + 18}" text-anchor="middle" class="pill-text">Start</text></g>'
    ]
    end_y = top + layout.height + LAYER_GAP
    pills.append(
        f'<g class="pill pill-end"><rect x="{cx - pill_w / 2:.1f}" y="{end_y:.1f}" width="{pill_w}" '
        f'height="{pill_h}" rx="14" fill="#ffffff" stroke="{start_stroke}" stroke-width="1.5"/>'
        f'<text x="{cx:.1f}" y="{end_y + 18:.1f}" text-anchor="middle" class="pill-text">End</text></g>'
    )
    if layout.start:
        first = layout.nodes[layout.start]
        x2, y2 = ox + first.cx, top + first.y
        painter.edge_parts.append(
            f'<path class="edge" d="M{cx:.1f},{margin + pill_h} C{cx:.1f},{y2 - 16:.1f} '
            f'{x2:.1f},{margin + pill_h + 16} {x2:.1f},{y2 - 2:.1f}" fill="none" '
            f'stroke="{start_stroke}" stroke-width="2" marker-end="url(#arrow-taken)"/>'
        )
    for name in layout.terminals:
        node = layout.nodes[name]
        taken = painter.outcome(name) != NOT_RUN
        x1, y1 = ox + node.cx, top + node.y + node.height
        mid = (end_y - y1) / 2
        painter.edge_parts.append(
            f'<path class="edge{" taken" if taken else ""}" d="M{x1:.1f},{y1:.1f} '
            f'C{x1:.1f},{y1 + mid:.1f} {cx:.1f},{end_y - mid:.1f} {cx:.1f},{end_y - 2:.1f}" '
            f'fill="none" stroke="{"#414d5c" if taken else "#c6cdd2"}" '
            f'stroke-width="{2 if taken else 1.4}" '
            f'marker-end="url(#{"arrow-taken" if taken else "arrow"})"/>'
        )
    defs = "".join(
        f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
        f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
        for mid, colour in (
            ("arrow", "#c6cdd2"),
            ("arrow-taken", "#414d5c"),
            ("arrow-catch", COLOURS[CAUGHT][1]),
        )
    )
    return (
        f'<svg id="execution-graph" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="Execution graph" width="{width:.0f}" height="{height:.0f}" '
        f'style="max-width:100%;height:auto" '
        f'viewBox="0 0 {width:.0f} {height:.0f}"><defs>{defs}</defs>'
        + "".join(painter.bg_parts)
        + "".join(painter.edge_parts)
        + "".join(pills)
        + "".join(painter.parts)
        + "</svg>"
    )


def _all_edges(layout: Layout) -> list[Edge]:
    out = list(layout.edges)
    for node in layout.nodes.values():
        for branch in node.branches:
            out += _all_edges(branch)
    return out


def legend_html() -> str:
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{fill};'
        f'border-color:{stroke}"></span>{escape(label)}</span>'
        for fill, stroke, label in COLOURS.values()
    )
    return f'<div class="legend" id="graph-legend">{items}</div>'


def state_type_map(asl: dict[str, Any] | None) -> dict[str, str]:
    """state name -> Type over the whole definition (including branches)."""
    out: dict[str, str] = {}

    def walk(machine: dict[str, Any]) -> None:
        for name, state in (machine.get("States") or {}).items():
            if isinstance(state, dict):
                out[name] = str(state.get("Type") or "")
                for branch in _branches(state):
                    walk(branch)

    if asl:
        walk(asl)
    return out

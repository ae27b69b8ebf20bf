"""pytest plugin: the reliability figures (``make reliability`` loads it with ``-p``).

Tests declare what they are with the ``reliability`` marker's keyword arguments::

    @pytest.mark.reliability(kind="hostile", outcome="quarantined" | "accepted" | "stopped")
    @pytest.mark.reliability(kind="fault")
    @pytest.mark.reliability(kind="security")

and may report ``record_property("rows_lost", n)`` and ``record_property("note", text)``.
At the end of the session the plugin prints, for the tests that ran::

    hostile-input cases tried: N (quarantined Q, accepted as valid A, stopped the run S, failed F)
    faults injected: N, survived: S
    rows lost: 0
"""

from __future__ import annotations

import pytest

_RESULTS: dict[str, dict] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("reliability")
    if marker is not None:
        report.user_properties.append(("_reliability", dict(marker.kwargs)))


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    meta = props.get("_reliability")
    if meta is None:
        return
    entry = _RESULTS.setdefault(report.nodeid, {"meta": meta, "status": None})
    if "rows_lost" in props:
        entry["rows_lost"] = props["rows_lost"]
    if "note" in props:
        entry["note"] = props["note"]
    if report.failed:
        entry["status"] = "failed"
    elif report.skipped and entry["status"] != "failed":
        entry["status"] = "skipped"
    elif report.when == "call" and entry["status"] is None:
        entry["status"] = "passed"


def summary_lines(results: dict[str, dict] | None = None) -> list[str]:
    results = _RESULTS if results is None else results
    by_kind: dict[str, list[dict]] = {}
    for entry in results.values():
        by_kind.setdefault(entry["meta"].get("kind", "other"), []).append(entry)

    def count(entries, status=None, outcome=None):
        return sum(
            1
            for e in entries
            if (status is None or e["status"] == status)
            and (outcome is None or e["meta"].get("outcome") == outcome)
        )

    lines = []
    hostile = by_kind.get("hostile", [])
    if hostile:
        ran = [e for e in hostile if e["status"] != "skipped"]
        lines.append(
            f"hostile-input cases tried: {len(ran)} "
            f"(quarantined {count(ran, 'passed', 'quarantined')}, "
            f"accepted as valid {count(ran, 'passed', 'accepted')}, "
            f"stopped the run {count(ran, 'passed', 'stopped')}, "
            f"failed {count(ran, 'failed')})"
            + (f"; skipped {len(hostile) - len(ran)}" if len(ran) < len(hostile) else "")
        )
    faults = by_kind.get("fault", [])
    if faults:
        ran = [e for e in faults if e["status"] != "skipped"]
        lines.append(
            f"faults injected: {len(ran)}, survived: {count(ran, 'passed')}"
            + (f"; skipped {len(faults) - len(ran)}" if len(ran) < len(faults) else "")
        )
    security = by_kind.get("security", [])
    if security:
        ran = [e for e in security if e["status"] != "skipped"]
        lines.append(f"security checks: {len(ran)}, passed: {count(ran, 'passed')}")
    if hostile or faults:
        lost = sum(int(e.get("rows_lost", 0)) for e in results.values())
        unknown = sum(
            1
            for e in results.values()
            if e["status"] == "failed"
            and "rows_lost" not in e
            and e["meta"].get("kind") in ("hostile", "fault")
        )
        lines.append(
            f"rows lost: {lost}" + (f" (not measured in {unknown} failed tests)" if unknown else "")
        )
    lines += [f"note: {e['note']}" for e in results.values() if e.get("note")]
    return lines


def pytest_terminal_summary(terminalreporter):
    lines = summary_lines()
    if not lines:
        return
    terminalreporter.write_sep("=", "reliability summary")
    for line in lines:
        terminalreporter.write_line(line)

"""Load the state-machine definition, fill its ``${Placeholder}`` values and walk its states."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

STATE_MACHINE_NAME = "CarRentalDataPipeline"
DEFINITION_PATH = (
    Path(__file__).resolve().parent.parent / "statemachine" / ("car_rental_pipeline.asl.json")
)

#: Every placeholder the definition may use (CloudFormation DefinitionSubstitutions keys).
PLACEHOLDERS: tuple[str, ...] = (
    "DataBucket",
    "ArtifactsPrefix",
    "EmrApplicationId",
    "EmrJobRoleArn",
    "VehicleLocationCrawlerName",
    "UserTransactionCrawlerName",
    "AlertTopicArn",
    "AthenaWorkGroup",
    "AthenaResultsPrefix",
    "DbtCodeBuildProject",
    "GlueDatabase",
    "AnalyticsDatabase",
)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class DefinitionError(ValueError):
    """The definition cannot run: unbound placeholder, unknown resource, bad structure."""


def load_text(path: str | Path | None = None) -> str:
    return Path(path or DEFINITION_PATH).read_text(encoding="utf-8")


def placeholders_in(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> dict[str, Any]:
    """Fill every ``${Name}`` (like DefinitionSubstitutions) and parse; unbound names raise."""
    missing = sorted(placeholders_in(text) - set(values))
    if missing:
        raise DefinitionError(f"unbound placeholders in the definition: {', '.join(missing)}")
    filled = _PLACEHOLDER.sub(lambda m: json.dumps(str(values[m.group(1)]))[1:-1], text)
    return json.loads(filled)


def load_definition(values: Mapping[str, str], path: str | Path | None = None) -> dict[str, Any]:
    return substitute(load_text(path), values)


def iter_states(machine: Mapping[str, Any], scope: str = "") -> Iterator[tuple[str, str, dict]]:
    """Yield ``(scope, name, state)`` for every state, descending into Parallel branches."""
    for name, state in machine["States"].items():
        yield scope, name, state
        for index, branch in enumerate(state.get("Branches", ())):
            yield from iter_states(branch, f"{scope}{name}[{index}]/")


def resources(machine: Mapping[str, Any]) -> set[str]:
    return {s["Resource"] for _, _, s in iter_states(machine) if s.get("Type") == "Task"}


def check_runnable(machine: Mapping[str, Any], handlers: Mapping[str, Any]) -> None:
    """Raise DefinitionError for unbound placeholders or a Task resource without a handler."""
    text = json.dumps(machine)
    left = placeholders_in(text)
    if left:
        raise DefinitionError(f"unbound placeholders: {', '.join(sorted(left))}")
    unknown = sorted(resources(machine) - set(handlers))
    if unknown:
        raise DefinitionError(
            "no local binding for resource(s): "
            + ", ".join(unknown)
            + " (see orchestration.executor.bindings.LOCAL_BINDINGS)"
        )

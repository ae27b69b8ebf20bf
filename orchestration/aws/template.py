"""Load the CloudFormation template (YAML with short-form intrinsics) into plain Python.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``
and every other ``!Tag`` becomes ``{"Fn::Tag": ...}``, which is what CloudFormation itself
does. Tests and the deploy command read the template through this one loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "cloudformation" / "carrental.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form tags."""


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template at ``path`` as a dict, intrinsic functions in their long form."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_CfnLoader)


def iam_statements(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM policy statement of the template's roles: (role, policy name, statement)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            statements = policy["PolicyDocument"]["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                found.append((logical_id, policy["PolicyName"], statement))
    return found


def resolve_intrinsic(value: Any, parameters: dict[str, str]) -> Any:
    """``value`` with Ref / Fn::Sub / Fn::Split / Fn::Join of parameters evaluated."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve_intrinsic(item, parameters) for item in value]
    if "Ref" in value:
        return parameters[value["Ref"]]
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([\w:]+)\}", lambda m: parameters[m.group(1)], value["Fn::Sub"])
    if "Fn::Split" in value:
        separator, source = value["Fn::Split"]
        return resolve_intrinsic(source, parameters).split(separator)
    if "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return separator.join(resolve_intrinsic(items, parameters))
    raise ValueError(f"cannot resolve {value!r} without a stack")


def glue_database_names(environment: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    """The Glue database names a stack of ``environment`` creates, by logical id.

    The template derives them from EnvironmentName, so two environments of one account and
    region never collide: ``{"GlueDatabase": "<env>_car_rental_db", ...}``.
    """
    template = template if template is not None else load_template()
    parameters = {"EnvironmentName": environment}
    return {
        logical_id: resolve_intrinsic(resource["Properties"]["DatabaseInput"]["Name"], parameters)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Glue::Database"
    }

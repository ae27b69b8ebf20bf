"""The dbt runner role grants every Glue call dbt-athena makes for the project's models.

The calls are found by reading the installed dbt-athena: the Jinja macros reachable from the
materializations the project uses (and from dbt's own run steps), the adapter methods those
macros call, and, inside the adapter, every ``<glue client>.<method>(...)`` and
``get_paginator("<method>")`` reachable from those methods. Each boto3 method maps to the IAM
action of the same name (``get_table_versions`` -> ``glue:GetTableVersions``).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.aws.packaging import REPO_ROOT
from orchestration.aws.template import iam_statements, load_template

TEMPLATE = load_template()

_adapter_spec = importlib.util.find_spec("dbt.adapters.athena.impl")
_include_spec = importlib.util.find_spec("dbt.include.athena")
pytestmark = pytest.mark.skipif(
    _adapter_spec is None or _include_spec is None, reason="dbt-athena is not installed"
)

#: Macros dbt itself calls around every model, whatever its materialization: caching the
#: relations of a schema, listing and creating schemas, reading columns, dropping relations.
DBT_RUN_STEPS = {
    "list_relations_without_caching",
    "list_schemas",
    "create_schema",
    "get_columns_in_relation",
    "drop_relation",
}

#: Adapter methods dbt-athena inherits from dbt-adapters and what they end up calling.
#: ``get_relation`` fills dbt's relation cache with ``list_relations_without_caching``.
INHERITED_METHODS = {"get_relation": {"list_relations_without_caching"}}

_BLOCK = re.compile(
    r"{%-?\s*(macro|materialization)\s+(\w+)(.*?)-?%}(.*?){%-?\s*end\1\s*-?%}", re.S
)


def _macro_blocks(paths: list[Path]) -> tuple[dict[str, str], dict[str, str]]:
    """(macros, materializations) by name: their Jinja bodies."""
    macros: dict[str, str] = {}
    materializations: dict[str, str] = {}
    for path in paths:
        for kind, name, header, body in _BLOCK.findall(path.read_text(encoding="utf-8")):
            if kind == "macro":
                macros[name] = body
            elif "athena" in header or "adapter" not in header:
                materializations[name] = body
    return macros, materializations


def _used_materializations() -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("+materialized", "materialized"):
                    found.add(value)
                walk(value)

    walk(yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text(encoding="utf-8")))
    for sql in (REPO_ROOT / "dbt_project" / "models").rglob("*.sql"):
        found |= set(re.findall(r"materialized\s*=\s*['\"](\w+)['\"]", sql.read_text()))
    return found


def _reachable_adapter_methods() -> set[str]:
    athena_macros = sorted(
        Path(next(iter(_include_spec.submodule_search_locations))).rglob("*.sql")
    )
    project_macros = sorted((REPO_ROOT / "dbt_project" / "macros").rglob("*.sql"))
    macros, materializations = _macro_blocks(athena_macros + project_macros)
    project_macro_names = set(_macro_blocks(project_macros)[0])

    used = _used_materializations()
    assert used, "no materialization found in the dbt project"
    assert used <= set(materializations), used - set(materializations)
    todo = [materializations[m] for m in used]
    todo += [macros[n] for n in project_macro_names]
    todo += [macros[f"athena__{n}"] for n in DBT_RUN_STEPS if f"athena__{n}" in macros]
    seen_macros: set[str] = set()
    methods: set[str] = set()
    while todo:
        body = todo.pop()
        methods |= set(re.findall(r"\badapter\.(\w+)\(", body))
        called = set(re.findall(r"(?<![.\w])(\w+)\(", body))
        called |= set(re.findall(r"adapter\.dispatch\(\s*['\"](\w+)['\"]", body))
        for name in called:
            for candidate in (name, f"athena__{name}"):
                if candidate in macros and candidate not in seen_macros:
                    seen_macros.add(candidate)
                    todo.append(macros[candidate])
    for method in list(methods):
        methods |= INHERITED_METHODS.get(method, set())
    return methods | {"list_relations_without_caching", "list_schemas"}


def _glue_calls_by_method() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per adapter method: the boto3 Glue methods it calls, and the adapter methods it calls."""
    tree = ast.parse(Path(_adapter_spec.origin).read_text(encoding="utf-8"))
    adapter = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "AthenaAdapter"
    )
    glue: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for method in adapter.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        clients = {"glue_client"}
        for node in ast.walk(method):
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and isinstance(node.value, ast.Call)
                and node.value.args
                and isinstance(node.value.args[0], ast.Constant)
                and node.value.args[0].value == "glue"
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                clients |= {t.id for t in targets if isinstance(t, ast.Name)}
        glue[method.name] = set()
        calls[method.name] = set()
        for node in ast.walk(method):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in clients:
                if node.func.attr == "get_paginator":
                    glue[method.name].add(node.args[0].value)
                else:
                    glue[method.name].add(node.func.attr)
            elif isinstance(owner, ast.Name) and owner.id == "self":
                calls[method.name].add(node.func.attr)
    return glue, calls


def _iam_action(boto_method: str) -> str:
    return "glue:" + "".join(part.capitalize() for part in boto_method.split("_"))


def dbt_glue_actions() -> set[str]:
    glue, calls = _glue_calls_by_method()
    todo = [m for m in _reachable_adapter_methods() if m in glue]
    seen: set[str] = set()
    while todo:
        method = todo.pop()
        if method in seen:
            continue
        seen.add(method)
        todo += [m for m in calls[method] if m in glue]
    return {_iam_action(call) for method in seen for call in glue[method]}


def _actions_on(role: str, resource: str) -> set[str]:
    granted: set[str] = set()
    for owner, _, statement in iam_statements(TEMPLATE):
        resources = statement["Resource"]
        texts = [
            r["Fn::Sub"] if isinstance(r, dict) and "Fn::Sub" in r else r
            for r in (resources if isinstance(resources, list) else [resources])
        ]
        if owner == role and statement["Effect"] == "Allow" and resource in texts:
            actions = statement["Action"]
            granted |= set(actions if isinstance(actions, list) else [actions])
    return granted


ANALYTICS_TABLES = (
    "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${AnalyticsDatabase}/*"
)


def test_the_scan_finds_the_calls_it_is_meant_to_find():
    """If dbt-athena moves its Glue calls, the scan must still see them, or the next test
    would pass on an empty set."""
    actions = dbt_glue_actions()
    # view.sql and table.sql call adapter.expire_glue_table_versions, which pages through
    # GetTableVersions and calls DeleteTableVersion; persist_docs_to_glue calls
    # GetTable/UpdateTable; the relation cache pages through GetTables.
    assert {
        "glue:GetTableVersions",
        "glue:DeleteTableVersion",
        "glue:GetTable",
        "glue:UpdateTable",
        "glue:GetTables",
        "glue:DeleteTable",
    } <= actions, actions
    assert all(re.fullmatch(r"glue:[A-Z][A-Za-z]+", a) for a in actions), actions


def test_dbt_runner_role_grants_every_glue_call_of_its_materializations():
    needed = dbt_glue_actions()
    granted = _actions_on("DbtRunnerRole", ANALYTICS_TABLES)
    assert needed <= granted, f"DbtRunnerRole lacks {sorted(needed - granted)}"


def test_table_version_actions_are_scoped_to_the_analytics_database():
    versions = {"glue:GetTableVersions", "glue:DeleteTableVersion"}
    for role, _, statement in iam_statements(TEMPLATE):
        actions = statement["Action"]
        if versions & set(actions if isinstance(actions, list) else [actions]):
            assert role == "DbtRunnerRole"
            texts = [r["Fn::Sub"] for r in statement["Resource"]]
            assert all(
                t.endswith((":catalog", "database/${AnalyticsDatabase}", ANALYTICS_TABLES))
                for t in texts
            ), texts

"""JSONPath subset and intrinsic functions of the local executor."""

from __future__ import annotations

import json
import re

import pytest

from orchestration.executor.paths import (
    PathError,
    evaluate,
    get_path,
    resolve_parameters,
    set_path,
)

DATA = {"a": {"b": [10, {"c": "x"}]}, "run": "r1", "n": 2, "odd key": 1}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),
        ("$.run", "r1"),
        ("$.a.b[0]", 10),
        ("$.a.b[1].c", "x"),
        ("$['odd key']", 1),
    ],
)
def test_get_path(path, expected):
    assert get_path(DATA, path) == expected


@pytest.mark.parametrize("path", ["$.nope", "$.a.b[5]", "$.run.x", "a.b"])
def test_missing_paths_raise(path):
    with pytest.raises(PathError):
        get_path(DATA, path)


def test_context_path():
    assert get_path({}, "$$.Execution.Name", {"Execution": {"Name": "e1"}}) == "e1"


def test_set_path_creates_and_discards():
    assert set_path({"x": 1}, "$.y.z", 2) == {"x": 1, "y": {"z": 2}}
    assert set_path({"x": 1}, None, 2) == {"x": 1}
    assert set_path({"x": 1}, "$", 2) == 2
    original = {"x": {"k": 1}}
    set_path(original, "$.x.k", 5)
    assert original == {"x": {"k": 1}}  # input not mutated


def test_intrinsics():
    assert evaluate("States.Format('job-{}-{}', $.run, $.n)", DATA) == "job-r1-2"
    assert evaluate("States.Format('a, b {} \\{literal\\}', $.run)", DATA) == "a, b r1 {literal}"
    assert evaluate("States.Format('it\\'s {}', $.run)", DATA) == "it's r1"
    assert evaluate("States.Array('--run-id', $.run, 3)", DATA) == ["--run-id", "r1", 3]
    assert evaluate("States.MathAdd($.n, 1)", DATA) == 3
    assert evaluate("States.JsonMerge($.a, States.StringToJson('{\"z\": 1}'), false)", DATA) == {
        "b": [10, {"c": "x"}],
        "z": 1,
    }
    assert json.loads(evaluate("States.JsonToString($.a.b[1])", DATA)) == {"c": "x"}
    assert evaluate("States.ArrayGetItem($.a.b, 0)", DATA) == 10
    assert evaluate("States.ArrayLength($.a.b)", DATA) == 2
    assert re.fullmatch(r"[0-9a-f-]{36}", evaluate("States.UUID()", DATA))
    assert (
        evaluate("States.Format('{} / {}', $.run, States.JsonToString($.a.b[1]))", DATA)
        == 'r1 / {"c":"x"}'
    )


def test_intrinsic_errors():
    with pytest.raises(PathError):
        evaluate("States.Format('{} {}', $.run)", DATA)
    with pytest.raises(PathError):
        evaluate("States.Nope(1)", DATA)
    with pytest.raises(PathError):
        evaluate("States.ArrayGetItem($.a.b, 9)", DATA)


def test_resolve_parameters_nested():
    template = {"k.$": "$.run", "lit": {"deep.$": "$.n", "x": [1, {"y.$": "$.a.b[0]"}]}}
    assert resolve_parameters(template, DATA) == {
        "k": "r1",
        "lit": {"deep": 2, "x": [1, {"y": 10}]},
    }

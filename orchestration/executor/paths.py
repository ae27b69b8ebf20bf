"""JSONPath (the subset ASL uses) and the ASL intrinsic functions.

Supported paths: ``$``, ``$.a.b``, ``$['a']``, ``$.list[0]``, and context paths ``$$.Execution.Name``.
Supported intrinsics: States.Format, States.Array, States.UUID, States.JsonMerge (shallow),
States.MathAdd, States.JsonToString, States.StringToJson, States.ArrayGetItem, States.ArrayLength.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any


class PathError(Exception):
    """A path or intrinsic could not be evaluated (``States.Runtime`` on AWS)."""


_TOKEN = re.compile(r"\.([A-Za-z0-9_\-]+)|\['([^']*)'\]|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """Split ``$.a['b'][0]`` into ``['a', 'b', 0]`` (the leading ``$`` or ``$$`` is dropped)."""
    if not path.startswith("$"):
        raise PathError(f"not a JSONPath: {path!r}")
    rest = path[2:] if path.startswith("$$") else path[1:]
    parts: list[str | int] = []
    pos = 0
    while pos < len(rest):
        match = _TOKEN.match(rest, pos)
        if not match:
            raise PathError(f"unsupported JSONPath syntax in {path!r} at {rest[pos:]!r}")
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
        pos = match.end()
    return parts


def get_path(data: Any, path: str, context: dict | None = None) -> Any:
    """Value at ``path`` in ``data`` (or in ``context`` for ``$$.`` paths); PathError when absent."""
    root = context if path.startswith("$$") else data
    if path.startswith("$$") and context is None:
        raise PathError(f"no context object for {path!r}")
    value = root
    for part in parse_path(path):
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                raise PathError(f"{path!r}: no index {part}")
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                raise PathError(f"{path!r}: no field {part!r}")
            value = value[part]
    return value


def is_present(data: Any, path: str, context: dict | None = None) -> bool:
    try:
        get_path(data, path, context)
    except PathError:
        return False
    return True


def set_path(data: Any, path: str | None, value: Any) -> Any:
    """ResultPath semantics: return a copy of ``data`` with ``value`` at ``path``.

    ``None`` discards the result (returns ``data``); ``$`` replaces the whole input; missing
    intermediate objects are created.
    """
    if path is None:
        return data
    parts = parse_path(path)
    if not parts:
        return value
    if not isinstance(data, dict):
        raise PathError(f"ResultPath {path!r} needs an object input, got {type(data).__name__}")
    out = copy.deepcopy(data)
    node = out
    for part in parts[:-1]:
        if isinstance(part, int):
            raise PathError(f"ResultPath {path!r}: list indexes are not supported")
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return out


# --- intrinsic functions ---------------------------------------------------------------------


def _split_args(text: str) -> list[str]:
    args, depth, quoted, current, i = [], 0, False, [], 0
    while i < len(text):
        char = text[i]
        if quoted:
            current.append(char)
            if char == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
            current.append(char)
        elif char == "(":
            depth += 1
            current.append(char)
        elif char == ")":
            depth -= 1
            current.append(char)
        elif char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    if quoted or depth:
        raise PathError(f"unbalanced intrinsic arguments: {text!r}")
    tail = "".join(current).strip()
    if tail or args:
        args.append(tail)
    return args


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


def _format(template: str, *values: Any) -> str:
    pieces = re.split(r"(?<!\\)\{\}", template)
    if len(pieces) - 1 != len(values):
        raise PathError(f"States.Format: {len(pieces) - 1} placeholders, {len(values)} arguments")
    out = [_unescape(pieces[0])]
    for value, piece in zip(values, pieces[1:], strict=True):
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        out.extend([text, _unescape(piece)])
    return "".join(out)


def _json_merge(left: Any, right: Any, deep: Any) -> dict:
    if deep is not False:
        raise PathError("States.JsonMerge: only shallow merge (false) is supported")
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise PathError("States.JsonMerge needs two objects")
    return {**left, **right}


def _math_add(left: Any, right: Any) -> int:
    return int(left) + int(right)


def _array_get(items: Any, index: Any) -> Any:
    if not isinstance(items, list) or not 0 <= int(index) < len(items):
        raise PathError("States.ArrayGetItem: index out of range")
    return items[int(index)]


INTRINSICS = {
    "States.Format": lambda template, *values: _format(template, *values),
    "States.Array": lambda *values: list(values),
    "States.UUID": lambda: str(uuid.uuid4()),
    "States.JsonMerge": _json_merge,
    "States.MathAdd": _math_add,
    "States.JsonToString": lambda value: json.dumps(value, separators=(",", ":")),
    "States.StringToJson": lambda text: json.loads(text),
    "States.ArrayGetItem": _array_get,
    "States.ArrayLength": lambda items: len(items),
}

_CALL = re.compile(r"^(States\.[A-Za-z]+)\((.*)\)$", re.S)


def evaluate(expression: str, data: Any, context: dict | None = None) -> Any:
    """Evaluate the value of a ``"key.$"`` field: a JSONPath or an intrinsic function call."""
    expression = expression.strip()
    call = _CALL.match(expression)
    if call:
        name, body = call.groups()
        if name not in INTRINSICS:
            raise PathError(f"unsupported intrinsic function {name}")
        args = [_evaluate_arg(arg, data, context) for arg in _split_args(body)]
        try:
            return INTRINSICS[name](*args)
        except PathError:
            raise
        except (TypeError, ValueError) as exc:
            raise PathError(f"{name}: {exc}") from exc
    return get_path(data, expression, context)


def _evaluate_arg(arg: str, data: Any, context: dict | None) -> Any:
    if arg.startswith("'"):
        if not arg.endswith("'") or len(arg) < 2:
            raise PathError(f"bad string literal {arg!r}")
        inner = arg[1:-1]
        # keep \{ \} escapes for States.Format; unescape quotes and backslashes now
        return re.sub(r"\\([\\'])", r"\1", inner)
    if arg.startswith("$") or arg.startswith("States."):
        return evaluate(arg, data, context)
    if arg in ("true", "false"):
        return arg == "true"
    if arg == "null":
        return None
    try:
        return json.loads(arg)
    except json.JSONDecodeError as exc:
        raise PathError(f"bad intrinsic argument {arg!r}") from exc


def resolve_parameters(template: Any, data: Any, context: dict | None = None) -> Any:
    """Apply a Parameters/ResultSelector template: ``"k.$"`` fields are evaluated, others copied."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = evaluate(value, data, context)
            else:
                out[key] = resolve_parameters(value, data, context)
        return out
    if isinstance(template, list):
        return [resolve_parameters(item, data, context) for item in template]
    return copy.deepcopy(template)

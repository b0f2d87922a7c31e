"""Which arguments of which tools hold paths: ``tool_paths`` checked against the tools' schemas.

``tool_paths={"copy_file": {"src": "read", "dst": "write"}}`` names, per tool, the arguments that
hold paths. Each name is checked against the tool's own schema the first time the tool is seen
(:meth:`FilesystemPermissionMiddleware.check_tools`, which ``guardrails.deep.create_deep_agent``
calls when the agent is built, or the first call of the tool): an argument the tool does not take
is a :class:`~guardrails.errors.GuardrailConfigError` naming the tool, the argument and the ones it
has. A pydantic alias is accepted either way (``source`` or ``from``), and the call's arguments are
looked up under both, so a model sending the alias is checked too.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.errors import GuardrailConfigError
from guardrails.filesystem.rules import OPERATIONS

__all__ = [
    "ABSENT",
    "UNKNOWN",
    "ToolSpec",
    "alias_keys",
    "arg_values",
    "check_tool",
    "misspelt",
    "parse_tool_paths",
]

#: tool name -> argument name -> operations it needs
ToolSpec = dict[str, dict[str, tuple[str, ...]]]
#: An omitted required argument: the call fails validation before it touches anything.
ABSENT = object()
#: An omitted argument whose default the guardrail cannot read (None, or no schema).
UNKNOWN = object()


def parse_tool_paths(tool_paths: Mapping[str, Any] | None) -> ToolSpec:
    """``tool_paths`` validated: each tool maps argument names to one operation or a list."""
    spec: ToolSpec = {}
    if tool_paths is not None and not isinstance(tool_paths, Mapping):
        raise GuardrailConfigError(
            "tool_paths must map tool names to {argument: operation}, e.g. "
            f"{{'copy_file': {{'src': 'read', 'dst': 'write'}}}}; got {type(tool_paths).__name__}"
        )
    for tool, args in (tool_paths or {}).items():
        if not isinstance(args, Mapping) or not args:
            raise GuardrailConfigError(
                f"tool_paths[{tool!r}] must map argument names to an operation, "
                "e.g. {'src': 'read', 'dst': 'write'}"
            )
        one: dict[str, tuple[str, ...]] = {}
        for arg, ops in args.items():
            op_list = (ops,) if isinstance(ops, str) else tuple(ops)
            if not op_list or any(op not in OPERATIONS for op in op_list):
                raise GuardrailConfigError(
                    f"tool_paths[{tool!r}][{arg!r}] must be one of {list(OPERATIONS)} "
                    f"or a list of them, got {ops!r}"
                )
            one[str(arg)] = op_list
        spec[str(tool)] = one
    return spec


def _fields(tool: Any) -> dict[str, tuple[tuple[str, ...], Any]] | None:
    """``{field: (keys a call may use for it, pydantic FieldInfo or None)}``; None: unknown."""
    schema = getattr(tool, "args_schema", None)
    fields = getattr(schema, "model_fields", None)
    if isinstance(fields, Mapping):
        out: dict[str, tuple[tuple[str, ...], Any]] = {}
        for name, info in fields.items():
            keys = [name]
            for alias in (getattr(info, "alias", None), getattr(info, "validation_alias", None)):
                if isinstance(alias, str) and alias not in keys:
                    keys.append(alias)
            out[name] = (tuple(keys), info)
        return out
    if isinstance(schema, Mapping):
        props = schema.get("properties")
        if isinstance(props, Mapping):
            return {str(k): ((str(k),), None) for k in props}
    args = getattr(tool, "args", None)
    if isinstance(args, Mapping) and args:
        return {str(k): ((str(k),), None) for k in args}
    return None


_CHECKED: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, tuple[str, ...], Any]]] = (
    weakref.WeakKeyDictionary()
)


def check_tool(
    tool: Any, args: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, tuple[str, ...], Any]]:
    """``{configured argument: (field, keys, FieldInfo)}`` for ``tool``; or raise.

    Raises ``GuardrailConfigError`` when a configured argument is not one the tool takes (by
    name or alias) or the tool's arguments cannot be read at all.
    """
    try:
        cached = _CHECKED.get(tool)
    except TypeError:
        cached = None
    if cached is not None and set(cached) == set(args):
        return cached
    name = getattr(tool, "name", type(tool).__name__)
    fields = _fields(tool)
    if fields is None:
        raise GuardrailConfigError(
            f"tool_paths[{name!r}]: the tool's arguments cannot be read (no args_schema), so "
            f"{sorted(args)} cannot be checked; give the tool a schema"
        )
    out: dict[str, tuple[str, tuple[str, ...], Any]] = {}
    for arg in args:
        match = next((f for f, (keys, _) in fields.items() if arg in keys), None)
        if match is None:
            taken = sorted({k for keys, _ in fields.values() for k in keys})
            raise GuardrailConfigError(
                f"tool_paths[{name!r}] names argument {arg!r}, which tool {name!r} does not "
                f"take; its arguments are: {', '.join(taken) or '(none)'}"
            )
        keys, info = fields[match]
        out[arg] = (match, keys, info)
    with contextlib.suppress(TypeError):
        _CHECKED[tool] = out
    for arg, (_, keys, _) in out.items():
        _KEYS_BY_NAME[(str(name), arg)] = keys
    return out


#: ``(tool name, configured argument) -> keys`` learned from the schemas checked so far.
_KEYS_BY_NAME: dict[tuple[str, str], tuple[str, ...]] = {}


def alias_keys(tool_name: str, arg: str) -> tuple[str, ...]:
    """The keys a call of ``tool_name`` may send ``arg`` under (its aliases, once checked)."""
    return _KEYS_BY_NAME.get((tool_name, arg), (arg,))


def arg_values(
    call_args: Mapping[str, Any], keys: Sequence[str], info: Any
) -> list[tuple[Any, str]]:
    """``[(value, key it came under)]`` for one path argument of a call.

    Every key the argument may come under (its name and its aliases) is read: a call that sends
    both is checked on both, whichever the tool's validation keeps. Omitted: its schema default
    when that is a value, ``ABSENT`` when required, ``UNKNOWN`` when the default is None or empty
    or cannot be read (the tool alone knows what it then touches).
    """
    found = [(call_args[k], k) for k in keys if k in call_args]
    if found:
        return found
    if info is None:
        return [(UNKNOWN, "")]
    if info.is_required():
        return [(ABSENT, "")]
    default = info.get_default(call_default_factory=True)
    return [(default if default not in (None, "", [], {}) else UNKNOWN, "")]


_MISSPELT: dict[tuple[frozenset[str], str], str | None] = {}


def misspelt(name: str, listed: frozenset[str]) -> str | None:
    """The ``tool_paths`` entry that looks like a misspelling of the tool ``name`` (which it
    does not list), else None: a misspelt entry leaves that tool's paths unchecked."""
    key = (listed, name)
    if key not in _MISSPELT:
        import difflib

        close = difflib.get_close_matches(name, sorted(listed - {name}), n=1, cutoff=0.85)
        if len(_MISSPELT) < 4096:
            _MISSPELT[key] = close[0] if close else None
        return close[0] if close else None
    return _MISSPELT[key]

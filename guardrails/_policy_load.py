"""A bounded reader for policy files: TOML, YAML and JSON, hostile input refused cheaply.

A policy file is configuration, but it is read by ``guardrails check`` in CI and by services at
start-up, so reading it must stay cheap whatever it holds:

* **size**: at most :data:`MAX_BYTES` (256 KiB) are read (a policy is a few KB);
* **YAML anchors and aliases are refused** (the "billion laughs": 454 bytes of nested aliases
  expand to gigabytes), and so are YAML tags beyond the plain types (``safe_load`` already);
  checked on the event stream, before any node is built;
* **nesting** deeper than :data:`MAX_DEPTH` is refused (checked on YAML's events before
  composing; for TOML and JSON the parser's own recursion is caught and the result walked);
* **duplicate keys are refused in every format** (TOML does it natively; YAML and JSON are
  last-wins by default, so a second ``agent:`` block would silently drop the first stack);
* **keys are strings** (YAML allows ``1:`` or ``null:`` keys);
* **every error message is bounded**: values are shown with :func:`short` (``reprlib``-style,
  built piece by piece, never the whole ``repr`` first) and each line with :func:`line`.

Example::

    data = read_policy(Path("guardrails.yaml"))   # a dict, or PolicyError-ready messages
"""

from __future__ import annotations

import json
import reprlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ERRORS",
    "PolicyFileError",
    "key_text",
    "line",
    "read_policy",
    "short",
]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 24
MAX_LINE = 400
MAX_ERRORS = 50
FORMATS = (".toml", ".yaml", ".yml", ".json")

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 4
_repr.maxlevel = 2
_repr.maxlong = 40


def short(value: Any) -> str:
    """A bounded ``repr`` (at most ~60 characters per string, 4 items, 2 levels).

    Example::

        short("x" * 10**6)   # "'xxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    """
    try:
        return _repr.repr(value)
    except Exception:  # a hostile __repr__
        return f"<{type(value).__name__}>"


def key_text(key: Any) -> str:
    """A key as it appears in a key path: itself when short and printable, else :func:`short`."""
    if isinstance(key, str) and len(key) <= 60 and key.isprintable():
        return key
    return short(key)


def line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` cut to ``limit`` characters (an error line never grows with the input)."""
    return text if len(text) <= limit else text[: limit - 25] + f"... ({len(text)} characters)"


class PolicyFileError(Exception):
    """The file cannot be read as a policy; ``str(exc)`` is one bounded line (no file name)."""


def read_policy(path: Path) -> Any:
    """Parse ``path`` (by suffix) within the caps above; raise :class:`PolicyFileError`."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PolicyFileError(
            f"unknown policy format {short(suffix)}; allowed: {', '.join(FORMATS)}"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PolicyFileError(f"cannot read the file ({exc.strerror})") from exc
    if len(raw) > MAX_BYTES:
        raise PolicyFileError(
            f"the file is larger than {MAX_BYTES // 1024} KiB; a policy is a few KB"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"not UTF-8 text (byte {exc.start})") from None
    name = suffix.lstrip(".")
    try:
        if suffix in (".yaml", ".yml"):
            data = _yaml(text)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text)
    except PolicyFileError:
        raise
    except RecursionError:
        raise PolicyFileError(f"nested deeper than {MAX_DEPTH} levels") from None
    except Exception as exc:  # a syntax error in the file
        raise PolicyFileError(line(f"not valid {name}: {exc}")) from None
    _check_tree(data)
    return data


# --------------------------------------------------------------------------- YAML


def _yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise PolicyFileError("YAML policies need PyYAML (pip install pyyaml)") from exc

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise PolicyFileError(
                f"line {mark.line + 1}: YAML anchors and aliases (&name, *name, <<) are not "
                "allowed in a policy; write each value out"
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise PolicyFileError(
                    f"line {event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    data = yaml.load(text, Loader=_strict_loader())  # a SafeLoader subclass
    return {} if data is None else data  # an empty document


_LOADER: Any = None


def _strict_loader() -> Any:
    """A ``SafeLoader`` that refuses duplicate keys (built once, on first use)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in out
            except TypeError:
                raise PolicyFileError(
                    f"line {key_node.start_mark.line + 1}: keys must be strings, got a "
                    f"{type(key).__name__}"
                ) from None
            if duplicate:
                raise PolicyFileError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {short(key)} (the "
                    "first one would be silently dropped)"
                )
            out[key] = loader.construct_object(value_node, deep=deep)
        return out

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    _LOADER = StrictLoader
    return _LOADER


# --------------------------------------------------------------------------- JSON


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PolicyFileError(
                f"duplicate key {short(key)} (the first one would be silently dropped)"
            )
        out[key] = value
    return out


# --------------------------------------------------------------------------- every format


def _walk(data: Any) -> Iterator[tuple[Any, int, str]]:
    """(node, depth, path) of every node, iteratively (no recursion on hostile depth)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        yield node, depth, path
        if isinstance(node, dict):
            for key, value in node.items():
                stack.append(
                    (value, depth + 1, f"{path}.{key_text(key)}" if path else key_text(key))
                )
        elif isinstance(node, list):
            for i, value in enumerate(node):
                stack.append((value, depth + 1, f"{path}[{i}]"))


def _check_tree(data: Any) -> None:
    for node, depth, path in _walk(data):
        if depth > MAX_DEPTH:
            raise PolicyFileError(
                line(f"{path or 'the top'}: nested deeper than {MAX_DEPTH} levels")
            )
        if isinstance(node, dict):
            for key in node:
                if not isinstance(key, str):
                    raise PolicyFileError(
                        line(f"{path or 'the top level'}: keys must be strings, got {short(key)}")
                    )

"""Settings of the injection guard: tool-name patterns and per-argument source declarations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.errors import GuardrailConfigError

__all__ = ["Allowances", "ToolPatterns"]


def _glob(pattern: str, name: str) -> bool:
    """``*`` matches any run of characters (linear: one left-to-right pass per segment)."""
    if "*" not in pattern:
        return pattern == name
    parts = pattern.split("*")
    first, last = parts[0], parts[-1]
    if not name.startswith(first) or len(name) < len(first) + len(last):
        return False
    if not name.endswith(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for part in parts[1:-1]:
        found = name.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


@dataclass(frozen=True)
class ToolPatterns:
    """Tool names and ``*`` patterns; ``"*"`` alone is every tool.

    Example::

        ToolPatterns.parse("protected_tools", ["send_*", "delete_file"]).match("send_email")
    """

    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, setting: str, value: Any) -> ToolPatterns:
        if value is None:
            return cls(())
        if isinstance(value, str):
            if value != "*":
                raise GuardrailConfigError(
                    f"{setting} must be '*' (every tool) or a list of tool names / '*' patterns; "
                    f"got the bare string {value!r}: write [{value!r}] for one tool"
                )
            return cls(("*",))
        if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
            raise GuardrailConfigError(
                f"{setting} must be '*' or a list of tool names / '*' patterns; "
                f"got {type(value).__name__}"
            )
        names: list[str] = []
        for item in value:
            label = item if isinstance(item, str) else getattr(item, "name", None)
            if not isinstance(label, str) or not label.strip() or label != label.strip():
                raise GuardrailConfigError(
                    f"{setting} must hold non-empty tool names or tools (no surrounding spaces); "
                    f"got {item!r}"
                )
            names.append(label)
        return cls(tuple(dict.fromkeys(names)))

    def match(self, name: str) -> bool:
        return any(_glob(p, name) for p in self.patterns)

    def exact(self, name: str) -> bool:
        """Named without a wildcard."""
        return name in self.patterns

    def __bool__(self) -> bool:
        return bool(self.patterns)


@dataclass(frozen=True)
class Allowances:
    """Which untrusted sources each argument may take values from.

    Keys are ``"tool.argument"`` (``*`` patterns allowed in both parts; a nested argument is
    ``"tool.payment.amount"``); values are source tool names or patterns (``"*"``: any source).

    Example::

        Allowances.parse({"send_money.amount": ["read_file"]})
    """

    rules: tuple[tuple[str, str, ToolPatterns], ...]

    @classmethod
    def parse(cls, value: Any) -> Allowances:
        if value is None:
            return cls(())
        if not isinstance(value, Mapping):
            raise GuardrailConfigError(
                "allow must map 'tool.argument' to a list of source tools, e.g. "
                f"{{'send_money.amount': ['read_file']}}; got {type(value).__name__}"
            )
        rules: list[tuple[str, str, ToolPatterns]] = []
        for key, sources in value.items():
            if not isinstance(key, str) or "." not in key:
                raise GuardrailConfigError(
                    f"allow keys must be 'tool.argument' (e.g. 'send_money.amount'); got {key!r}"
                )
            tool, arg = key.split(".", 1)
            if not tool or not arg:
                raise GuardrailConfigError(
                    f"allow key {key!r} needs both a tool and an argument, e.g. 'send_money.amount'"
                )
            patterns = ToolPatterns.parse(f"allow[{key!r}]", sources)
            if not patterns:
                raise GuardrailConfigError(
                    f"allow[{key!r}] must name at least one source tool (or '*' for any)"
                )
            rules.append((tool, arg, patterns))
        return cls(tuple(rules))

    def sources_for(self, tool: str, arg: str) -> list[ToolPatterns]:
        return [
            sources
            for tool_pattern, arg_pattern, sources in self.rules
            if _glob(tool_pattern, tool) and _glob(arg_pattern, arg)
        ]

    def allows(self, tool: str, arg: str, source: str) -> bool:
        """Whether ``source`` (``tool`` or ``tool#field``) is declared for ``tool.arg``.

        A pattern without ``#`` covers the whole tool (its fields and its prose); with ``#``,
        only that field of the tool's JSON results.
        """
        whole = source.split("#", 1)[0]
        return any(
            any(_glob(p, source if "#" in p else whole) for p in patterns.patterns)
            for patterns in self.sources_for(tool, arg)
        )

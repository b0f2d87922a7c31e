"""Declarative guardrail policies: one file for the main agent and each subagent.

A policy file (TOML, JSON, or YAML when PyYAML is installed) lists the middleware of the main agent
and, per named subagent, what changes: subagents inherit the main stack by default and may
override parameters, add middleware or remove some. Mistakes are reported with the file, the
key path and the allowed values, all at once.

```toml
version = 1
compose = true            # one hook pair per stack (see guardrails.compose)

[[agent.middleware]]
use = "ModelCallLimitMiddleware"
run_limit = 20

[[agent.middleware]]
use = "ModelRetryMiddleware"
max_retries = 3

[subagents.researcher]
inherit = true            # start from the agent's stack (default)
remove = ["ModelRetryMiddleware"]
override = { ModelCallLimitMiddleware = { run_limit = 5 } }

[[subagents.researcher.middleware]]
use = "PIIMiddleware"
pii_type = ["email", "phone"]
strategy = "redact"
```

Example::

    policy = Policy.load("guardrails.toml")
    agent = create_deep_agent(model, middleware=policy.middleware(),
                              subagents=policy.subagents([{"name": "researcher", ...}]))
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain.agents.middleware import AgentMiddleware

from guardrails._policy_load import (
    MAX_ERRORS,
    PolicyFileError,
    key_text,
    line,
    read_policy,
    short,
)
from guardrails.compose import compose
from guardrails.errors import GuardrailConfigError
from guardrails.order import ORDER_RULES, GuardrailOrderWarning, check_order, kind_of


def _did_you_mean(key: str, accepted: Iterable[str]) -> str:
    from guardrails._validate import closest

    near = closest(key, accepted)
    return f" (did you mean {near!r}?)" if near else ""


__all__ = [
    "ORDER_RULES",
    "REGISTRY",
    "GuardrailOrderWarning",
    "MiddlewareSpec",
    "Policy",
    "PolicyError",
    "check_order",
    "load_policy",
]


class PolicyError(GuardrailConfigError):
    """A policy file or mapping has mistakes; ``errors`` lists each as ``file: key.path: text``.

    Example::

        try:
            Policy.load("guardrails.toml")
        except PolicyError as exc:
            print("\\n".join(exc.errors))
    """

    def __init__(self, errors: Sequence[str]) -> None:
        shown = [line(str(e)) for e in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            shown.append(f"... and {len(errors) - MAX_ERRORS} more errors")
        self.errors = shown
        super().__init__("invalid guardrails policy:\n  " + "\n  ".join(self.errors))


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:Class"
    varargs: str | None = None  # policy key holding the *args of the constructor
    tables: Mapping[str, str] = field(default_factory=dict)  # param -> "module:Class" per item


#: Middleware a policy may ``use``, by class name.
REGISTRY: dict[str, _Entry] = {
    "ModelRetryMiddleware": _Entry("guardrails.retry:ModelRetryMiddleware"),
    "ToolRetryMiddleware": _Entry("guardrails.retry:ToolRetryMiddleware"),
    "ModelFallbackMiddleware": _Entry("guardrails.fallback:ModelFallbackMiddleware", "models"),
    "ModelCallLimitMiddleware": _Entry("guardrails.call_limits:ModelCallLimitMiddleware"),
    "ToolCallLimitMiddleware": _Entry("guardrails.call_limits:ToolCallLimitMiddleware"),
    "RateLimitMiddleware": _Entry("guardrails.rate_limits:RateLimitMiddleware"),
    "PIIMiddleware": _Entry("guardrails.pii:PIIMiddleware"),
    "FilesystemPermissionMiddleware": _Entry(
        "guardrails.filesystem:FilesystemPermissionMiddleware",
        tables={"rules": "guardrails.filesystem:FilesystemPermission"},
    ),
    "PromptInjectionMiddleware": _Entry("guardrails.injection:PromptInjectionMiddleware"),
}


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise GuardrailConfigError(
            f"cannot import {target!r} (write it as 'package.module:name'): {exc}"
        ) from exc


@dataclass(frozen=True)
class MiddlewareSpec:
    """One validated middleware entry of a policy: the class name and its parameters."""

    use: str
    params: Mapping[str, Any]
    path: str

    @property
    def kind(self) -> str | None:
        """The stable kind of the middleware this entry builds (``"model_retry"``, ...)."""
        return kind_of(_import(REGISTRY[self.use].target))

    def build(self) -> AgentMiddleware[Any, Any, Any]:
        """Construct the middleware (a fresh instance every time)."""
        entry = REGISTRY[self.use]
        cls = _import(entry.target)
        kwargs = dict(self.params)
        args: list[Any] = []
        if entry.varargs is not None:
            args = list(kwargs.pop(entry.varargs, []))
        for name, item_target in entry.tables.items():
            if name in kwargs:
                item_cls = _import(item_target)
                kwargs[name] = [
                    item_cls(**item) if isinstance(item, Mapping) else item for item in kwargs[name]
                ]
        for name, value in list(kwargs.items()):
            if isinstance(value, Mapping) and set(value) == {"import"}:
                kwargs[name] = _import(str(value["import"]))
        return cls(*args, **kwargs)  # type: ignore[no-any-return]


MAX_STACK = 32  # middleware per stack in a policy
MAX_SUBAGENTS = 64  # subagents in a policy
_TOP_KEYS = {"version", "compose", "agent", "subagents"}
_AGENT_KEYS = {"middleware"}
_SUB_KEYS = {"inherit", "middleware", "remove", "override", "compose"}


@dataclass(frozen=True)
class _SubagentStack:
    """A subagent's validated entries and whether they are composed into one middleware."""

    specs: list[MiddlewareSpec]
    compose: bool


class _Reader:
    """Reads a policy mapping into validated stacks, collecting every mistake at once.

    Each mistake is one ``file: key.path: text`` line in :attr:`errors`; :class:`Policy` raises
    them together. Every middleware entry is built once here, so a bad parameter value is
    reported at load time, not when an agent is made.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def _err(self, path: str, text: str) -> None:
        self.errors.append(f"{self.source}: {path}: {text}")

    def _unknown(self, path: str, mapping: Mapping[str, Any], allowed: set[str]) -> None:
        for key in mapping:
            if key not in allowed:
                shown = key_text(key)
                self._err(
                    f"{path}.{shown}" if path else shown,
                    f"unknown key; allowed: {', '.join(sorted(allowed))}",
                )

    def _spec(self, path: str, item: Any) -> MiddlewareSpec | None:
        if not isinstance(item, Mapping):
            self._err(path, "each middleware must be a table with a 'use' key")
            return None
        use = item.get("use")
        if not isinstance(use, str) or use not in REGISTRY:
            what = (
                f"unknown middleware {short(use)}"
                if isinstance(use, str)
                else f"must be a middleware name (a string), got a {type(use).__name__}"
            )
            self._err(f"{path}.use", f"{what}; allowed: {', '.join(sorted(REGISTRY))}")
            return None
        params = {k: v for k, v in item.items() if k != "use"}
        spec = MiddlewareSpec(str(use), params, path)
        self._check_params(spec)
        return spec

    def _check_params(self, spec: MiddlewareSpec) -> None:
        entry = REGISTRY[spec.use]
        try:
            cls = _import(entry.target)
        except GuardrailConfigError as exc:
            self._err(f"{spec.path}.use", f"{spec.use} is not available: {exc}")
            return
        signature = inspect.signature(cls.__init__)
        accepted = {
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        if entry.varargs:
            accepted.add(entry.varargs)
        for key in spec.params:
            if key not in accepted:
                self._err(
                    f"{spec.path}.{key_text(key)}",
                    f"{spec.use} has no parameter {short(key)}"
                    f"{_did_you_mean(key, accepted) if len(key) <= 100 else ''}; "
                    f"allowed: {', '.join(sorted(accepted))}",
                )
                return
        listed = ([entry.varargs] if entry.varargs else []) + list(entry.tables)
        for key in listed:
            if key in spec.params and not isinstance(spec.params[key], list):
                self._err(
                    f"{spec.path}.{key}",
                    f"must be a list, got a {type(spec.params[key]).__name__}",
                )
                return
        try:
            spec.build()
        except (GuardrailConfigError, ValueError, TypeError) as exc:
            self._err(spec.path, line(f"{spec.use}: {exc}"))

    def _stack(self, path: str, value: Any) -> list[MiddlewareSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self._err(path, "must be a list of middleware tables")
            return []
        if len(value) > MAX_STACK:
            self._err(path, f"{len(value)} middleware; at most {MAX_STACK} per stack")
            return []
        specs = [self._spec(f"{path}[{i}]", item) for i, item in enumerate(value)]
        return [s for s in specs if s is not None]

    def read(
        self, data: Mapping[str, Any]
    ) -> tuple[list[MiddlewareSpec], dict[str, _SubagentStack]]:
        """The main stack and each subagent's, validated (mistakes go to :attr:`errors`)."""
        self._unknown("", data, _TOP_KEYS)
        version = data.get("version", 1)
        if type(version) is not int or version != 1:  # True == 1: a bool is not a version
            self._err("version", f"unsupported version {short(version)}; allowed: 1")
        compose_all = data.get("compose", False)
        if not isinstance(compose_all, bool):
            self._err("compose", "must be true or false")
            compose_all = bool(compose_all)
        agent = data.get("agent", {})
        if not isinstance(agent, Mapping):
            self._err("agent", "must be a table")
            agent = {}
        self._unknown("agent", agent, _AGENT_KEYS)
        main = self._stack("agent.middleware", agent.get("middleware"))
        subagents = data.get("subagents", {})
        if not isinstance(subagents, Mapping):
            self._err("subagents", "must be a table of subagent names")
            subagents = {}
        if len(subagents) > MAX_SUBAGENTS:
            # every subagent's stack is built and checked: bound the work a file can ask for
            self._err("subagents", f"{len(subagents)} subagents; at most {MAX_SUBAGENTS}")
            subagents = {}
        stacks: dict[str, _SubagentStack] = {}
        for sub_name, sub in subagents.items():
            path = f"subagents.{key_text(sub_name)}"
            if not isinstance(sub, Mapping):
                self._err(path, "must be a table")
                continue
            stacks[str(sub_name)] = self._subagent(path, sub, main, compose_all)
        return main, stacks

    def _subagent(
        self,
        path: str,
        sub: Mapping[str, Any],
        main: list[MiddlewareSpec],
        compose_all: bool,
    ) -> _SubagentStack:
        """A subagent's stack: the inherited one less ``remove``, with ``override``, and its own."""
        self._unknown(path, sub, _SUB_KEYS)
        inherit = sub.get("inherit", True)
        if not isinstance(inherit, bool):
            self._err(f"{path}.inherit", "must be true or false")
            inherit = True
        if "compose" in sub and not isinstance(sub["compose"], bool):
            self._err(f"{path}.compose", "must be true or false")
        base = list(main) if inherit else []
        remove = sub.get("remove", [])
        if not isinstance(remove, list):
            self._err(f"{path}.remove", "must be a list of middleware names")
            remove = []
        for i, name in enumerate(remove):
            if not isinstance(name, str) or name not in [s.use for s in base]:
                self._err(
                    f"{path}.remove[{i}]",
                    f"{short(name)} is not in the inherited stack; allowed: "
                    f"{', '.join(s.use for s in base) or '(nothing inherited)'}",
                )
        base = [s for s in base if s.use not in [r for r in remove if isinstance(r, str)]]
        override = sub.get("override", {})
        if not isinstance(override, Mapping):
            self._err(f"{path}.override", "must be a table of middleware names")
            override = {}
        merged: list[MiddlewareSpec] = []
        for spec in base:
            if spec.use in override:
                extra = override[spec.use]
                opath = f"{path}.override.{spec.use}"
                if not isinstance(extra, Mapping):
                    self._err(opath, "must be a table of parameters")
                    merged.append(spec)
                    continue
                new = MiddlewareSpec(spec.use, {**spec.params, **extra}, opath)
                self._check_params(new)
                merged.append(new)
            else:
                merged.append(spec)
        for name in override:
            if name not in [s.use for s in base]:
                self._err(
                    f"{path}.override.{key_text(name)}",
                    f"{short(name)} is not in the inherited stack; allowed: "
                    f"{', '.join(s.use for s in base) or '(nothing inherited)'}",
                )
        merged.extend(self._stack(f"{path}.middleware", sub.get("middleware")))
        return _SubagentStack(merged, bool(sub.get("compose", compose_all)))


class Policy:
    """Middleware stacks for a main agent and its named subagents, validated up front.

    Example::

        policy = Policy.from_dict({"agent": {"middleware": [
            {"use": "ModelRetryMiddleware", "max_retries": 3}]}})
        middleware = policy.middleware()            # main agent
        sub = policy.middleware("researcher")       # a subagent (inherits the main stack)
    """

    def __init__(self, data: Mapping[str, Any], source: str = "<policy>") -> None:
        self.source = source
        self._compose = bool(data.get("compose", False))
        reader = _Reader(source)
        self._agent, self._subagents = reader.read(data)
        if reader.errors:
            raise PolicyError(reader.errors)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy file (``.toml``, ``.json``; ``.yaml``/``.yml`` with PyYAML installed).

        The reader is bounded (:mod:`guardrails._policy_load`): at most 256 KiB, no YAML anchors
        or aliases, no duplicate keys in any format, at most 24 levels of nesting, bounded
        error messages. A file that configures no middleware at all is refused.
        """
        path = Path(path)
        try:
            data = read_policy(path)
        except PolicyFileError as exc:
            raise PolicyError([f"{path}: {exc}"]) from None
        if not isinstance(data, Mapping):
            raise PolicyError([f"{path}: the top level must be a table"])
        policy = cls(data, source=str(path))
        if not policy.configures_anything:
            raise PolicyError(
                [
                    f"{path}: the policy configures no middleware (no agent.middleware and no "
                    "subagent middleware); an empty policy would run the agent unguarded"
                ]
            )
        return policy

    @property
    def configures_anything(self) -> bool:
        """Whether the main stack or any subagent's stack has at least one middleware."""
        return bool(self._agent) or any(sub.specs for sub in self._subagents.values())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<policy>") -> Policy:
        """Build a policy from a mapping shaped like the file."""
        return cls(data, source=source)

    # ------------------------------------------------------------------ building
    @property
    def subagent_names(self) -> list[str]:
        """Names of the subagents the policy configures."""
        return list(self._subagents)

    def specs(self, subagent: str | None = None) -> list[MiddlewareSpec]:
        """The validated entries of the main stack, or of ``subagent``'s."""
        if subagent is None:
            return list(self._agent)
        if subagent not in self._subagents:
            raise PolicyError(
                [
                    f"{self.source}: subagents.{subagent}: no such subagent; allowed: "
                    f"{', '.join(self._subagents) or '(none)'}"
                ]
            )
        return list(self._subagents[subagent].specs)

    def middleware(self, subagent: str | None = None) -> list[AgentMiddleware[Any, Any, Any]]:
        """Fresh middleware instances for the main agent (or ``subagent``), composed if asked."""
        specs = self.specs(subagent)
        stack = [spec.build() for spec in specs]
        check_order(stack)
        do_compose = self._compose if subagent is None else self._subagents[subagent].compose
        if do_compose and stack:
            return [compose(*stack)]
        return stack

    def order_problems(self) -> list[str]:
        """Known-bad orders in the main stack and each subagent's, as ``file: key.path: text``.

        Example::

            for line in Policy.load("guardrails.toml").order_problems():
                print(line)
        """
        out: list[str] = []
        for name in (None, *self._subagents):
            stack = [spec.build() for spec in self.specs(name)]
            where = "agent.middleware" if name is None else f"subagents.{name}.middleware"
            out.extend(f"{self.source}: {where}: {p}" for p in check_order(stack, warn=False))
        return out

    def check_subagents(self, names: Iterable[Any]) -> None:
        """Refuse a policy section that looks like a misspelling of one of ``names`` (the
        agent's subagents; deepagents' ``general-purpose`` always counts) that the policy does
        not configure: ``subagents.reseacher`` would leave ``researcher`` on the main stack,
        without the guardrails written for it, and say nothing. A section naming nothing
        close is accepted (one policy may serve several agents).

        Example::

            policy.check_subagents(["researcher"])  # PolicyError for subagents.reseacher
        """
        import difflib

        known = {str(n) for n in names} | {"general-purpose"}
        unconfigured = sorted(known - set(self._subagents))
        errors = []
        for name in self._subagents:
            if name in known:
                continue
            close = difflib.get_close_matches(name, unconfigured, n=1, cutoff=0.85)
            if close:
                errors.append(
                    f"{self.source}: subagents.{name}: the agent has no subagent {name!r}, and "
                    f"its subagent {close[0]!r} has no section (a misspelling?): name the "
                    f"section {close[0]!r}, or give {close[0]!r} a section of its own when "
                    f"{name!r} belongs to another agent"
                )
        if errors:
            raise PolicyError(errors)

    def subagents(self, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """deepagents ``SubAgent`` specs with ``middleware`` filled in from the policy.

        A spec whose name the policy does not mention gets the main agent's stack, so no
        subagent runs with fewer guardrails than its parent by accident; a section that looks
        like a misspelled spec name is refused (:meth:`check_subagents`).
        """
        self.check_subagents(spec.get("name") for spec in specs)
        out: list[dict[str, Any]] = []
        for spec in specs:
            name = spec.get("name")
            stack = self.middleware(str(name)) if name in self._subagents else self.middleware()
            out.append({**spec, "middleware": [*stack, *spec.get("middleware", [])]})
        return out


def load_policy(path: str | Path) -> Policy:
    """``Policy.load(path)``.

    Example::

        policy = load_policy("guardrails.toml")
    """
    return Policy.load(path)

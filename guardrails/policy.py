"""Declarative guardrail policies: one file for the main agent and each subagent.

A policy file (TOML, or YAML when PyYAML is installed) lists the middleware of the main agent
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
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain.agents.middleware import AgentMiddleware

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
        self.errors = list(errors)
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


_TOP_KEYS = {"version", "compose", "agent", "subagents"}
_AGENT_KEYS = {"middleware"}
_SUB_KEYS = {"inherit", "middleware", "remove", "override", "compose"}


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
        errors: list[str] = []
        self._data = dict(data)
        self._compose = bool(data.get("compose", False))
        self._agent: list[MiddlewareSpec] = []
        self._subagents: dict[str, dict[str, Any]] = {}
        self._validate(errors)
        if errors:
            raise PolicyError(errors)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy file (``.toml``; ``.yaml``/``.yml`` with PyYAML installed)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError([f"{path}: cannot read the file ({exc.strerror})"]) from exc
        suffix = path.suffix.lower()
        try:
            if suffix in (".yaml", ".yml"):
                try:
                    import yaml
                except ImportError as exc:
                    raise PolicyError(
                        [f"{path}: YAML policies need PyYAML (pip install pyyaml)"]
                    ) from exc
                data = yaml.safe_load(raw) or {}
            elif suffix == ".toml":
                if sys.version_info >= (3, 11):
                    import tomllib
                else:  # pragma: no cover
                    import tomli as tomllib
                data = tomllib.loads(raw.decode("utf-8"))
            else:
                raise PolicyError(
                    [f"{path}: unknown policy format {suffix!r}; allowed: .toml, .yaml, .yml"]
                )
        except PolicyError:
            raise
        except Exception as exc:  # a syntax error in the file
            raise PolicyError([f"{path}: not valid {suffix.lstrip('.')}: {exc}"]) from exc
        if not isinstance(data, Mapping):
            raise PolicyError([f"{path}: the top level must be a table"])
        return cls(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<policy>") -> Policy:
        """Build a policy from a mapping shaped like the file."""
        return cls(data, source=source)

    # ------------------------------------------------------------------ validation
    def _err(self, errors: list[str], path: str, text: str) -> None:
        errors.append(f"{self.source}: {path}: {text}")

    def _unknown(
        self, errors: list[str], path: str, mapping: Mapping[str, Any], allowed: set[str]
    ) -> None:
        for key in mapping:
            if key not in allowed:
                self._err(
                    errors,
                    f"{path}.{key}" if path else key,
                    f"unknown key; allowed: {', '.join(sorted(allowed))}",
                )

    def _spec(self, errors: list[str], path: str, item: Any) -> MiddlewareSpec | None:
        if not isinstance(item, Mapping):
            self._err(errors, path, "each middleware must be a table with a 'use' key")
            return None
        use = item.get("use")
        if use not in REGISTRY:
            self._err(
                errors,
                f"{path}.use",
                f"unknown middleware {use!r}; allowed: {', '.join(sorted(REGISTRY))}",
            )
            return None
        params = {k: v for k, v in item.items() if k != "use"}
        spec = MiddlewareSpec(str(use), params, path)
        self._check_params(errors, spec)
        return spec

    def _check_params(self, errors: list[str], spec: MiddlewareSpec) -> None:
        entry = REGISTRY[spec.use]
        try:
            cls = _import(entry.target)
        except GuardrailConfigError as exc:
            self._err(errors, f"{spec.path}.use", f"{spec.use} is not available: {exc}")
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
                    errors,
                    f"{spec.path}.{key}",
                    f"{spec.use} has no parameter {key!r}{_did_you_mean(key, accepted)}; "
                    f"allowed: {', '.join(sorted(accepted))}",
                )
                return
        try:
            spec.build()
        except (GuardrailConfigError, ValueError, TypeError) as exc:
            self._err(errors, spec.path, f"{spec.use}: {exc}")

    def _stack(self, errors: list[str], path: str, value: Any) -> list[MiddlewareSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self._err(errors, path, "must be a list of middleware tables")
            return []
        specs = [self._spec(errors, f"{path}[{i}]", item) for i, item in enumerate(value)]
        return [s for s in specs if s is not None]

    def _validate(self, errors: list[str]) -> None:
        data = self._data
        self._unknown(errors, "", data, _TOP_KEYS)
        if data.get("version", 1) != 1:
            self._err(errors, "version", f"unsupported version {data.get('version')!r}; allowed: 1")
        if not isinstance(data.get("compose", False), bool):
            self._err(errors, "compose", "must be true or false")
        agent = data.get("agent", {})
        if not isinstance(agent, Mapping):
            self._err(errors, "agent", "must be a table")
            agent = {}
        self._unknown(errors, "agent", agent, _AGENT_KEYS)
        self._agent = self._stack(errors, "agent.middleware", agent.get("middleware"))
        subagents = data.get("subagents", {})
        if not isinstance(subagents, Mapping):
            self._err(errors, "subagents", "must be a table of subagent names")
            subagents = {}
        for sub_name, sub in subagents.items():
            path = f"subagents.{sub_name}"
            if not isinstance(sub, Mapping):
                self._err(errors, path, "must be a table")
                continue
            self._unknown(errors, path, sub, _SUB_KEYS)
            inherit = sub.get("inherit", True)
            if not isinstance(inherit, bool):
                self._err(errors, f"{path}.inherit", "must be true or false")
                inherit = True
            if "compose" in sub and not isinstance(sub["compose"], bool):
                self._err(errors, f"{path}.compose", "must be true or false")
            base = list(self._agent) if inherit else []
            remove = sub.get("remove", [])
            if not isinstance(remove, list):
                self._err(errors, f"{path}.remove", "must be a list of middleware names")
                remove = []
            for i, name in enumerate(remove):
                if name not in [s.use for s in base]:
                    self._err(
                        errors,
                        f"{path}.remove[{i}]",
                        f"{name!r} is not in the inherited stack; allowed: "
                        f"{', '.join(s.use for s in base) or '(nothing inherited)'}",
                    )
            base = [s for s in base if s.use not in remove]
            override = sub.get("override", {})
            if not isinstance(override, Mapping):
                self._err(errors, f"{path}.override", "must be a table of middleware names")
                override = {}
            merged: list[MiddlewareSpec] = []
            for spec in base:
                if spec.use in override:
                    extra = override[spec.use]
                    opath = f"{path}.override.{spec.use}"
                    if not isinstance(extra, Mapping):
                        self._err(errors, opath, "must be a table of parameters")
                        merged.append(spec)
                        continue
                    new = MiddlewareSpec(spec.use, {**spec.params, **extra}, opath)
                    self._check_params(errors, new)
                    merged.append(new)
                else:
                    merged.append(spec)
            for name in override:
                if name not in [s.use for s in base]:
                    self._err(
                        errors,
                        f"{path}.override.{name}",
                        f"{name!r} is not in the inherited stack; allowed: "
                        f"{', '.join(s.use for s in base) or '(nothing inherited)'}",
                    )
            merged.extend(self._stack(errors, f"{path}.middleware", sub.get("middleware")))
            self._subagents[str(sub_name)] = {
                "specs": merged,
                "compose": sub.get("compose", self._compose),
            }

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
        return list(self._subagents[subagent]["specs"])

    def middleware(self, subagent: str | None = None) -> list[AgentMiddleware[Any, Any, Any]]:
        """Fresh middleware instances for the main agent (or ``subagent``), composed if asked."""
        specs = self.specs(subagent)
        stack = [spec.build() for spec in specs]
        check_order(stack)
        do_compose = self._compose if subagent is None else self._subagents[subagent]["compose"]
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

    def subagents(self, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """deepagents ``SubAgent`` specs with ``middleware`` filled in from the policy.

        A spec whose name the policy does not mention gets the main agent's stack, so no
        subagent runs with fewer guardrails than its parent by accident.
        """
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

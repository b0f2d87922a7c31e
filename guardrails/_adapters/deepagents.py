"""deepagents internals, each imported once (canaries: tests/test_adapters.py).

Everything guardrails needs from deepagents that is not public API goes through the functions
below. Each names the upstream symbol it relies on; when an upgrade removes or changes one, its
canary test fails with that name instead of a guardrail silently switching off.

Private names used here (deepagents 0.7.x):

* ``deepagents.backends.composite._route_for_path`` -- which route serves a path;
* ``deepagents.backends.filesystem.FilesystemBackend._resolve_path`` -- the host path a virtual
  path maps to (symlinks, virtual mode);
* ``deepagents.middleware.filesystem._delete_target_may_have_descendants`` (and the ``a`` twin)
  -- whether a ``delete`` may remove a folder;
* ``deepagents.middleware.filesystem.FilesystemMiddleware._create_tools`` -- the file tools of a
  middleware, rebuilt on another backend;
* the closure of a deepagents tool function (``tool.func.__closure__``) -- the
  ``FilesystemMiddleware`` that built a file tool, and the subagent specs behind ``task``;
* ``deepagents.profiles.harness.harness_profiles._harness_profile_for_model`` -- whether the
  active harness profile adds the ``general-purpose`` subagent, and with which text;
* an instance's ``__class__`` swapped for a guarded subclass (``retype``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "adelete_may_have_descendants",
    "backend_host_path",
    "create_fs_tools",
    "delete_may_have_descendants",
    "fs_middleware_of",
    "general_purpose_profile",
    "retype",
    "route_for_path",
    "task_subagent_specs",
]


def route_for_path(backend: Any, path: str) -> tuple[Any, str, str | None]:
    """``(routed backend, path inside it, route prefix or None)`` for a ``CompositeBackend``.

    Upstream: ``deepagents.backends.composite._route_for_path``.
    """
    from deepagents.backends.composite import _route_for_path

    routed, inner, prefix = _route_for_path(
        default=backend.default, sorted_routes=backend.sorted_routes, path=path
    )
    return routed, inner, prefix


def backend_host_path(backend: Any, path: str) -> Path:
    """The host path a ``FilesystemBackend`` maps ``path`` to (raises ``ValueError`` on escape).

    Upstream: ``deepagents.backends.filesystem.FilesystemBackend._resolve_path``.
    """
    host: Path = backend._resolve_path(path)
    return host


def delete_may_have_descendants(backend: Any, path: str) -> bool:
    """Whether ``delete(path)`` may remove more than one file (asks the backend).

    Upstream: ``deepagents.middleware.filesystem._delete_target_may_have_descendants``.
    """
    from deepagents.middleware.filesystem import _delete_target_may_have_descendants

    return bool(_delete_target_may_have_descendants(backend, path, permissions_configured=True))


async def adelete_may_have_descendants(backend: Any, path: str) -> bool:
    """Async twin of :func:`delete_may_have_descendants`.

    Upstream: ``deepagents.middleware.filesystem._adelete_target_may_have_descendants``.
    """
    from deepagents.middleware.filesystem import _adelete_target_may_have_descendants

    return bool(
        await _adelete_target_may_have_descendants(backend, path, permissions_configured=True)
    )


def create_fs_tools(owner: Any, backend: Any) -> dict[str, Any]:
    """``owner``'s (a ``FilesystemMiddleware``) file tools, rebuilt to run on ``backend``.

    Upstream: ``deepagents.middleware.filesystem.FilesystemMiddleware._create_tools``.
    """
    clone = copy.copy(owner)
    clone.backend = backend
    return {tool.name: tool for tool in clone._create_tools()}


def _closure(func: Any) -> dict[str, Any]:
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    out: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return out


def fs_middleware_of(tool: Any) -> Any:
    """The deepagents ``FilesystemMiddleware`` that built ``tool`` (a file tool), or None.

    Upstream: the closure of the tool functions made in ``FilesystemMiddleware._create_tools``
    (they refer to the middleware as ``self``).
    """
    from deepagents.middleware.filesystem import FilesystemMiddleware

    for attr in ("func", "coroutine"):
        for value in _closure(getattr(tool, attr, None)).values():
            if isinstance(value, FilesystemMiddleware):
                return value
    return None


def task_subagent_specs(tool: Any) -> Mapping[str, Any] | None:
    """Subagent specs by name behind a deepagents ``task`` tool, or None for another tool.

    Upstream: the closure of ``task`` in ``deepagents.middleware.subagents._build_task_tool``
    (``_validate_and_prepare_state`` -> ``subagents_by_name``).
    """
    for attr in ("func", "coroutine"):
        prepare = _closure(getattr(tool, attr, None)).get("_validate_and_prepare_state")
        specs = _closure(prepare).get("subagents_by_name")
        if isinstance(specs, Mapping):
            return specs
    return None


def general_purpose_profile(model: Any) -> tuple[bool, str | None, str | None]:
    """``(added, description, system_prompt)`` of the auto-added general-purpose subagent.

    Upstream: ``deepagents.profiles.harness.harness_profiles._harness_profile_for_model`` and
    its ``general_purpose_subagent`` (``enabled``, ``description``, ``system_prompt``).
    """
    from deepagents.profiles.harness.harness_profiles import _harness_profile_for_model

    if isinstance(model, str):
        profile = _harness_profile_for_model(None, model)  # type: ignore[arg-type]
    elif model is None:
        return True, None, None
    else:
        profile = _harness_profile_for_model(model, None)
    gp = profile.general_purpose_subagent
    if gp is None:
        return True, None, None
    return gp.enabled is not False, gp.description, gp.system_prompt


def retype(instance: Any, cls: type) -> Any:
    """A shallow copy of ``instance`` whose class is ``cls`` (a subclass of its own class).

    Backends are plain objects whose methods read attributes set in ``__init__``; a copy with a
    subclass keeps every attribute and ``isinstance`` check deepagents makes.
    """
    clone = copy.copy(instance)
    clone.__class__ = cls
    return clone


def resolve_chat_model(model: Any) -> Any:
    """The chat model deepagents builds its agent (and its summarization) on: ``model`` as
    given, a ``"provider:name"`` string resolved, or deepagents' default for None.

    Upstream: ``deepagents._models.resolve_model`` and ``deepagents.graph._build_default_model``.
    """
    if model is None:
        from deepagents.graph import _build_default_model

        return _build_default_model()
    from deepagents._models import resolve_model

    return resolve_model(model)

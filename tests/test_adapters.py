"""Canary tests: one per private peer name used in guardrails/_adapters/.

Each fails with a message naming the upstream symbol when a LangChain, LangGraph, limits or
deepagents upgrade removes or changes it.
"""

from __future__ import annotations

import guardrails._adapters.deepagents
import guardrails._adapters.langchain


def test_adapter_modules_import() -> None:
    assert guardrails._adapters.langchain.__doc__
    assert guardrails._adapters.deepagents.__doc__


# --- langchain / langgraph / limits canaries -------------------------------------------------


# --- deepagents canaries ----------------------------------------------------------------------


def _canary(symbol: str, check: object) -> None:
    assert check, f"deepagents internal {symbol} is gone or changed: update guardrails/_adapters"


def test_deepagents_route_for_path() -> None:
    from deepagents.backends import CompositeBackend, StateBackend

    from guardrails._adapters.deepagents import route_for_path

    mem = StateBackend()
    composite = CompositeBackend(default=StateBackend(), routes={"/memories/": mem})
    _canary(
        "deepagents.backends.composite._route_for_path",
        route_for_path(composite, "/memories/a.md") == (mem, "/a.md", "/memories/"),
    )


def test_deepagents_filesystem_backend_resolve_path(tmp_path: object) -> None:
    from pathlib import Path

    from deepagents.backends import FilesystemBackend

    from guardrails._adapters.deepagents import backend_host_path

    root = Path(str(tmp_path))
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    _canary(
        "deepagents.backends.filesystem.FilesystemBackend._resolve_path",
        backend_host_path(backend, "/a/b.txt") == root.resolve() / "a" / "b.txt",
    )


def test_deepagents_delete_target_may_have_descendants(tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    from deepagents.backends import FilesystemBackend

    from guardrails._adapters.deepagents import (
        adelete_may_have_descendants,
        delete_may_have_descendants,
    )

    root = Path(str(tmp_path))
    (root / "d").mkdir()
    (root / "d" / "f.txt").write_text("x")
    backend = FilesystemBackend(root_dir=root, virtual_mode=True)
    _canary(
        "deepagents.middleware.filesystem._delete_target_may_have_descendants",
        delete_may_have_descendants(backend, "/d")
        and not delete_may_have_descendants(backend, "/d/f.txt"),
    )
    _canary(
        "deepagents.middleware.filesystem._adelete_target_may_have_descendants",
        asyncio.run(adelete_may_have_descendants(backend, "/d")),
    )


def test_deepagents_create_tools_and_tool_closure() -> None:
    from deepagents.backends import StateBackend
    from deepagents.middleware.filesystem import FilesystemMiddleware

    from guardrails._adapters.deepagents import create_fs_tools, fs_middleware_of

    owner = FilesystemMiddleware(backend=StateBackend())
    other = StateBackend()
    tools = create_fs_tools(owner, other)
    _canary(
        "deepagents.middleware.filesystem.FilesystemMiddleware._create_tools",
        {"ls", "read_file", "write_file", "edit_file", "glob", "grep"} <= set(tools),
    )
    found = fs_middleware_of(tools["read_file"])
    _canary(
        "the FilesystemMiddleware in a deepagents file tool's closure (tool.func.__closure__)",
        found is not None and found.backend is other and owner.backend is not other,
    )
    _canary("fs_middleware_of on a foreign tool", fs_middleware_of(object()) is None)


def test_deepagents_task_tool_closure() -> None:
    from deepagents.backends import StateBackend
    from deepagents.middleware.subagents import SubAgentMiddleware

    from guardrails._adapters.deepagents import task_subagent_specs
    from guardrails.testing import ScriptedChatModel

    spec = {"name": "r", "description": "d", "system_prompt": "p",
            "model": ScriptedChatModel(default="x"), "tools": []}  # fmt: skip
    middleware = SubAgentMiddleware(backend=StateBackend(), subagents=[spec])
    specs = task_subagent_specs(middleware.tools[0])
    _canary(
        "deepagents.middleware.subagents._build_task_tool: task -> "
        "_validate_and_prepare_state -> subagents_by_name",
        specs is not None and specs["r"] is spec,
    )


def test_deepagents_harness_profile_for_model() -> None:
    from guardrails._adapters.deepagents import general_purpose_profile
    from guardrails.testing import ScriptedChatModel

    _canary(
        "deepagents.profiles.harness.harness_profiles._harness_profile_for_model",
        general_purpose_profile(ScriptedChatModel(default="x"))[0] is True
        and general_purpose_profile("openai:gpt-test")[0] is True,
    )


def test_deepagents_backend_retype() -> None:
    from deepagents.backends import StateBackend

    from guardrails._adapters.deepagents import retype

    class Sub(StateBackend):
        pass

    original = StateBackend()
    clone = retype(original, Sub)
    _canary(
        "a deepagents backend's __class__ swapped for a subclass (copy.copy + __class__)",
        type(clone) is Sub and type(original) is StateBackend and vars(clone) == vars(original),
    )

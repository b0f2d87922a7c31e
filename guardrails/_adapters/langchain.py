"""LangChain and LangGraph internals, each imported once (``limits``: public API only).

Canaries: tests/test_adapters.py (one per name, naming the upstream symbol). An import that
fails here fails loudly, at import time of the adapter, with the upstream symbol in the message:
never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "UpstreamChanged",
    "chain_async_model_call_handlers",
    "chain_async_tool_call_wrappers",
    "chain_model_call_handlers",
    "chain_tool_call_wrappers",
    "is_model_node_handler",
    "known_observer",
    "override_request",
    "parse_model",
    "provider_module",
    "sanitize_request_for_fallback",
]


class UpstreamChanged(ImportError):
    """A private name guardrails relies on is gone or changed in the installed peer library.

    Example::

        UpstreamChanged("langchain.agents.factory._chain_model_call_handlers", "compose")
    """

    def __init__(self, symbol: str, used_by: str, cause: BaseException | None = None) -> None:
        self.symbol = symbol
        super().__init__(
            f"{symbol} is missing or changed in the installed version ({cause!r}); "
            f"guardrails {used_by} depends on it. Install a version in the tested range "
            "(pyproject.toml) or report it."
        )


# --- langchain.agents.factory: compose() chains hooks exactly as create_agent does -------------
try:
    from langchain.agents.factory import (
        _chain_async_model_call_handlers,
        _chain_async_tool_call_wrappers,
        _chain_model_call_handlers,
        _chain_tool_call_wrappers,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed langchain
    raise UpstreamChanged("langchain.agents.factory._chain_*", "compose()", exc) from exc


chain_model_call_handlers: Callable[[list[Any]], Any] = _chain_model_call_handlers
chain_async_model_call_handlers: Callable[[list[Any]], Any] = _chain_async_model_call_handlers
chain_tool_call_wrappers: Callable[[list[Any]], Any] = _chain_tool_call_wrappers
chain_async_tool_call_wrappers: Callable[[list[Any]], Any] = _chain_async_tool_call_wrappers


# --- langchain.agents.factory: the model node's own execution, the innermost handler ----------
# ``create_agent`` hands the innermost ``wrap_model_call`` the node's ``_execute_model_sync`` /
# ``_execute_model_async`` closures. Between them and ``model.invoke(messages)`` the node only
# binds tools (``_get_bound_model``) and puts the system message first: no code of anyone else
# sees the messages. Known by their code objects (constants of ``create_agent``'s own code).
# None found (a refactored upstream): nothing is recognised, every pass runs (slower, never
# less safe); the canary in tests/test_adapters.py fails.
def _node_codes() -> frozenset[Any]:
    from types import CodeType

    from langchain.agents import factory

    names = {"_execute_model_sync", "_execute_model_async"}
    codes = frozenset(
        c
        for c in factory.create_agent.__code__.co_consts
        if isinstance(c, CodeType) and c.co_name in names
    )
    return codes if len(codes) == len(names) else frozenset()


_NODE_CODES = _node_codes()


def is_model_node_handler(handler: Any) -> bool:
    """Whether ``handler`` (what a ``wrap_model_call`` is given) is ``create_agent``'s own
    model execution (``langchain.agents.factory.create_agent.<locals>._execute_model_sync`` /
    ``_execute_model_async``): nothing but the node runs between the middleware and the model."""
    return getattr(handler, "__code__", None) in _NODE_CODES


# --- callback handlers known to only read what on_chat_model_start hands them ---------------
# ``langgraph.pregel._messages.StreamMessagesHandler`` (stream_mode="messages") keeps the run's
# metadata; ``langchain_core.tracers.langchain.LangChainTracer`` serializes the messages
# (``dumpd``). Neither edits a message. Exact types only (a subclass may do anything).
def _observers() -> frozenset[type]:
    found: set[type] = set()
    try:
        from langgraph.pregel._messages import StreamMessagesHandler

        found.add(StreamMessagesHandler)
    except ImportError:  # pragma: no cover - depends on the installed langgraph
        pass
    from langchain_core.tracers.langchain import LangChainTracer

    found.add(LangChainTracer)
    return frozenset(found)


_OBSERVERS = _observers()


def known_observer(handler: Any) -> bool:
    """Whether ``handler`` (a callback handler) is one whose ``on_chat_model_start`` is known
    not to edit the messages it receives (exact type; see :data:`_OBSERVERS`)."""
    return type(handler) in _OBSERVERS


# --- langchain.agents.middleware.model_fallback: strip provider-only settings before a switch --
try:
    from langchain.agents.middleware.model_fallback import (
        _sanitize_request_for_fallback as sanitize_request_for_fallback,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed langchain
    raise UpstreamChanged(
        "langchain.agents.middleware.model_fallback._sanitize_request_for_fallback",
        "ModelFallbackMiddleware",
        exc,
    ) from exc

# --- langchain.chat_models.base: check "provider:model" strings without building the model ----
try:
    from langchain.chat_models.base import _BUILTIN_PROVIDERS, _parse_model
except ImportError as exc:  # pragma: no cover - depends on the installed langchain
    raise UpstreamChanged(
        "langchain.chat_models.base._parse_model", "ModelFallbackMiddleware", exc
    ) from exc


def parse_model(model: str) -> tuple[str, str]:
    """``(model, provider)`` of a ``"provider:model"`` string; ``ValueError`` when unresolvable."""
    return _parse_model(model, None)


def provider_module(provider: str) -> str | None:
    """The module ``init_chat_model`` imports for ``provider`` (``"langchain_anthropic"``), or
    ``None`` for a provider it does not know."""
    entry = _BUILTIN_PROVIDERS.get(provider)
    return str(entry[0]) if entry else None


# --- langchain.agents.middleware.types.ModelRequest: a copy with a few fields replaced --------
try:
    from langchain.agents.middleware.types import ModelRequest as _ModelRequest
except ImportError as exc:  # pragma: no cover - depends on the installed langchain
    raise UpstreamChanged(
        "langchain.agents.middleware.types.ModelRequest", "PIIMiddleware", exc
    ) from exc

#: Fields ``ModelRequest.__init__`` stores as they are given.
_AS_GIVEN = frozenset({"model", "messages", "system_message"})


def override_request(request: Any, **changes: Any) -> Any:
    """``request.override(**changes)`` for ``model`` / ``messages`` / ``system_message``
    without re-running ``ModelRequest.__init__`` (``override`` is ``dataclasses.replace``:
    ~36,000 instructions a call, counted by ``bench.instructions``): a shallow copy of the
    request's fields with those replaced, which is what ``__init__`` would store. Any other
    request class (a subclass too) or field goes through ``override``."""
    if type(request) is not _ModelRequest or not _AS_GIVEN.issuperset(changes):
        return request.override(**changes)
    new = object.__new__(_ModelRequest)
    fields = new.__dict__
    fields.update(request.__dict__)
    fields.update(changes)
    return new

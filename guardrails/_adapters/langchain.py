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

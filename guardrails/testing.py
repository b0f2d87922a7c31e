"""A scripted chat model for offline agents: the demo, this pack's tests, and users' own tests.

Example::

    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage
    from guardrails.testing import ScriptedChatModel, tool_call

    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[tool_call("lookup", {"q": "x"})]),
        AIMessage("done"),
    ])
    agent = create_agent(model, tools=[lookup])
    agent.invoke({"messages": [("user", "hi")]})
    model.requests[0]["messages"]  # what the model was sent
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = ["ScriptExhaustedError", "ScriptedChatModel", "tool_call"]

Response = AIMessage | str | BaseException | Callable[[list[BaseMessage]], "AIMessage | str"]


class ScriptExhaustedError(RuntimeError):
    """The scripted model was called more often than it has responses."""


def tool_call(
    name: str, args: dict[str, Any] | None = None, id: str | None = None
) -> dict[str, Any]:
    """A tool call dict for ``AIMessage(tool_calls=[...])``, with a fresh id when none is given.

    Example::

        AIMessage("", tool_calls=[tool_call("search", {"q": "weather"})])
    """
    return {
        "name": name,
        "args": dict(args or {}),
        "id": id or f"call_{uuid.uuid4().hex[:12]}",
        "type": "tool_call",
    }


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script and records every request it receives.

    ``responses`` are used in order, one per call: an ``AIMessage`` (returned as is, a copy),
    a string (an ``AIMessage`` with that content), an exception (raised), or a callable that
    gets the messages and returns either. When the script runs out, ``default`` is returned if
    set, else :class:`ScriptExhaustedError` is raised. ``requests`` records, per call, the
    ``messages`` sent and the keyword arguments bound (``tools``, ``tool_choice``, ...).

    Example::

        model = ScriptedChatModel(responses=["hello"], default="bye")
        model.invoke("hi").content  # "hello"
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    default: Any = None
    model_name: str = "scripted"
    requests: list[dict[str, Any]] = Field(default_factory=list)
    record: bool = True
    """Keep every request in ``requests`` (turn off for long benchmark runs)."""
    _calls: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cursor: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return self._calls

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            self._calls += 1
            if self.record:
                self.requests.append({"messages": list(messages), **kwargs})
            if self._cursor < len(self.responses):
                item = self.responses[self._cursor]
                self._cursor += 1
            elif self.default is not None:
                item = self.default
            else:
                raise ScriptExhaustedError(
                    f"ScriptedChatModel {self.model_name!r} has no response left "
                    f"for call {self._calls}"
                )
        if callable(item) and not isinstance(item, (AIMessage, BaseException)):
            item = item(list(messages))
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            return AIMessage(content=item, id=f"run-{uuid.uuid4().hex[:12]}")
        if isinstance(item, AIMessage):
            update: dict[str, Any] = {}
            if item.id is None:
                update["id"] = f"run-{uuid.uuid4().hex[:12]}"
            return item.model_copy(update=update, deep=True)
        raise TypeError(f"ScriptedChatModel cannot answer with {type(item).__name__}")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next(messages, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

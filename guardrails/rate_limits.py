"""Time-window rate limits per user, thread, assistant or tenant, on the ``limits`` library.

``memory://`` (the default) keeps the windows in this process; ``redis://host:port`` (or any
``limits`` storage URI) shares one budget between every process that points at it. Sync hooks use
the ``limits`` sync API, async hooks ``limits.aio`` (for ``memory://`` both use the same in-process
store, which never blocks, so one agent invoked both ways has one budget).

Example::

    from guardrails.rate_limits import RateLimitMiddleware

    agent = create_agent(model, tools=tools, middleware=[
        RateLimitMiddleware("10/minute;500/day", key="user", storage="redis://localhost:6379"),
    ])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from limits import RateLimitItem, parse_many

from guardrails import _validate as v
from guardrails._core import IO, Call, Flow, Guardrail, Hook, Sleep
from guardrails._state import END_KEY, EndState, end_or_call
from guardrails._storage import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LATCH,
    DEFAULT_READ_TIMEOUT,
    MAX_DURATION,
    Prefetch,
    RedisConnector,
    parse_storage,
    storage_errors,
)
from guardrails._windows import MemoryWindows, RedisWindows
from guardrails.audit import identity
from guardrails.errors import (
    GuardrailConfigError,
    GuardrailError,
    RateLimitExceededError,
    RateLimitStorageError,
)

__all__ = ["RateLimitKeyError", "RateLimitMiddleware"]

KeyKind = Literal["user", "thread", "assistant", "global"]
_KEYS = ("user", "thread", "assistant", "global")
_STRATEGIES = ("moving-window", "fixed-window", "sliding-window-counter")
_ON_LIMIT = ("error", "wait", "end")
_ID_FIELD = {"user": "user_id", "thread": "thread_id", "assistant": "assistant_id"}
_SOURCES = {
    "user": "runtime.server_info.user.identity, runtime.context['user_id'] or "
    "config['configurable']['user_id']",
    "thread": "runtime.execution_info.thread_id, runtime.context['thread_id'] or "
    "config['configurable']['thread_id']",
    "assistant": "runtime.server_info.assistant_id, runtime.context['assistant_id'] or "
    "config['configurable']['assistant_id']",
}


class RateLimitKeyError(GuardrailError):
    """The rate-limit key (user, thread, assistant) could not be read from the request.

    Example::

        except RateLimitKeyError:
            ...  # invoke with config={"configurable": {"user_id": ...}}
    """


def _check_key(key: Any) -> None:
    """Refuse a ``key`` that is neither a key kind nor a sync ``callable(request) -> str``."""
    if callable(key):
        v.sync_callable("key", key, returns="a str")
    if not (callable(key) or key in _KEYS):
        raise GuardrailConfigError(
            f"key must be one of {list(_KEYS)} or a callable(request) -> str, got {key!r}"
        )


def _budget_key(key: KeyKind | Callable[[Any], str], request: Any, owner: str) -> str:
    """Whose budget a call is charged to: ``custom:<the callable's answer>``, ``global``, or
    ``<kind>:<id>`` with the id read by :func:`guardrails.audit.identity`; a missing id (or an
    empty answer) raises :class:`RateLimitKeyError` naming ``owner`` (nothing goes unkeyed)."""
    if callable(key):
        value = key(request)
        if not isinstance(value, str) or not value:
            raise RateLimitKeyError(
                f"{owner}: the key callable returned {value!r}; it must return a non-empty string"
            )
        return f"custom:{value}"
    if key == "global":
        return "global"
    found = identity(request.runtime).get(_ID_FIELD[key])
    if not found:
        raise RateLimitKeyError(
            f"{owner}: key={key!r} but no {key} id was found in "
            f"{_SOURCES[key]}; pass one, or choose another key"
        )
    return f"{key}:{found}"


class RateLimitMiddleware(
    Guardrail,
    kind="rate_limit",
    hooks=("model", "tool"),
    events=(
        "rate_limit.exceeded",
        "rate_limit.waited",
        "rate_limit.storage_error",
    ),
):
    """Rate limits in time windows ("10/second;500/hour") per user, thread, assistant or key.

    * ``limit``: ``limits`` string syntax; several limits separated by ``;`` must all allow a call.
    * ``key``: ``"user"``, ``"thread"``, ``"assistant"``, ``"global"`` or
      ``callable(request) -> str``.
      Ids come from :func:`guardrails.audit.identity`: the LangGraph server's authenticated user
      and assistant first, then ``runtime.context``, then ``config["configurable"]``. A missing id
      raises :class:`RateLimitKeyError` (nothing is let through unkeyed).
    * ``applies_to``: ``"model"`` (each model call), ``"tools"`` (each tool call) or a list of
      tool names.
    * ``on_limit``: ``"error"`` raises :class:`~guardrails.errors.RateLimitExceededError` with
      ``reset_at``; ``"wait"`` sleeps until the window allows (at most ``max_wait`` seconds in all,
      then errors); ``"end"`` ends the run with an ``AIMessage`` (for tools: the call gets an error
      ``ToolMessage`` and the next model call is replaced by that ``AIMessage``).
    * ``fail_open``: when the storage cannot be reached, ``False`` (default) refuses the call with
      :class:`~guardrails.errors.RateLimitStorageError`, ``True`` lets it through; both audited.
    * ``storage_latch``: seconds the store counts as unreachable after a timeout or connection
      error (shared by every guardrail on that store; a background ping ends it early): calls
      then decide at once as ``fail_open`` says instead of waiting for a timeout each.

    Example::

        RateLimitMiddleware("30/minute", key="user", storage="redis://127.0.0.1:6379",
                            on_limit="wait", max_wait=10)
    """

    def __init__(
        self,
        limit: str,
        *,
        key: KeyKind | Callable[[Any], str] = "user",
        applies_to: Literal["model", "tools"] | Sequence[str] = "model",
        storage: str = "memory://",
        strategy: Literal["moving-window", "fixed-window", "sliding-window-counter"] = (
            "moving-window"
        ),
        on_limit: Literal["error", "wait", "end"] = "error",
        max_wait: float | None = None,
        fail_open: bool = False,
        name: str | None = None,
        storage_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        storage_read_timeout: float = DEFAULT_READ_TIMEOUT,
        storage_latch: float = DEFAULT_LATCH,
    ) -> None:
        super().__init__()
        if not isinstance(limit, str) or not limit.strip():
            raise GuardrailConfigError(
                f"limit must be a limits string such as '10/minute' or '10/second;500/hour', "
                f"got {limit!r}"
            )
        try:
            self.limits: list[RateLimitItem] = list(parse_many(limit))
        except ValueError as exc:
            raise GuardrailConfigError(
                f"limit {limit!r} cannot be parsed: use '<count>/<unit>' or "
                "'<count> per <n> <unit>' joined by ';' (units: second, minute, hour, day, "
                "month, year)"
            ) from exc
        for item in self.limits:
            if float(item.get_expiry()) > MAX_DURATION:
                raise GuardrailConfigError(
                    f"limit {limit!r}: a window of {item.get_expiry():g} s is longer than the "
                    f"longest the storage keeps exactly ({MAX_DURATION:.0f} s, 100 years)"
                )
        _check_key(key)
        if isinstance(applies_to, str):
            if applies_to not in ("model", "tools"):
                raise GuardrailConfigError(
                    f"applies_to must be 'model', 'tools' or a list of tool names, "
                    f"got {applies_to!r}"
                )
            self.tool_names: frozenset[str] | None = None
        else:
            self.tool_names = frozenset(v.tool_names("applies_to", applies_to, allow_empty=False))
        v.one_of("strategy", strategy, _STRATEGIES)
        v.one_of("on_limit", on_limit, _ON_LIMIT)
        max_wait = v.number("max_wait", max_wait, optional=True)
        fail_open = v.strict_bool("fail_open", fail_open)
        if max_wait is not None and on_limit != "wait":
            raise GuardrailConfigError("max_wait only applies with on_limit='wait'")
        spec = parse_storage(
            "storage",
            storage,
            connect_timeout=storage_connect_timeout,
            read_timeout=storage_read_timeout,
            latch=storage_latch,
        )
        self._storage_spec = spec
        self.limit = limit
        self.key = key
        self.applies_to = applies_to
        self.storage = storage
        self.strategy = strategy
        self.on_limit = on_limit
        self.max_wait = max_wait
        self.fail_open = fail_open
        self._name = name
        self.storage_connect_timeout = spec.connect_timeout
        self.storage_read_timeout = spec.read_timeout
        self.storage_latch = spec.latch
        self._clock: Callable[[], float] = time.time
        self._windows: MemoryWindows | RedisWindows
        if spec.is_memory:
            self._windows = MemoryWindows(strategy, self.limits, clock=lambda: self._clock())
        else:
            self._windows = RedisWindows(
                strategy, self.limits, RedisConnector.shared(spec), prefix="guardrails:rl"
            )
        if self.active_hooks() == ("tool", "model"):
            self.state_schema = EndState  # the tool side leaves the final message here

    def active_hooks(self) -> tuple[Hook, ...]:
        if self.applies_to == "model":
            return ("model",)
        # on_limit="end" for tools: the model hook replaces the next model call
        return ("tool", "model") if self.on_limit == "end" else ("tool",)

    @property
    def name(self) -> str:
        if self._name:
            return self._name
        return f"RateLimitMiddleware[{self.limit}]"

    # ------------------------------------------------------------------ the shared core
    def _key_of(self, request: Any) -> str:
        return _budget_key(self.key, request, self.name)

    def storage_step(self, request: Any) -> Prefetch | None:
        """The check-and-charge of a model call as a step of a composed stack's one-round-trip
        batch (:func:`guardrails.compose`); None when there is nothing to batch."""
        if self.applies_to != "model" or not isinstance(self._windows, RedisWindows):
            return None
        return self._windows.step("|".join((self.name, self._key_of(request))))

    def _hit(self, ids: tuple[str, ...]) -> IO:
        """Check every limit, then charge every limit (one atomic step)."""
        return self._windows.io("|".join(ids[1:]))

    def _admit(self, request: Any, what: str) -> Flow[AIMessage | str | None]:
        """Yields I/O until the call is admitted (returns None) or refused (returns the text)."""
        key = self._key_of(request)
        ids = ("guardrails", self.name, key)
        waited = 0.0
        while True:
            try:
                allowed, reset_at = yield self._hit(ids)
            except storage_errors() as exc:
                decision = "allow" if self.fail_open else "deny"
                self.audit(
                    "rate_limit.storage_error",
                    runtime=request.runtime,
                    error=type(exc).__name__,
                    decision=decision,
                    storage=self._storage_spec.label,
                    applies_to=what,
                )
                if self.fail_open:
                    return None
                raise RateLimitStorageError(
                    f"{self.name}: the rate-limit storage cannot be reached "
                    f"({type(exc).__name__}); refusing the call (fail_open=False)"
                ) from exc
            if allowed:
                if waited:
                    self.audit(
                        "rate_limit.waited",
                        runtime=request.runtime,
                        waited_s=round(waited, 3),
                        applies_to=what,
                    )
                return None
            delay = max(0.0, reset_at - self._clock())
            wait_for = max(delay, 0.01)  # a window that frees up now: look again shortly
            if self.on_limit == "wait" and (
                self.max_wait is None or waited + wait_for <= self.max_wait
            ):
                waited += wait_for
                yield Sleep(wait_for)
                continue
            self.audit(
                "rate_limit.exceeded",
                runtime=request.runtime,
                limit=self.limit,
                key_kind=self.key if isinstance(self.key, str) else "custom",
                applies_to=what,
                decision="error" if self.on_limit == "wait" else self.on_limit,
                reset_in_s=round(delay, 3),
            )
            message = (
                f"Rate limit {self.limit} reached for {what}; the window frees up in {delay:.1f} s"
            )
            if self.on_limit == "end":
                return message
            raise RateLimitExceededError(message, key=key, reset_at=reset_at, limit=self.limit)

    def model_flow(self, request: Any) -> Flow[Any]:
        if self.applies_to != "model":  # on_limit="end" for tools: end the run if asked
            return (yield from end_or_call(request, self.name))
        refused = yield from self._admit(request, "model")
        if refused is not None:
            return AIMessage(content=str(refused))
        return (yield Call(request))

    def tool_flow(self, request: Any) -> Flow[Any]:
        name = request.tool_call.get("name")
        if self.tool_names is not None and name not in self.tool_names:
            return (yield Call(request))
        refused = yield from self._admit(request, f"tool {name}")
        if refused is not None:
            from langgraph.types import Command

            return Command(
                update={
                    "messages": [
                        ToolMessage(
                            content=str(refused),
                            tool_call_id=request.tool_call["id"],
                            name=name,
                            status="error",
                        )
                    ],
                    END_KEY: {self.name: str(refused)},
                }
            )
        return (yield Call(request))

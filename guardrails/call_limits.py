"""Caps on model calls, model tokens and tool calls, per run and per thread.

Drop-in for LangChain's ``ModelCallLimitMiddleware`` / ``ToolCallLimitMiddleware`` (same
parameters, defaults, messages and exception classes), implemented in ``wrap_model_call`` /
``wrap_tool_call`` only: no extra graph nodes, so no extra graph steps per call.

* Thread counts live in graph state and are checkpointed with the thread.
* Run counts live in a channel that is never checkpointed, so they start at zero on every
  invocation (LangChain's mechanism, ``UntrackedValue``, made safe for several writers).
* Counters are keyed by the middleware's name, so several instances (one per ``tool_name``)
  never share or clobber counts.
* Parallel tool calls are decided deterministically from the position of the call among the
  last AI message's tool calls, so one AI message with 5 calls and ``run_limit=3`` runs exactly 3,
  in sync and in async, with no lock and nothing kept on ``self``.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from langchain.agents.middleware import ModelResponse
from langchain.agents.middleware.types import ExtendedModelResponse, PrivateStateAttr
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command
from typing_extensions import NotRequired

from guardrails import _validate as v
from guardrails._budget import DEFAULT_TTL, SharedBudget
from guardrails._core import Call, Flow, Guardrail, Hook
from guardrails._state import (
    END_KEY,
    EndState,
    RunScoped,
    end_or_call,
    merge_counts,
    tool_batch,
    with_update,
)
from guardrails._state import (
    counts as _counts,
)
from guardrails._storage import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LATCH,
    DEFAULT_READ_TIMEOUT,
    Prefetch,
    duration,
    parse_storage,
)
from guardrails.errors import (
    GuardrailConfigError,
    ModelCallLimitExceededError,
    ToolCallLimitExceededError,
)

__all__ = [
    "CallLimitState",
    "ModelCallLimitMiddleware",
    "ToolCallLimitMiddleware",
]

THREAD_KEY = "guardrails_thread_counts"
RUN_KEY = "guardrails_run_counts"


def _count(value: Any) -> int | None:
    """A token count as a provider reports it: a finite number >= 0 (not a bool), rounded up;
    None for anything else (a NaN, a negative number, a string, a list)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return math.ceil(value) if value >= 0 else None


def _tokens_of(usage: Any) -> int:
    """The tokens an answer used: ``total_tokens``, and never less than ``input_tokens +
    output_tokens`` (a provider that reports only the parts would otherwise count nothing and
    never reach a token limit).

    The figures come from the provider's answer as it was sent (clients do not check them): a
    figure that is not a count (a NaN, an infinity, a negative number, a string) is left out,
    so a malformed answer neither takes the call down nor gives tokens back to the budget.
    """
    if not usage or not hasattr(usage, "get"):
        return 0
    parts = sum(_count(usage.get(key)) or 0 for key in ("input_tokens", "output_tokens"))
    total = _count(usage.get("total_tokens"))
    return parts if total is None else max(total, parts)


def _thread_budget(
    thread_storage: str | None, thread_limit: int | None, **settings: Any
) -> SharedBudget | None:
    """The shared per-thread budget behind ``thread_storage=`` (None without it).

    Its settings are checked even when ``thread_storage`` is not set: a wrong value never waits
    for the day someone turns the budget on.
    """
    if thread_storage is None:
        v.strict_bool("thread_storage_fail_open", settings["fail_open"])
        duration("thread_storage_ttl", settings["ttl"], minimum=1.0)
        parse_storage(
            "thread_storage",
            "memory://",
            connect_timeout=settings["connect_timeout"],
            read_timeout=settings["read_timeout"],
            latch=settings["latch"],
        )
        return None
    if thread_limit is None:
        raise GuardrailConfigError(
            "thread_storage enforces thread_limit across concurrent runs; set thread_limit"
        )
    return SharedBudget("thread_storage", thread_storage, **settings)


class CallLimitState(EndState):
    """Private state of the call limits (not in the agent's input or output schema)."""

    guardrails_thread_counts: NotRequired[Annotated[dict[str, int], PrivateStateAttr, merge_counts]]
    guardrails_run_counts: NotRequired[Annotated[dict[str, int], PrivateStateAttr, RunScoped()]]


def _check_limit(name: str, value: int | None) -> None:
    v.whole_number(name, value, optional=True)


def _check_pair(kind: str, thread: int | None, run: int | None) -> None:
    if thread is not None and run is not None and run > thread:
        raise GuardrailConfigError(
            f"run_{kind} ({run}) cannot exceed thread_{kind} ({thread}): a run is part of a "
            "thread, so the run limit would never be reached"
        )


# --------------------------------------------------------------------------- model calls


class ModelCallLimitMiddleware(
    Guardrail,
    kind="model_call_limit",
    hooks=("model",),
    events=("limit.exceeded", "limit.storage_error"),
):
    """Caps model calls (and tokens) per run and per thread; drop-in for LangChain's.

    ``exit_behavior="end"`` stops the agent with an ``AIMessage`` that says which limit was hit;
    ``"error"`` raises :class:`~guardrails.errors.ModelCallLimitExceededError`. Token limits
    count ``usage_metadata["total_tokens"]`` of the model's answers (input plus output tokens
    when a provider reports only those): once a limit is reached,
    the next call is refused. Thread limits need a checkpointer.

    Thread counts live in graph state, so concurrent runs on one ``thread_id`` each see the last
    checkpoint and may each spend the whole ``thread_limit`` (LangChain's behaves the same).
    ``thread_storage="memory://"`` (concurrent runs in this process) or ``"redis://..."`` (every
    process) enforces ``thread_limit`` across them: each call first takes one unit, atomically,
    from a per-thread counter there (``thread_storage_fail_open`` chooses what a storage outage
    does, audited as ``limit.storage_error``).

    Example::

        agent = create_agent(model, tools=tools, checkpointer=InMemorySaver(), middleware=[
            ModelCallLimitMiddleware(thread_limit=50, run_limit=10, run_token_limit=200_000),
        ])
        shared = ModelCallLimitMiddleware(thread_limit=50, thread_storage="redis://redis:6379")
    """

    state_schema = CallLimitState

    def __init__(
        self,
        *,
        thread_limit: int | None = None,
        run_limit: int | None = None,
        exit_behavior: Literal["end", "error"] = "end",
        thread_token_limit: int | None = None,
        run_token_limit: int | None = None,
        thread_storage: str | None = None,
        thread_storage_fail_open: bool = False,
        thread_storage_ttl: float = DEFAULT_TTL,
        thread_storage_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        thread_storage_read_timeout: float = DEFAULT_READ_TIMEOUT,
        thread_storage_latch: float = DEFAULT_LATCH,
    ) -> None:
        super().__init__()
        for setting, value in (
            ("thread_limit", thread_limit),
            ("run_limit", run_limit),
            ("thread_token_limit", thread_token_limit),
            ("run_token_limit", run_token_limit),
        ):
            _check_limit(setting, value)
        if all(v is None for v in (thread_limit, run_limit, thread_token_limit, run_token_limit)):
            raise GuardrailConfigError(
                "At least one limit must be specified (thread_limit, run_limit, "
                "thread_token_limit or run_token_limit)"
            )
        if exit_behavior not in ("end", "error"):
            raise GuardrailConfigError(
                f"Invalid exit_behavior: {exit_behavior!r}. Must be 'end' or 'error'"
            )
        _check_pair("limit", thread_limit, run_limit)
        _check_pair("token_limit", thread_token_limit, run_token_limit)
        self.thread_limit = thread_limit
        self.run_limit = run_limit
        self.exit_behavior = exit_behavior
        self.thread_token_limit = thread_token_limit
        self.run_token_limit = run_token_limit
        self._calls = f"{self.name}:calls"
        self._tokens = f"{self.name}:tokens"
        self.thread_storage = thread_storage
        self._budget = _thread_budget(
            thread_storage,
            thread_limit,
            fail_open=thread_storage_fail_open,
            ttl=thread_storage_ttl,
            connect_timeout=thread_storage_connect_timeout,
            read_timeout=thread_storage_read_timeout,
            latch=thread_storage_latch,
        )

    def _exceeded(self, counts: dict[str, int]) -> tuple[str, str, int, int] | None:
        checks = (
            ("thread", "calls", counts["thread_calls"], self.thread_limit),
            ("run", "calls", counts["run_calls"], self.run_limit),
            ("thread", "tokens", counts["thread_tokens"], self.thread_token_limit),
            ("run", "tokens", counts["run_tokens"], self.run_token_limit),
        )
        for scope, unit, count, limit in checks:
            if limit is not None and count >= limit:
                return scope, unit, count, limit
        return None

    def _message(self, counts: dict[str, int]) -> str:
        parts = []
        if self.thread_limit is not None and counts["thread_calls"] >= self.thread_limit:
            parts.append(f"thread limit ({counts['thread_calls']}/{self.thread_limit})")
        if self.run_limit is not None and counts["run_calls"] >= self.run_limit:
            parts.append(f"run limit ({counts['run_calls']}/{self.run_limit})")
        if (
            self.thread_token_limit is not None
            and counts["thread_tokens"] >= self.thread_token_limit
        ):
            parts.append(
                f"thread token limit ({counts['thread_tokens']}/{self.thread_token_limit})"
            )
        if self.run_token_limit is not None and counts["run_tokens"] >= self.run_token_limit:
            parts.append(f"run token limit ({counts['run_tokens']}/{self.run_token_limit})")
        return f"Model call limits exceeded: {', '.join(parts)}"

    def _counts_of(self, request: Any) -> dict[str, int]:
        thread = _counts(request.state, THREAD_KEY)
        run = _counts(request.state, RUN_KEY)
        return {
            "thread_calls": thread.get(self._calls, 0),
            "run_calls": run.get(self._calls, 0),
            "thread_tokens": thread.get(self._tokens, 0),
            "run_tokens": run.get(self._tokens, 0),
        }

    def storage_step(self, request: Any) -> Prefetch | None:
        """The shared budget's take as a step of a composed stack's one-round-trip batch
        (:func:`guardrails.compose`); None when the call is refused by its counts in state
        (then nothing is taken) or there is nothing to batch."""
        if self._budget is None or self.thread_limit is None:
            return None
        if self._exceeded(self._counts_of(request)) is not None:
            return None
        return self._budget.step(request, self.name, self.thread_limit)

    def model_flow(self, request: Any) -> Flow[Any]:
        counts = self._counts_of(request)
        hit = self._exceeded(counts)
        if hit is None and self._budget is not None and self.thread_limit is not None:
            allowed, shared = yield from self._budget.take(request, self.name, self.thread_limit)
            if not allowed and shared is not None:
                counts["thread_calls"] = max(counts["thread_calls"], shared)
                hit = ("thread", "calls", counts["thread_calls"], self.thread_limit)
        if hit is not None:
            scope, unit, count, limit = hit
            message = self._message(counts)
            self.audit(
                "limit.exceeded",
                runtime=request.runtime,
                limit_kind=f"model_{unit}",
                scope=scope,
                count=count,
                limit=limit,
                decision=self.exit_behavior,
            )
            if self.exit_behavior == "error":
                raise ModelCallLimitExceededError(
                    counts["thread_calls"],
                    counts["run_calls"],
                    self.thread_limit,
                    self.run_limit,
                    message=message,
                    scope=scope,
                    count=count,
                    limit=limit,
                    unit=unit,
                )
            return AIMessage(content=message)
        response: ModelResponse[Any] = yield Call(request)
        tokens = 0
        for answer in response.result:
            tokens += _tokens_of(getattr(answer, "usage_metadata", None))
        update = {
            THREAD_KEY: {
                self._calls: counts["thread_calls"] + 1,
                self._tokens: counts["thread_tokens"] + tokens,
            },
            RUN_KEY: {
                self._calls: counts["run_calls"] + 1,
                self._tokens: counts["run_tokens"] + tokens,
            },
        }
        return ExtendedModelResponse(model_response=response, command=Command(update=update))


# --------------------------------------------------------------------------- tool calls


def _check_tool_limits(
    tool_name: Any, thread_limit: Any, run_limit: Any, exit_behavior: Any
) -> None:
    """Refuse ``ToolCallLimitMiddleware``'s settings that LangChain refuses, and ours."""
    _check_limit("thread_limit", thread_limit)
    _check_limit("run_limit", run_limit)
    if thread_limit is None and run_limit is None:
        raise GuardrailConfigError(
            "At least one limit must be specified (thread_limit or run_limit)"
        )
    if exit_behavior not in ("continue", "error", "end"):
        raise GuardrailConfigError(
            f"Invalid exit_behavior: {exit_behavior!r}. Must be one of ('continue', 'error', 'end')"
        )
    if tool_name is not None and (not isinstance(tool_name, str) or not tool_name):
        raise GuardrailConfigError(f"tool_name must be a tool's name or None, got {tool_name!r}")
    _check_pair("limit", thread_limit, run_limit)


#: (tool_name, called name) pairs already judged: True when they looked like a misspelling.
_NEAR_MISS: dict[tuple[str, str], bool] = {}


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one letter changed, added, dropped, or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1 :] == b[i + 1 :]:  # one letter changed
            return True
        return a[i + 2 :] == b[i + 2 :] and a[i] == b[i + 1] and a[i + 1] == b[i]  # swapped
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1 :] == shorter[i:]


def _say_near_miss(tool_name: str, called: Any) -> None:
    """Warn once when the agent calls a tool whose name is a near miss of ``tool_name``: the
    limit counts only calls of ``tool_name``, so a misspelt one (``"serach"``) counts nothing.
    Not refused at construction: one instance may sit in subagents that lack the tool."""
    if not isinstance(called, str):
        return
    pair = (tool_name, called)
    if pair in _NEAR_MISS:
        return
    short = min(len(tool_name), len(called)) < 4  # "ls" and "lt" are two tools
    near = (not short and _one_edit(tool_name.lower(), called.lower())) or (
        difflib.SequenceMatcher(None, tool_name, called).ratio() >= 0.85
    )
    if len(_NEAR_MISS) < 4096:
        _NEAR_MISS[pair] = near
    if near:
        warnings.warn(
            f"ToolCallLimitMiddleware: tool_name={tool_name!r}, and the agent called {called!r}: "
            f"a misspelt tool_name counts no call (did you mean {called!r}?)",
            UserWarning,
            stacklevel=2,
        )


_STOPPED = (
    "Execution stopped before this tool call could run because another tool call in the same "
    "batch exceeded the limit."
)


class ToolCallLimitMiddleware(
    Guardrail,
    kind="tool_call_limit",
    hooks=("tool", "model"),
    events=("limit.exceeded", "limit.storage_error"),
):
    """Caps tool calls per run and per thread, for one tool or all; drop-in for LangChain's.

    ``exit_behavior``: ``"continue"`` (default) answers each blocked call with an error
    ``ToolMessage`` and lets the agent go on; ``"end"`` answers every call of the batch and ends
    the run with an ``AIMessage`` explaining which limit was hit; ``"error"`` raises
    :class:`~guardrails.errors.ToolCallLimitExceededError` before any call of the batch runs.

    ``thread_storage`` (``memory://`` or a Redis URI) enforces ``thread_limit`` across concurrent
    runs and processes: each call first takes one unit, atomically, from a per-thread counter
    there; a call refused that way is answered as ``exit_behavior`` says.

    Example::

        middleware = [
            ToolCallLimitMiddleware(run_limit=20),                         # all tools
            ToolCallLimitMiddleware(tool_name="web_search", thread_limit=5),
        ]
    """

    state_schema = CallLimitState

    def __init__(
        self,
        *,
        tool_name: str | None = None,
        thread_limit: int | None = None,
        run_limit: int | None = None,
        exit_behavior: Literal["continue", "error", "end"] = "continue",
        thread_storage: str | None = None,
        thread_storage_fail_open: bool = False,
        thread_storage_ttl: float = DEFAULT_TTL,
        thread_storage_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        thread_storage_read_timeout: float = DEFAULT_READ_TIMEOUT,
        thread_storage_latch: float = DEFAULT_LATCH,
    ) -> None:
        super().__init__()
        _check_tool_limits(tool_name, thread_limit, run_limit, exit_behavior)
        self.tool_name = tool_name
        self.thread_limit = thread_limit
        self.run_limit = run_limit
        self.exit_behavior = exit_behavior
        self._key = self.name
        self.thread_storage = thread_storage
        self._budget = _thread_budget(
            thread_storage,
            thread_limit,
            fail_open=thread_storage_fail_open,
            ttl=thread_storage_ttl,
            connect_timeout=thread_storage_connect_timeout,
            read_timeout=thread_storage_read_timeout,
            latch=thread_storage_latch,
        )

    def active_hooks(self) -> tuple[Hook, ...]:
        # "end" needs the model hook too (a tool cannot stop the loop by itself); only that
        # setting pays for it
        return ("tool", "model") if self.exit_behavior == "end" else ("tool",)

    @property
    def name(self) -> str:
        base = "ToolCallLimitMiddleware"
        return f"{base}[{self.tool_name}]" if self.tool_name else base

    def _matches(self, call: Mapping[str, Any]) -> bool:
        return self.tool_name is None or call.get("name") == self.tool_name

    def _limit_text(self, thread_count: int, run_count: int) -> str:
        tool_desc = f"'{self.tool_name}' tool" if self.tool_name else "Tool"
        parts = []
        if self.thread_limit is not None and thread_count > self.thread_limit:
            parts.append(f"thread limit exceeded ({thread_count}/{self.thread_limit} calls)")
        if self.run_limit is not None and run_count > self.run_limit:
            parts.append(f"run limit exceeded ({run_count}/{self.run_limit} calls)")
        return f"{tool_desc} call limit reached: {' and '.join(parts)}."

    def _tool_text(self) -> str:
        if self.tool_name:
            return f"Tool call limit exceeded. Do not call '{self.tool_name}' again."
        return "Tool call limit exceeded. Do not make additional tool calls."

    def tool_flow(self, request: Any) -> Flow[Any]:
        call = request.tool_call
        _, batch = tool_batch(request)
        matching = [c for c in batch if self._matches(c)]
        if not matching:
            if self.tool_name is not None:
                _say_near_miss(self.tool_name, call.get("name"))
            return (yield Call(request))
        thread0 = _counts(request.state, THREAD_KEY).get(self._key, 0)
        run0 = _counts(request.state, RUN_KEY).get(self._key, 0)
        room = min(
            self.thread_limit - thread0 if self.thread_limit is not None else len(matching),
            self.run_limit - run0 if self.run_limit is not None else len(matching),
        )
        allowed = max(0, min(room, len(matching)))
        blocked = len(matching) - allowed
        mine = self._matches(call)
        position = next((i for i, c in enumerate(matching) if c.get("id") == call.get("id")), 0)
        is_blocked = mine and position >= allowed
        thread_after = thread0 + allowed
        run_after = run0 + allowed + blocked
        scope = (
            "thread"
            if self.thread_limit is not None and thread0 + len(matching) > self.thread_limit
            else "run"
        )
        limit_value = self.thread_limit if scope == "thread" else self.run_limit
        first_blocked = mine and position == allowed

        def report(decision: str) -> None:
            self.audit(
                "limit.exceeded",
                runtime=request.runtime,
                limit_kind="tool_calls",
                scope=scope,
                count=thread_after + blocked if scope == "thread" else run_after,
                limit=limit_value,
                decision=decision,
                tool=self.tool_name or call.get("name"),
                blocked=blocked,
            )

        if blocked and self.exit_behavior == "error":
            if first_blocked:  # one event for the batch
                report("error")
            raise ToolCallLimitExceededError(
                thread_after + blocked,
                run_after,
                self.thread_limit,
                self.run_limit,
                self.tool_name,
                message=self._limit_text(thread_after + blocked, run_after),
                scope=scope,
                count=run_after if scope == "run" else thread_after + blocked,
                limit=limit_value or 0,
            )
        if blocked and self.exit_behavior == "end":
            update: dict[str, Any] = {
                THREAD_KEY: {self._key: thread0},  # nothing of this batch ran
                RUN_KEY: {self._key: run_after},
            }
            if first_blocked:  # one event for the batch
                report("end")
            update[END_KEY] = {self._key: self._limit_text(thread_after + blocked, run_after)}
            text = self._tool_text() if is_blocked else _STOPPED
            update["messages"] = [
                ToolMessage(
                    content=text, tool_call_id=call["id"], name=call.get("name"), status="error"
                )
            ]
            return Command(update=update)
        if not mine:
            return (yield Call(request))
        update = {THREAD_KEY: {self._key: thread_after}, RUN_KEY: {self._key: run_after}}
        if is_blocked:
            if first_blocked:  # one event for the batch
                report("continue")
            update["messages"] = [
                ToolMessage(
                    content=self._tool_text(),
                    tool_call_id=call["id"],
                    name=call.get("name"),
                    status="error",
                )
            ]
            return Command(update=update)
        if self._budget is not None and self.thread_limit is not None:
            taken, shared = yield from self._budget.take(request, self.name, self.thread_limit)
            if not taken and shared is not None:
                return self._refused_by_budget(request, shared, run_after, thread0)
        result = yield Call(request)
        if isinstance(result, ToolMessage):
            update["messages"] = [result]
            return Command(update=update)
        if isinstance(result, Command):

            def merge(merged: dict[str, Any]) -> dict[str, Any]:
                for key in (THREAD_KEY, RUN_KEY):
                    merged[key] = merge_counts(merged.get(key), update[key])
                return merged

            return with_update(result, merge)
        return result

    def _refused_by_budget(self, request: Any, shared: int, run_after: int, thread0: int) -> Any:
        """The shared thread budget (``thread_storage``) is spent: answer per exit_behavior."""
        call = request.tool_call
        self.audit(
            "limit.exceeded",
            runtime=request.runtime,
            limit_kind="tool_calls",
            scope="thread",
            count=shared + 1,
            limit=self.thread_limit,
            decision=self.exit_behavior,
            tool=self.tool_name or call.get("name"),
            blocked=1,
        )
        text = self._limit_text(shared + 1, run_after)
        if self.exit_behavior == "error":
            raise ToolCallLimitExceededError(
                shared + 1,
                run_after,
                self.thread_limit,
                self.run_limit,
                self.tool_name,
                message=text,
                scope="thread",
                count=shared + 1,
                limit=self.thread_limit or 0,
            )
        update: dict[str, Any] = {
            THREAD_KEY: {self._key: thread0},  # this call did not run
            RUN_KEY: {self._key: run_after},
            "messages": [
                ToolMessage(
                    content=self._tool_text(),
                    tool_call_id=call["id"],
                    name=call.get("name"),
                    status="error",
                )
            ],
        }
        if self.exit_behavior == "end":
            update[END_KEY] = {self._key: text}
        return Command(update=update)

    def model_flow(self, request: Any) -> Flow[Any]:
        """``exit_behavior="end"``: the next model call is replaced by the explanation."""
        return (yield from end_or_call(request, self._key))

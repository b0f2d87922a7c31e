"""``compose(*middleware)``: several guardrails behind one hook pair.

LangChain wraps every middleware hook in a tracing span (about 110 us per hook per model call in
sync, about 440 us in async). Six separate guardrails pay that six times per call; a composed
stack pays it once, and behaves exactly as the same middleware listed separately in the same
order (the first is the outermost layer, commands from every layer are kept, inner first).

Example::

    from guardrails import compose

    agent = create_agent(
        model,
        tools=tools,
        middleware=[compose(ModelCallLimitMiddleware(run_limit=20), ModelRetryMiddleware(),
                            PIIMiddleware("email"))],
    )
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict, cast, get_type_hints

from langchain.agents.middleware import AgentMiddleware

from guardrails._adapters.langchain import (
    chain_async_model_call_handlers,
    chain_async_tool_call_wrappers,
    chain_model_call_handlers,
    chain_tool_call_wrappers,
)
from guardrails._core import HOOKS, Guardrail, Hook
from guardrails._storage import Prefetch, arun_batch, end_batch, run_batch
from guardrails.errors import GuardrailConfigError
from guardrails.order import check_order

__all__ = ["ComposedMiddleware", "compose"]

_NODE_HOOKS = (
    "before_agent",
    "abefore_agent",
    "before_model",
    "abefore_model",
    "after_model",
    "aafter_model",
    "after_agent",
    "aafter_agent",
)


def _overrides(member: AgentMiddleware[Any, Any, Any], hook: str) -> bool:
    return getattr(type(member), hook) is not getattr(AgentMiddleware, hook)


def _has_hook(member: AgentMiddleware[Any, Any, Any], hook: str) -> bool:
    """Whether ``member`` has the ``"model"`` or ``"tool"`` wrap hook (sync or async)."""
    return any(_overrides(member, method) for method, _ in HOOKS[hook][1])


class ComposedMiddleware(Guardrail, kind="compose", hooks=("model", "tool")):
    """Several middleware run inside one ``wrap_model_call`` / ``wrap_tool_call`` pair.

    Build it with :func:`compose`; ``members`` keeps the middleware in order. It has only the
    hooks its members have (LangChain traces every defined hook).

    Example::

        stack = compose(ModelRetryMiddleware(), PIIMiddleware("email"))
        stack.members  # (ModelRetryMiddleware, PIIMiddleware)
    """

    members: tuple[AgentMiddleware[Any, Any, Any], ...]

    def __init__(self, members: Sequence[AgentMiddleware[Any, Any, Any]]) -> None:
        self.members = tuple(members)
        self.tools = [tool for m in self.members for tool in getattr(m, "tools", ())]
        self._name = "compose(" + ",".join(m.name for m in self.members) + ")"
        model_members = [m for m in self.members if _has_hook(m, "model")]
        tool_members = [m for m in self.members if _has_hook(m, "tool")]
        hooks: list[Hook] = []
        if model_members:
            hooks.append("model")
        if tool_members:
            hooks.append("tool")
        self._hooks = tuple(hooks)
        # guardrails that keep state in one store, listed first one after another (the
        # recommended order: rate limit, call limits, fallback): their pre-call storage work
        # goes in one round trip (one Lua script), see _batch
        self._storage_members: list[Any] = []
        for member in model_members:
            if not callable(getattr(member, "storage_step", None)):
                break
            self._storage_members.append(member)
        if len(self._storage_members) < 2:
            self._storage_members = []
        self._model = chain_model_call_handlers([m.wrap_model_call for m in model_members])
        self._amodel = chain_async_model_call_handlers([m.awrap_model_call for m in model_members])
        self._tool = chain_tool_call_wrappers([m.wrap_tool_call for m in tool_members])
        self._atool = chain_async_tool_call_wrappers([m.awrap_tool_call for m in tool_members])

    def active_hooks(self) -> tuple[Hook, ...]:
        return self._hooks

    @property
    def name(self) -> str:
        return self._name

    def _batch(self, request: Any) -> list[Prefetch] | None:
        """The leading storage guardrails' pre-call steps on one store, in order.

        Stops at the first member with nothing to batch (memory storage, a call its state
        already refuses, a missing id: it then acts on its own), at another store, and on a
        Cluster (keys of several guardrails are in several hash slots).
        """
        batch: list[Prefetch] = []
        for member in self._storage_members:
            try:
                step = member.storage_step(request)
            except Exception:  # the member raises it again itself, in order
                step = None
            if step is None or step.connector.spec.scheme == "redis+cluster":
                break
            if batch and step.connector.spec.uri != batch[0].connector.spec.uri:
                break
            batch.append(step)
        return batch if len(batch) >= 2 else None

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        batch = self._batch(request) if self._storage_members else None
        if batch is None:
            return self._model(request, handler)
        token = run_batch(batch)
        try:
            return self._model(request, handler)
        finally:
            end_batch(token)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        batch = self._batch(request) if self._storage_members else None
        if batch is None:
            return await self._amodel(request, handler)
        token = await arun_batch(batch)
        try:
            return await self._amodel(request, handler)
        finally:
            end_batch(token)

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return self._tool(request, handler)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await self._atool(request, handler)


def _merged_state_schema(members: Sequence[AgentMiddleware[Any, Any, Any]]) -> type:
    annotations: dict[str, Any] = {}
    for member in members:
        schema = getattr(member, "state_schema", None)
        if schema is None:
            continue
        annotations.update(get_type_hints(schema, include_extras=True))
    return cast(type, TypedDict("ComposedState", annotations, total=False))  # type: ignore[operator]


def compose(*middleware: AgentMiddleware[Any, Any, Any]) -> ComposedMiddleware:
    """One middleware that runs ``middleware`` in order inside a single hook pair.

    Behaves exactly like listing them separately in the same order: the first is the outermost
    layer, state schemas and tools are merged, and each member still emits its own audit events.
    Only ``wrap_*`` hooks can be composed; a member with node hooks (``before_model``,
    ``after_model``, ``before_agent``, ``after_agent``) is refused, since those are separate graph
    steps. Nested :class:`ComposedMiddleware` are flattened.

    Example::

        agent = create_agent(model, middleware=[compose(retry, pii, limits)])

    Raises:
        GuardrailConfigError: nothing to compose, a member that is not an ``AgentMiddleware``,
            a member with node hooks, or two members with the same name.
    """
    members: list[AgentMiddleware[Any, Any, Any]] = []
    for item in middleware:
        if isinstance(item, ComposedMiddleware):
            members.extend(item.members)
        elif isinstance(item, AgentMiddleware):
            members.append(item)
        else:
            raise GuardrailConfigError(
                f"compose() takes AgentMiddleware instances, got {type(item).__name__}"
            )
    if not members:
        raise GuardrailConfigError("compose() needs at least one middleware")
    for member in members:
        hooks = [hook for hook in _NODE_HOOKS if _overrides(member, hook)]
        if hooks:
            raise GuardrailConfigError(
                f"compose() cannot merge {member.name}: it defines node hooks {hooks}, which are "
                "separate graph steps; list it separately in middleware=[...]"
            )
    names = [m.name for m in members]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GuardrailConfigError(
            f"compose() got several middleware named {duplicates}; give each a distinct name"
        )
    composed = ComposedMiddleware(members)
    composed.state_schema = _merged_state_schema(members)
    check_order(members)  # a known-bad order warns at construction
    return composed

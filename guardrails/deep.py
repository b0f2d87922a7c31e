"""Give every subagent of a deep agent the same guardrails, or refuse the setup.

deepagents' ``create_deep_agent`` gives the main agent's ``middleware`` to the main agent only.
The ``general-purpose`` subagent it adds on its own gets none of it, a declarative subagent gets
only what its spec lists, and a compiled subagent (a ``runnable``) keeps whatever it was built
with. A guardrail listed once therefore does not hold in the subagents, which is where a model
goes when it wants something done out of sight.

:func:`create_deep_agent` is the one way to build a deep agent whose subagents all carry the
guardrails, with the same parameters as deepagents' function plus ``guardrails``:

* ``guardrails`` is a list of middleware, or a :class:`guardrails.policy.Policy` (a policy file);
* the main agent gets the list (ahead of any ``middleware=`` of its own);
* every declarative subagent gets it too (with a policy: the policy's stack for that subagent's
  name, or the main stack for a name the policy does not mention), followed by the spec's own
  ``middleware``; a spec's own middleware with the same ``name`` replaces the inherited one
  (``jail.restrict(...)`` in place of ``jail``);
* the ``general-purpose`` subagent is supplied explicitly, with deepagents' own description and
  prompt (and the harness profile's overrides), carrying the guardrails, unless the harness
  profile turns it off or you supply your own spec with that name (which then gets them like any
  other spec);
* compiled subagents cannot be given middleware: each of the main agent's guardrails that has a
  ``guard_deep_agent(setup)`` method is asked to hold them another way, or to refuse the setup
  with a :class:`~guardrails.errors.GuardrailConfigError`. ``FilesystemPermissionMiddleware``
  wraps the shared backend with its rules and guards, in place, the backend of every deepagents
  file tool inside a compiled subagent (the subagent is then held to the rules of the agent that
  calls it; used on its own elsewhere, it behaves as before), and refuses a compiled subagent whose
  tools it cannot inspect. Guardrails without the method are not applied inside compiled
  subagents; they still see the ``task`` call's input and answer in the calling agent.

The hook, for guardrail authors::

    class MyGuardrail(AgentMiddleware):
        def guard_deep_agent(self, setup: DeepAgentSetup) -> None:
            setup.backend = wrap(setup.backend)          # optional
            for name, runnable in setup.compiled.items():
                if not can_hold(runnable):
                    raise GuardrailConfigError(f"compiled subagent {name!r}: ...")

Example::

    from deepagents.backends import FilesystemBackend
    from guardrails.deep import create_deep_agent
    from guardrails.filesystem import FilesystemPermission, FilesystemPermissionMiddleware
    from guardrails.policy import Policy

    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read", "write"], ["**/.env"], mode="deny"),
         FilesystemPermission(["read", "write"], ["/workspace/**"])],
        default="deny",
    )
    agent = create_deep_agent(model, guardrails=[jail, PIIMiddleware("email")],
                              backend=FilesystemBackend(root_dir=root, virtual_mode=True),
                              subagents=[{"name": "researcher", "description": "...",
                                          "system_prompt": "..."}])
    # or, from a policy file:
    agent = create_deep_agent(model, guardrails=Policy.load("guardrails.toml"), subagents=[...])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain.agents.middleware import AgentMiddleware

from guardrails._adapters import deepagents as _da
from guardrails.errors import GuardrailConfigError

__all__ = ["GENERAL_PURPOSE", "DeepAgentSetup", "create_deep_agent", "subagent_stacks"]

#: The name deepagents gives its auto-added subagent.
GENERAL_PURPOSE = "general-purpose"


@dataclass
class DeepAgentSetup:
    """What a guardrail's ``guard_deep_agent(setup)`` may look at and adjust before the build.

    ``backend`` (the shared backend; a guardrail may replace it with a wrapped one), ``compiled``
    (compiled subagents by name: hold them, or raise ``GuardrailConfigError``), ``model``,
    ``kwargs`` (the other arguments given to ``create_deep_agent``) and ``tools`` (the agent's and
    its declarative subagents' tools), read-only by convention.

    Example::

        def guard_deep_agent(self, setup: DeepAgentSetup) -> None:
            setup.backend = self.guard(setup.backend)
    """

    backend: Any
    compiled: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: the agent's tools and those of its declarative subagents (to check against, read-only)
    tools: list[Any] = field(default_factory=list)


def _members(stack: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for m in stack:
        members = getattr(m, "members", None)
        out.extend(_members(members) if isinstance(members, tuple) else [m])
    return out


def _check_stack(stack: Any, where: str) -> list[AgentMiddleware[Any, Any, Any]]:
    if isinstance(stack, (str, bytes, Mapping)) or not isinstance(stack, Iterable):
        raise GuardrailConfigError(
            f"{where} must be a list of middleware or a guardrails.policy.Policy, "
            f"got {type(stack).__name__}"
        )
    items = list(stack)
    for item in items:
        if not isinstance(item, AgentMiddleware):
            raise GuardrailConfigError(
                f"{where} must hold AgentMiddleware instances, got {type(item).__name__}"
            )
    return items


def _is_policy(guardrails: Any) -> bool:
    return callable(getattr(guardrails, "middleware", None)) and hasattr(
        guardrails, "subagent_names"
    )


def subagent_stacks(
    guardrails: Any, names: Iterable[str]
) -> tuple[list[AgentMiddleware[Any, Any, Any]], dict[str, list[AgentMiddleware[Any, Any, Any]]]]:
    """``(main stack, stack per subagent name)`` for a middleware list or a policy.

    A list gives every subagent the same instances (guardrails are stateless); a policy builds
    each subagent's stack from its ``subagents.NAME`` section, or the main stack for a name it
    does not mention.

    Example::

        main, per_name = subagent_stacks(policy, ["researcher", "general-purpose"])
    """
    main = _check_stack(
        guardrails.middleware() if _is_policy(guardrails) else guardrails, "guardrails"
    )
    return main, {name: _stack_for(guardrails, main, name) for name in names}


def _stack_for(guardrails: Any, main: list[Any], name: str) -> list[AgentMiddleware[Any, Any, Any]]:
    """The stack of subagent ``name``: a policy's ``subagents.NAME`` section (fresh instances),
    else the main stack (a policy builds it afresh; a list gives the same instances)."""
    if not _is_policy(guardrails):
        return list(main)
    built = (
        guardrails.middleware(name)
        if name in set(guardrails.subagent_names)
        else guardrails.middleware()
    )
    return _check_stack(built, f"guardrails (subagent {name!r})")


def _merge(inherited: Sequence[Any], own: Sequence[Any]) -> list[Any]:
    """Inherited middleware first; a spec's own middleware with the same name replaces it."""
    own_by_name = {getattr(m, "name", None): m for m in own}
    merged = [own_by_name.pop(m.name, m) for m in inherited]
    used = {id(m) for m in merged}
    return merged + [m for m in own if id(m) not in used]


class _SummarizationMoved(AgentMiddleware[Any, Any, Any]):
    """Takes the place of deepagents' built-in summarization (same name: deepagents replaces
    its own in place), which :func:`_summarization_after_pii` re-adds after the PII guardrail."""

    @property
    def name(self) -> str:
        return "SummarizationMiddleware"


def _summarization_after_pii(stack: Sequence[Any], model: Any, backend: Any) -> list[Any]:
    """deepagents' summarization, moved *after* the stack's ``PIIMiddleware`` (it sits before
    any user middleware, so it sent the raw history to its model and wrote it raw to
    ``/conversation_history/<session>.md``). After it, the summarizer and the offloaded
    history get the messages as the PII guardrail handled them. Nothing when the stack has no
    PII guardrail or already names its own summarization."""
    members = _members(stack)
    if not any(getattr(m, "kind", None) == "pii" for m in members):
        return []
    if any(getattr(m, "name", None) == "SummarizationMiddleware" for m in members):
        return []  # the caller chose a summarization of their own
    from deepagents.middleware.summarization import create_summarization_middleware

    summarization = create_summarization_middleware(_da.resolve_chat_model(model), backend)
    moved = _da.retype(summarization, _renamed_summarization(type(summarization)))
    return [_SummarizationMoved(), moved]


_RENAMED: dict[type, type] = {}


def _renamed_summarization(cls: type) -> type:
    known = _RENAMED.get(cls)
    if known is None:
        known = type(
            cls.__name__,
            (cls,),
            {
                "__module__": __name__,
                "name": property(lambda self: "GuardedSummarizationMiddleware"),
            },
        )
        _RENAMED[cls] = known
    return known


def create_deep_agent(
    model: Any = None,
    tools: Sequence[Any] | None = None,
    *,
    guardrails: Any,
    subagents: Sequence[Mapping[str, Any]] | None = None,
    middleware: Sequence[Any] = (),
    backend: Any = None,
    **kwargs: Any,
) -> Any:
    """deepagents' ``create_deep_agent`` with ``guardrails`` held in every subagent.

    ``guardrails``: a list of middleware or a :class:`guardrails.policy.Policy`. Every other
    argument is deepagents' own and passed through. Raises ``GuardrailConfigError`` when a
    guardrail cannot hold a compiled subagent.

    Example::

        agent = create_deep_agent(model, guardrails=[jail], backend=backend,
                                  subagents=[{"name": "reviewer", "description": "...",
                                              "system_prompt": "...",
                                              "middleware": [jail.restrict(read_only)]}])
    """
    try:
        import deepagents
        from deepagents.backends import StateBackend
        from deepagents.middleware.subagents import GENERAL_PURPOSE_SUBAGENT
    except ImportError as exc:  # pragma: no cover - deepagents is optional
        raise GuardrailConfigError("guardrails.deep needs deepagents installed") from exc

    specs = [dict(spec) for spec in (subagents or [])]
    for i, spec in enumerate(specs):
        if not isinstance(spec.get("name"), str):
            raise GuardrailConfigError(f"subagents[{i}] needs a 'name' (a string)")
    if _is_policy(guardrails) and callable(getattr(guardrails, "check_subagents", None)):
        guardrails.check_subagents(s["name"] for s in specs)  # a misspelled section is refused
    declarative = [s for s in specs if "runnable" not in s and "graph_id" not in s]
    declarative_ids = {id(s) for s in declarative}
    added_gp, gp_description, gp_prompt = _da.general_purpose_profile(model)
    add_gp = added_gp and not any(s["name"] == GENERAL_PURPOSE for s in specs)
    # the general-purpose subagent's stack is built below, only when it is added
    main, stacks = subagent_stacks(guardrails, [s["name"] for s in declarative])

    setup = DeepAgentSetup(
        backend=backend if backend is not None else StateBackend(),
        compiled={s["name"]: s["runnable"] for s in specs if "runnable" in s},
        model=model,
        kwargs=dict(kwargs),
        tools=[*(tools or []), *(t for s in declarative for t in s.get("tools") or [])],
    )
    seen: set[int] = set()
    for member in _members(main):  # the main agent's guardrails: the backend is shared by all
        hook = getattr(member, "guard_deep_agent", None)
        if callable(hook) and id(member) not in seen:
            seen.add(id(member))
            hook(setup)

    out: list[dict[str, Any]] = []
    for spec in specs:
        if id(spec) in declarative_ids:
            merged = _merge(stacks[spec["name"]], spec.get("middleware", []))
            merged += _summarization_after_pii(merged, spec.get("model", model), setup.backend)
            spec = {**spec, "middleware": merged}
        out.append(spec)
    if add_gp:
        gp_stack = _stack_for(guardrails, main, GENERAL_PURPOSE)
        gp_stack += _summarization_after_pii(gp_stack, model, setup.backend)
        gp: dict[str, Any] = {**GENERAL_PURPOSE_SUBAGENT, "middleware": gp_stack}
        if gp_description is not None:
            gp["description"] = gp_description
        if gp_prompt is not None:
            gp["system_prompt"] = gp_prompt
        if kwargs.get("skills") is not None:
            gp["skills"] = kwargs["skills"]
        out.insert(0, gp)
    main_stack = [*main, *middleware]
    main_stack += _summarization_after_pii(main_stack, model, setup.backend)
    return deepagents.create_deep_agent(
        model,
        tools,
        middleware=main_stack,
        subagents=out,  # type: ignore[arg-type]
        backend=setup.backend,
        **kwargs,
    )

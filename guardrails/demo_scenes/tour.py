"""Scene: the tour. One offline deep agent, two subagents, every guardrail under one policy.

The main agent ``assistant`` (deepagents) gets: "find ACME's refund policy and email it to the
customer", with a card number in the request. Its stack comes from a policy file
(``guardrails/demo_policy.toml`` unless ``--policy`` names another); its subagents ``researcher``
and ``mailer`` get their own, stricter stacks from the same file. The models are scripted
(:class:`~guardrails.testing.ScriptedChatModel`), so it runs with no API key and no network:

* the assistant's model answers 429 once (``retry.attempt``), then 503 twice: the retry gives up
  and the fallback model answers instead (``fallback.switched``);
* the card number is redacted before any model sees it (``pii.detected``);
* the researcher tries to read ``/secrets/api_keys.txt`` (``fs.denied``), finds an email and a
  phone number in a search result (redacted: ``pii.detected``) and keeps searching until its
  model call limit stops it (``limit.exceeded``);
* the mailer's model works with a pseudonym of the customer's address; only the ``send_email``
  tool gets the real one (``pii.pseudonymized``, ``pii.restored``).

Every model decides from what it has seen so far, not from a fixed position in a script, so a
different policy changes the story instead of breaking it.

Example::

    from guardrails.demo_scenes import tour
    tour.run(sys.stdout)                       # the packaged policy
    tour.run(sys.stdout, Policy.load("my.toml"))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

from langchain.agents.middleware import AgentMiddleware
from langchain_core.exceptions import ModelAPIError, ModelRateLimitError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool

from guardrails.compose import ComposedMiddleware, compose
from guardrails.errors import GuardrailConfigError, GuardrailError
from guardrails.fallback import ModelFallbackMiddleware
from guardrails.order import kind_of
from guardrails.policy import Policy
from guardrails.testing import ScriptedChatModel, ScriptExhaustedError, tool_call

__all__ = ["DEFAULT_POLICY", "EXPECTED_EVENTS", "TITLE", "build", "run", "with_fallback"]

TITLE = "The tour: a deep agent and two subagents under one policy"

#: The policy the tour plays unless ``--policy`` names another file.
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "demo_policy.toml"

#: The event kinds the tour is scripted to produce with the default policy.
EXPECTED_EVENTS: tuple[str, ...] = (
    "retry.attempt",
    "fallback.switched",
    "pii.detected",
    "limit.exceeded",
    "fs.denied",
    "pii.pseudonymized",
    "pii.restored",
)

REQUEST = (
    "Find ACME's refund policy and email it to jane.doe@example.com today. "
    "Charge the fee to my card 4111 1111 1111 1111."
)
SECRET_PATH = "/secrets/api_keys.txt"
SEARCH_RESULT = (
    "ACME refunds any order within 30 days of delivery. "
    "Questions: refunds@acme.com or +1 212 555 0143."
)
#: A fallback goes outside these (docs/policy.md, "Recommended order").
_INSIDE_FALLBACK = frozenset({"model_retry", "tool_retry", "pii"})  # kinds

Say = Callable[[str, str], None]
Brain = Callable[[list[BaseMessage]], AIMessage | str]


def with_fallback(
    stack: Sequence[AgentMiddleware[Any, Any, Any]], fallback: ModelFallbackMiddleware
) -> list[AgentMiddleware[Any, Any, Any]]:
    """``stack`` with ``fallback`` placed before its retries and PII (the recommended order).

    A composed stack stays composed: its members are spread, the fallback inserted, and the
    result composed again. Limits and permissions stay outside the fallback (one logical call
    counts once); retries and PII stay inside it (each model is retried before the switch, and
    every model sees redacted input). A ``ModelFallbackMiddleware`` already in the stack is
    replaced in place: an agent has one fallback chain.

    Example::

        stack = with_fallback(policy.middleware(), ModelFallbackMiddleware(backup_model))
    """
    members: list[AgentMiddleware[Any, Any, Any]] = []
    composed = False
    for item in stack:
        if isinstance(item, ComposedMiddleware):
            composed = True
            members.extend(item.members)
        else:
            members.append(item)
    existing = [i for i, m in enumerate(members) if isinstance(m, ModelFallbackMiddleware)]
    if existing:
        at = existing[0]
        members = [m for m in members if not isinstance(m, ModelFallbackMiddleware)]
    else:
        at = next(
            (i for i, m in enumerate(members) if kind_of(m) in _INSIDE_FALLBACK),
            len(members),
        )
    members.insert(at, fallback)
    return [compose(*members)] if composed else members


def _tool_results(messages: list[BaseMessage], name: str) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage) and m.name == name]


def _last_human(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def _first_human(messages: list[BaseMessage]) -> str:
    for message in messages:
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def _short(text: str, width: int = 96) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _assistant_brain(say: Say, who: str) -> Brain:
    """The assistant: delegate research, then the email, then answer."""

    def decide(messages: list[BaseMessage]) -> AIMessage | str:
        tasks = _tool_results(messages, "task")
        if not tasks:
            say(who, f"the model saw the request: {_short(_last_human(messages), 160)!r}")
            say(who, "delegates the research to the researcher")
            return AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": "Find ACME's refund policy.",
                            "subagent_type": "researcher",
                        },
                    )
                ],
            )
        if len(tasks) == 1:
            say(who, f"the researcher reported: {_short(str(tasks[0].content))!r}")
            # a model only knows what it was shown: a redacted address stays redacted
            found = re.search(r"email it to (\S+) today", _first_human(messages))
            recipient = found.group(1) if found else "the customer"
            say(who, "delegates the email to the mailer")
            return AIMessage(
                "",
                tool_calls=[
                    tool_call(
                        "task",
                        {
                            "description": (
                                f"Email the refund policy to {recipient} today: "
                                "refunds within 30 days of delivery."
                            ),
                            "subagent_type": "mailer",
                        },
                    )
                ],
            )
        say(who, f"the mailer reported: {_short(str(tasks[-1].content))!r}")
        return "Done: the customer has ACME's refund policy (refunds within 30 days)."

    return decide


def _researcher_brain(say: Say) -> Brain:
    """The researcher: pokes at a secret file, then searches again and again."""

    def decide(messages: list[BaseMessage]) -> AIMessage | str:
        reads = _tool_results(messages, "read_file")
        searches = _tool_results(messages, "web_search")
        if not reads:
            say("researcher", f"tries read_file {SECRET_PATH}")
            return AIMessage("", tool_calls=[tool_call("read_file", {"file_path": SECRET_PATH})])
        if not searches:
            say("researcher", f"read_file answered: {_short(str(reads[-1].content))!r}")
        else:
            say("researcher", f"the model read: {_short(str(searches[-1].content), 160)!r}")
        if len(searches) < 3:
            query = "ACME refund policy" + (" details" * len(searches))
            say("researcher", f"searches {query!r}")
            return AIMessage("", tool_calls=[tool_call("web_search", {"query": query})])
        return "ACME refunds any order within 30 days of delivery."

    return decide


def _mailer_brain(say: Say) -> Brain:
    """The mailer: sends the email to whoever the task names."""

    def decide(messages: list[BaseMessage]) -> AIMessage | str:
        if _tool_results(messages, "send_email"):
            return "Email sent."
        task = _last_human(messages)
        say("mailer", f"the model saw the task: {_short(task)!r}")
        found = re.search(r"to (\S+) today", task)
        recipient = found.group(1) if found else "the customer"
        return AIMessage(
            "",
            tool_calls=[
                tool_call(
                    "send_email",
                    {
                        "to": recipient,
                        "subject": "ACME refund policy",
                        "body": "Refunds within 30 days of delivery.",
                    },
                )
            ],
        )

    return decide


def _tools(say: Say) -> tuple[BaseTool, BaseTool]:
    @tool
    def web_search(query: str) -> str:
        """Search the web."""
        return SEARCH_RESULT

    @tool
    def send_email(to: str, subject: str, body: str) -> str:
        """Send an email."""
        say("mailer", f"send_email ran with to={to!r}")
        return "sent"

    return web_search, send_email


def build(policy: Policy, out: IO[str]) -> tuple[Any, dict[str, ScriptedChatModel]]:
    """The tour's deep agent under ``policy``; returns it and its scripted models by role.

    Example::

        agent, models = build(Policy.load(DEFAULT_POLICY), sys.stdout)
    """
    try:
        from deepagents import create_deep_agent
        from deepagents.middleware.subagents import GENERAL_PURPOSE_SUBAGENT
    except ImportError as exc:  # the deepagents extra is not installed
        raise GuardrailConfigError(
            "the demo tour runs a deep agent: pip install 'guardrails-middleware[deepagents]'"
        ) from exc

    def say(who: str, line: str) -> None:
        print(f"  [{who}] {line}", file=out)

    def fail(exc: Exception, line: str) -> Brain:
        def raise_(messages: list[BaseMessage]) -> AIMessage | str:
            say("assistant", line)
            raise exc

        return raise_

    plan = _assistant_brain(say, "assistant")
    primary = ScriptedChatModel(
        model_name="primary-model",
        responses=[
            fail(ModelRateLimitError("429 Too Many Requests"), "primary model: 429, slow down"),
            plan,
            fail(ModelAPIError("503 Service Unavailable"), "primary model: 503"),
            fail(ModelAPIError("503 Service Unavailable"), "primary model: 503 again"),
        ],
        default=plan,
    )
    backup = ScriptedChatModel(
        model_name="backup-model", default=_assistant_brain(say, "assistant via backup-model")
    )
    researcher = ScriptedChatModel(model_name="researcher-model", default=_researcher_brain(say))
    mailer = ScriptedChatModel(model_name="mailer-model", default=_mailer_brain(say))
    web_search, send_email = _tools(say)
    subagents = policy.subagents(
        [
            {
                "name": "researcher",
                "description": "Researches questions on the web.",
                "system_prompt": "You research questions on the web.",
                "model": researcher,
                "tools": [web_search],
            },
            {
                "name": "mailer",
                "description": "Sends emails.",
                "system_prompt": "You send emails.",
                "model": mailer,
                "tools": [send_email],
            },
            # deepagents adds a general-purpose subagent with none of the policy's guardrails
            # (the PII guardrail refuses that setup): give it the policy's stack explicitly
            {**GENERAL_PURPOSE_SUBAGENT, "model": backup},
        ]
    )
    middleware = with_fallback(
        policy.middleware(), ModelFallbackMiddleware(backup, failure_threshold=3, cooldown=30)
    )
    agent = create_deep_agent(
        model=primary,
        name="assistant",
        middleware=middleware,
        subagents=cast("list[Any]", subagents),
    )
    models = {"primary": primary, "backup": backup, "researcher": researcher, "mailer": mailer}
    return agent, models


def run(out: IO[str], policy: Policy | None = None) -> None:
    """Play the tour under ``policy`` (the packaged demo policy by default)."""
    policy = policy if policy is not None else Policy.load(DEFAULT_POLICY)
    agent, models = build(policy, out)
    if any(spec.kind == "model_fallback" for spec in policy.specs()):
        print("  (the policy's fallback models are swapped for a scripted one: offline)", file=out)
    print(f"  [user] {REQUEST}", file=out)
    try:
        from deepagents.backends.utils import create_file_data

        result = agent.invoke(
            {
                "messages": [HumanMessage(REQUEST)],
                "files": {SECRET_PATH: create_file_data("OPENAI_API_KEY=sk-demo-not-a-real-key")},
            }
        )
        print(f"  [assistant] answers: {result['messages'][-1].content}", file=out)
    except (GuardrailError, ScriptExhaustedError) as exc:
        print(f"  the run stopped: {type(exc).__name__}: {exc}", file=out)
    print(
        f"  model calls: primary {models['primary'].calls}, backup {models['backup'].calls}, "
        f"researcher {models['researcher'].calls}, mailer {models['mailer'].calls}",
        file=out,
    )

"""Promises a careless edit would break unnoticed (issue 29: the survivors of a mutation pass).

Each test states one documented promise through the public API and a real agent, so that it
fails whichever line implements the promise is broken, not only the one that was mutated:

* an explicit deny rule on deepagents' offload folders holds for reads;
* ``execute`` needs an explicit allow, also under ``default="allow"``;
* the in-memory breaker lets exactly one probe through when the cooldown ends;
* a guardrail's own refusal inside a fallback is raised, never counted or "fallen back";
* ``apply_to_tool_args`` alone handles the provider's raw copy of the arguments too;
* text a later middleware swaps in (same length, same object) is scanned at the last hop;
* a structured response from a middleware that answers without the model is handled;
* every boolean setting of every public guardrail refuses a non-boolean.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import wrap_model_call
from langchain.agents.middleware.types import ModelResponse
from langchain.agents.structured_output import ToolStrategy
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from pydantic import BaseModel

import guardrails
from guardrails import (
    FilesystemPermission,
    FilesystemPermissionMiddleware,
    Guardrail,
    GuardrailConfigError,
    ModelFallbackMiddleware,
    PIIDetectionError,
    PIIMiddleware,
)
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

EMAIL = "jane.doe@example.com"
SECRET = "hunter2-s3cr3t"


def _dumps(value: Any) -> str:
    return json.dumps(
        value, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o)
    )


# --------------------------------------------------------------------------- filesystem

deepagents = pytest.importorskip("deepagents")
from deepagents.backends import FilesystemBackend, LocalShellBackend  # noqa: E402


def _deep_calls(calls: list[tuple[str, dict[str, Any]]], mode: str, **kwargs: Any) -> list[str]:
    script: list[Any] = [AIMessage("", tool_calls=[tool_call(n, a)]) for n, a in calls]
    agent = deepagents.create_deep_agent(
        model=ScriptedChatModel(responses=[*script, "done"]), **kwargs
    )
    out = invoke(agent, {"messages": [("user", "go")]}, mode)
    return [str(m.content) for m in out["messages"] if isinstance(m, ToolMessage)]


@pytest.mark.parametrize("folder", ["large_tool_results", "conversation_history"])
@pytest.mark.parametrize("default", ["allow", "deny"])
def test_an_explicit_deny_on_an_offload_folder_holds_for_reads(
    tmp_path: Path, mode: str, folder: str, default: str, audit: AuditCapture
) -> None:
    """deepagents may read back its own offloaded files under a jail, unless a rule says no."""
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "call_abc").write_text(f"offloaded {SECRET}\n")
    (tmp_path / "workspace").mkdir()
    rules = [
        FilesystemPermission(["read", "write"], [f"/{folder}/**"], "deny"),
        FilesystemPermission(["read", "write"], ["/workspace/**"]),
    ]
    jail = FilesystemPermissionMiddleware(rules, default=default)
    answers = _deep_calls(
        [("read_file", {"file_path": f"/{folder}/call_abc"})],
        mode,
        middleware=[jail],
        backend=FilesystemBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and SECRET not in answers[0]
    assert [e["reason"] for e in audit.of("fs.denied")] == ["rule"]


def test_execute_needs_an_explicit_allow_under_default_allow(
    tmp_path: Path, mode: str, audit: AuditCapture
) -> None:
    """No rule names ``execute``: a shell command is refused even when files are open."""
    marker = tmp_path / "ran"
    jail = FilesystemPermissionMiddleware(
        [FilesystemPermission(["read", "write"], ["/**"])], default="allow"
    )
    answers = _deep_calls(
        [("execute", {"command": f"touch {marker}"})],
        mode,
        middleware=[jail],
        backend=LocalShellBackend(root_dir=tmp_path, virtual_mode=True),
    )
    assert answers and "permission denied" in answers[0].lower()
    assert not marker.exists(), "the command ran"
    assert audit.of("fs.denied")


# --------------------------------------------------------------------------- fallback


class _SlowFailure(BaseChatModel):
    """A primary that fails after ``delay`` seconds; counts the calls that reached it."""

    delay: float = 0.0
    calls: list[float] = []  # noqa: RUF012 (one list per instance, set in the test)

    @property
    def _llm_type(self) -> str:
        return "slow-failure"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(time.monotonic())
        time.sleep(self.delay)
        raise ConnectionError("primary down")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(time.monotonic())
        await asyncio.sleep(self.delay)
        raise ConnectionError("primary down")


def test_the_memory_breaker_lets_one_probe_through(mode: str, audit: AuditCapture) -> None:
    cooldown = 0.3
    primary = _SlowFailure(calls=[])
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    fallback = ModelFallbackMiddleware(backup, failure_threshold=1, cooldown=cooldown)
    agent = create_agent(primary, middleware=[fallback])
    first = invoke(agent, {"messages": [("user", "hi")]}, mode)
    assert first["messages"][-1].content == "from backup"
    assert len(primary.calls) == 1 and audit.of("fallback.circuit_open")
    time.sleep(cooldown + 0.1)
    primary.delay = 0.5  # the probe is still running while the others arrive
    primary.calls.clear()
    n = 6
    if mode == "sync":
        results: list[Any] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(agent.invoke({"messages": [("user", "hi")]}))
            )
            for _ in range(n)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    else:

        async def many() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(agent.ainvoke({"messages": [("user", "hi")]}) for _ in range(n))
                )
            )

        results = asyncio.run(many())
    assert len(results) == n
    assert all(r["messages"][-1].content == "from backup" for r in results)
    assert len(primary.calls) == 1, "more than one caller probed the half-open primary"


class _Flaky(BaseChatModel):
    """A primary that answers or fails as its ``plan`` says, call by call; counts its calls."""

    plan: list[bool] = []  # noqa: RUF012 (set per test): True answers, False fails
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "flaky"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_core.outputs import ChatGeneration

        self.calls += 1
        if self.plan and not self.plan.pop(0):
            raise ConnectionError("primary down")
        return ChatResult(generations=[ChatGeneration(message=AIMessage("from primary"))])


def _ask(agent: Any, mode: str) -> str:
    return str(invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content)


def test_a_circuit_reopened_right_after_a_probe_gets_its_next_probe(mode: str) -> None:
    """A successful probe leaves nothing behind: when the circuit opens again, the next
    cooldown ends with a probe of the primary, not another wait."""
    cooldown = 0.3
    primary = _Flaky(plan=[False, True, False, True])
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    agent = create_agent(
        primary,
        middleware=[ModelFallbackMiddleware(backup, failure_threshold=1, cooldown=cooldown)],
    )
    assert _ask(agent, mode) == "from backup"  # fails: open
    time.sleep(cooldown + 0.05)
    assert _ask(agent, mode) == "from primary"  # the probe succeeds: closed
    assert _ask(agent, mode) == "from backup"  # fails again at once: open
    time.sleep(cooldown + 0.05)
    assert _ask(agent, mode) == "from primary", "no probe after the second cooldown"
    assert primary.calls == 4


@pytest.mark.redis
def test_closing_a_circuit_opened_at_exactly_the_threshold_is_audited_on_redis(
    mode: str, redis_url: str, audit: AuditCapture
) -> None:
    cooldown = 0.3
    primary = _Flaky(plan=[False, False, True])
    backup = ScriptedChatModel(responses=[], default="from backup", model_name="backup")
    fallback = ModelFallbackMiddleware(
        backup, failure_threshold=2, cooldown=cooldown, storage=redis_url
    )
    agent = create_agent(primary, middleware=[fallback])
    assert _ask(agent, mode) == "from backup"
    assert _ask(agent, mode) == "from backup"  # two failures: exactly the threshold, open
    assert len(audit.of("fallback.circuit_open")) == 1
    time.sleep(cooldown + 0.1)
    assert _ask(agent, mode) == "from primary"
    assert len(audit.of("fallback.circuit_closed")) == 1


class _Contact(BaseModel):
    name: str
    email: str


def test_a_guardrail_refusal_inside_a_fallback_is_raised_not_counted(
    mode: str, audit: AuditCapture
) -> None:
    """With a failure on record (the slow path), a PII block is still the caller's answer:
    no switch, no failure counted against the primary, the backup never asked."""
    primary = ScriptedChatModel(
        responses=[ConnectionError("blip"), "primary ok"], default="primary ok", model_name="p"
    )
    backup = ScriptedChatModel(responses=[], default="backup ok", model_name="b")
    fallback = ModelFallbackMiddleware(backup, failure_threshold=2, cooldown=60)
    agent = create_agent(primary, middleware=[fallback, PIIMiddleware("email", strategy="block")])
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == (
        "backup ok"
    )  # one failure on record for the primary
    switched = len(audit.of("fallback.switched"))
    backup_calls = len(backup.requests)
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [("user", f"mail {EMAIL}")]}, mode)
    assert len(audit.of("fallback.switched")) == switched
    assert len(backup.requests) == backup_calls
    # had the refusal counted as a failure, the circuit (threshold 2) would be open now
    assert invoke(agent, {"messages": [("user", "hi")]}, mode)["messages"][-1].content == (
        "primary ok"
    )
    assert not audit.of("fallback.circuit_open")


# --------------------------------------------------------------------------- PII


def test_tool_args_alone_handle_the_providers_raw_copy(mode: str) -> None:
    seen: list[str] = []

    @tool
    def send(to: str) -> str:
        """Send a message."""
        seen.append(to)
        return "sent"

    raw = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "send", "arguments": json.dumps({"to": EMAIL})},
        }
    ]
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[tool_call("send", {"to": EMAIL}, id="call_1")],
                additional_kwargs={"tool_calls": raw, "function_call": raw[0]["function"]},
            ),
            "done",
        ]
    )
    mw = PIIMiddleware("email", apply_to_input=False, apply_to_tool_args=True)
    out = invoke(
        create_agent(model, tools=[send], middleware=[mw]), {"messages": [("user", "go")]}, mode
    )
    assert seen == ["[REDACTED_EMAIL]"]
    ai = [m for m in out["messages"] if isinstance(m, AIMessage)]
    assert EMAIL not in _dumps([m.model_dump() for m in ai])


@pytest.mark.parametrize("how", ["same_object", "new_object"])
def test_same_length_text_swapped_in_later_is_scanned(mode: str, how: str) -> None:
    original = "x" * len(f"hi {EMAIL}")
    swapped = f"hi {EMAIL}"
    assert len(original) == len(swapped)

    @wrap_model_call
    def swap(request: Any, handler: Any) -> Any:
        first = request.messages[0]
        if how == "same_object":
            first.content = swapped
            return handler(request)
        replaced = HumanMessage(swapped, id=first.id)
        return handler(request.override(messages=[replaced, *request.messages[1:]]))

    @wrap_model_call
    async def aswap(request: Any, handler: Any) -> Any:
        first = request.messages[0]
        if how == "same_object":
            first.content = swapped
            return await handler(request)
        replaced = HumanMessage(swapped, id=first.id)
        return await handler(request.override(messages=[replaced, *request.messages[1:]]))

    model = ScriptedChatModel(responses=["ok"])
    inner = swap if mode == "sync" else aswap
    agent = create_agent(model, middleware=[PIIMiddleware("email"), inner])
    invoke(agent, {"messages": [HumanMessage(original)]}, mode)
    assert EMAIL not in _dumps(model.requests), "the swapped-in email reached the model"


def test_a_structured_response_made_without_the_model_is_handled(mode: str) -> None:
    """A cache listed after PII answers itself; its structured response is still output."""

    cached = _Contact(name="Jane", email=EMAIL)

    @wrap_model_call
    def cache(request: Any, handler: Any) -> Any:
        return ModelResponse(result=[AIMessage("cached")], structured_response=cached)

    @wrap_model_call
    async def acache(request: Any, handler: Any) -> Any:
        return ModelResponse(result=[AIMessage("cached")], structured_response=cached)

    agent = create_agent(
        ScriptedChatModel(responses=[]),
        response_format=ToolStrategy(_Contact),
        middleware=[
            PIIMiddleware("email", apply_to_output=True),
            cache if mode == "sync" else acache,
        ],
    )
    out = invoke(agent, {"messages": [("user", "who?")]}, mode)
    assert EMAIL not in _dumps(out["structured_response"])
    assert out["structured_response"].email == "[REDACTED_EMAIL]"


# --------------------------------------------------------------------------- settings

#: The smallest valid construction of each public guardrail (a new one must be added here,
#: the test below says so).
MINIMAL: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "PIIMiddleware": (("email",), {}),
    "ModelFallbackMiddleware": ((ScriptedChatModel(responses=[]),), {}),
    "RateLimitMiddleware": (("10/minute",), {}),
    "FilesystemPermissionMiddleware": (([],), {}),
    "ModelCallLimitMiddleware": ((), {"run_limit": 3}),
    "ToolCallLimitMiddleware": ((), {"run_limit": 3}),
}


def _public_guardrails() -> list[type[Guardrail]]:
    classes = {
        obj
        for name in dir(guardrails)
        if not name.startswith("_")
        and isinstance(obj := getattr(guardrails, name), type)
        and issubclass(obj, Guardrail)
        and obj is not Guardrail
    }
    return sorted(classes, key=lambda c: c.__name__)


def _bool_settings() -> list[tuple[type[Guardrail], str]]:
    rows = []
    for cls in _public_guardrails():
        for param in inspect.signature(cls.__init__).parameters.values():
            if isinstance(param.default, bool):
                rows.append((cls, param.name))
    return rows


def _build(cls: type[Guardrail], **kwargs: Any) -> Any:
    args, base = MINIMAL.get(cls.__name__, ((), {}))
    return cls(*args, **{**base, **kwargs})


def test_every_public_guardrail_has_a_minimal_construction() -> None:
    for cls in _public_guardrails():
        try:
            _build(cls)
        except TypeError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"add {cls.__name__} to MINIMAL in this module: {exc}")
    assert len(_bool_settings()) >= 8  # the inventory below is not empty


@pytest.mark.parametrize(
    ("cls", "setting"), _bool_settings(), ids=lambda v: getattr(v, "__name__", v)
)
@pytest.mark.parametrize("bad", ["false", 0, 1, None, "True"])
def test_every_boolean_setting_refuses_a_non_boolean(
    cls: type[Guardrail], setting: str, bad: Any
) -> None:
    if bad is None and _accepts_none(cls, setting):
        pytest.skip("None is documented for this setting")
    with pytest.raises(GuardrailConfigError, match=setting):
        _build(cls, **{setting: bad})


def _accepts_none(cls: type[Guardrail], setting: str) -> bool:
    annotation = inspect.signature(cls.__init__).parameters[setting].annotation
    return "None" in str(annotation)


# --------------------------------------------------------------------------- streamed answers


@pytest.mark.parametrize("how", ["messages", "invoke"])
def test_a_streamed_answer_is_whole_handled_and_audited(
    how: str, mode: str, openai_mock: Any, chat_openai: Any, audit: AuditCapture
) -> None:
    """The last hop holds back the tail of a streamed answer: the tail still comes out (sync
    and async), the value in it is handled, and the handling is one audit event."""
    from tests.test_pii_wire import answer, drive

    tail = "END-OF-ANSWER-MARKER"
    text = "word " * 60 + f"write to {EMAIL} please " + "more " * 10 + tail
    openai_mock.post("/chat/completions").mock(side_effect=answer((text, [])))
    agent = create_agent(
        chat_openai(streaming=True), middleware=[PIIMiddleware("email", apply_to_output=True)]
    )
    result, seen = drive(agent, {"messages": [("user", "hi")]}, mode, how)
    assert EMAIL not in seen
    assert tail in seen, "the held-back tail of the stream never came out"
    if result is not None:
        assert result["messages"][-1].content.endswith(tail)
    detected = [e for e in audit.of("pii.detected") if e.get("entities", {}).get("email")]
    assert detected, "the answer's email was handled without an audit event"


# --------------------------------------------------------------------------- layered payloads


def _nest(depth: int, kind: str) -> str:
    import base64

    text = f"mail {EMAIL} now"
    for _ in range(depth):
        text = (
            base64.b64encode(text.encode()).decode()
            if kind == "base64"
            else json.dumps({"v": text})
        )
    return text


def _unnest(text: str, depth: int, kind: str) -> str:
    import base64

    for _ in range(depth):
        text = base64.b64decode(text).decode() if kind == "base64" else json.loads(text)["v"]
    return text


@pytest.mark.parametrize("kind", ["base64", "json"])
def test_layers_a_scan_opens_are_handled_and_deeper_ones_refused_on_request(
    kind: str, mode: str
) -> None:
    """Within the documented depth the value is handled inside its layers; past it, the text
    is unscannable, which ``refuse_unscannable=True`` refuses rather than sends."""
    for depth in (2, 4):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
        invoke(agent, {"messages": [("user", _nest(depth, kind))]}, mode)
        sent = model.requests[0]["messages"][-1].content
        inner = _unnest(sent, depth, kind)
        assert EMAIL not in inner and "[REDACTED_EMAIL]" in inner, (depth, inner)
    for depth in (5, 7):
        model = ScriptedChatModel(responses=["ok"])
        agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
        with pytest.raises(PIIDetectionError, match="unscannable"):
            invoke(agent, {"messages": [("user", _nest(depth, kind))]}, mode)
        assert not model.requests, "an unscannable text reached the model"

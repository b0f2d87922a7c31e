"""PII promises of the seed-13 sample (issue 29, area ``pii``): kinds a careless edit would break
unnoticed.

* **Layers and the depth limit**: the scan opens 4 nested layers (docs/pii.md, "Cannot be
  scanned"), whatever their kinds (base64, a ``data:`` URL, JSON, percent-encoding): a value
  under 4 layers is handled, one under 5 is counted unscannable and refused under
  ``refuse_unscannable=True``, wherever the layer of each kind sits. A layer kind that is not
  counted (an escape decoded "for free") would let a payload nest deeper than the limit and be
  opened there, or be left unrefused.
* **The guarded model is the user's model**: the view the last hop calls keeps every field of
  the model, also the extra fields of a model class that allows them (``extra="allow"``).
* **The event loop** (async): a long text is scanned a slice at a time, the loop getting a turn
  after each slice, also for the texts the first pass deferred; with the slice set to zero the
  loop gets a turn between any two chunks of the scan (no timing: the turns are counted).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelResponse
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from pydantic import BaseModel, ConfigDict

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.pii import guard_model
from guardrails.pii import scan as scan_module
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool

EMAIL = "jane.doe@example.com"

# ------------------------------------------------------------------ layers and the depth limit


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_WRAP: dict[str, Callable[[str], str]] = {
    "b": _b64,
    "d": lambda text: "data:text/plain;base64," + _b64(text),
    "j": lambda text: json.dumps({"note": text}),
    "p": lambda text: quote(text, safe=""),
}
_OPEN: dict[str, Callable[[str], str]] = {
    "b": lambda text: base64.b64decode(text).decode(),
    "d": lambda text: base64.b64decode(text.partition(",")[2]).decode(),
    "j": lambda text: json.loads(text)["note"],
    "p": unquote,
}


def _layered(kinds: str) -> str:
    """The email under one layer per letter of ``kinds``, the first letter innermost."""
    text = f"mail {EMAIL} now"
    for kind in kinds:
        text = _WRAP[kind](text)
    return text


def _opened(text: str, kinds: str) -> str:
    for kind in reversed(kinds):
        text = _OPEN[kind](text)
    return text


def _sent(agent_input: str, mode: str, **settings: Any) -> str:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", **settings)])
    invoke(agent, {"messages": [HumanMessage(agent_input)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


# each kind of layer at each place among base64 layers
_FOUR = ["bbbb", "pbbb", "bpbb", "bbpb", "bbbp", "jbbb", "bjbb", "bbjb", "bbbj", "dbbb", "bbdb"]
_FIVE = [
    "bbbbb",
    "pbbbb",
    "bpbbb",
    "bbpbb",
    "bbbpb",
    "bbbbp",
    "jbbbb",
    "bjbbb",
    "bbjbb",
    "bbbjb",
    "bbbbj",
    "dbbbb",
    "bdbbb",
    "bbbdb",
    "bbbbd",
]


@pytest.mark.parametrize("kinds", _FOUR)
def test_a_value_under_four_layers_of_any_kind_is_handled(kinds: str, mode: str) -> None:
    payload = _layered(kinds)
    sent = _sent(payload, mode, refuse_unscannable=True)
    assert sent != payload
    inner = _opened(sent, kinds)
    assert EMAIL not in inner and "[REDACTED_EMAIL]" in inner


@pytest.mark.parametrize("kinds", _FIVE)
def test_a_value_under_five_layers_of_any_kind_is_refused_as_unscannable(
    kinds: str, mode: str
) -> None:
    with pytest.raises(PIIDetectionError) as caught:
        _sent(_layered(kinds), mode, refuse_unscannable=True)
    assert caught.value.counts == {"unscannable": 1}


# the layer opened and left before: the depth is the path's, not the history's
_BEFORE = {"json": "j", "percent": "p", "base64": "b", "data URL": "d"}


def _sent_after(first: str, second: str, mode: str) -> str:
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    invoke(agent, {"messages": [HumanMessage(first), HumanMessage(second)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


@pytest.mark.parametrize("before", list(_BEFORE))
def test_a_layer_left_behind_does_not_change_the_depth_of_the_next_text(
    before: str, mode: str
) -> None:
    first = _layered(_BEFORE[before])
    sent = _sent_after(first, _layered("bbbb"), mode)  # four layers: handled, not refused
    assert EMAIL not in _opened(sent, "bbbb")
    with pytest.raises(PIIDetectionError):  # five: refused
        _sent_after(first, _layered("bbbbb"), mode)


class _AddLater(AgentMiddleware):
    """Listed after the guardrail: adds a message to the request, so only the last hop (the
    guarded model's own pass) sees it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(request.override(messages=[*request.messages, HumanMessage(self.text)]))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        messages = [*request.messages, HumanMessage(self.text)]
        return await handler(request.override(messages=messages))


@pytest.mark.parametrize("where", ["input", "added after the guardrail"])
def test_a_refusal_of_an_unscannable_payload_is_audited(
    where: str, mode: str, audit: AuditCapture
) -> None:
    """The audit trail records every refusal, the unscannable ones too (docs/pii.md: a
    ``pii.blocked`` event with ``entities={"unscannable": n}``), before the error is raised."""
    payload = _layered("bbbbb")
    model = ScriptedChatModel(default="ok")
    later = [_AddLater(payload)] if where != "input" else []
    agent = create_agent(
        model, middleware=[PIIMiddleware("email", refuse_unscannable=True), *later]
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage(payload if not later else "hi")]}, mode)
    assert not model.requests
    (event,) = audit.of("pii.blocked")
    assert event["entities"] == {"unscannable": 1}
    assert not audit.of("pii.detected")


# ------------------------------------------------------------------ the guarded model


class _Tenanted(ScriptedChatModel):
    """A user's chat model whose class allows extra fields, read on every call."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="allow")

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        result: ChatResult = super()._generate(messages, stop, run_manager, **kw)
        message = result.generations[0].message
        message.content = f"{message.content} for {self.tenant}"  # type: ignore[attr-defined]
        return result


def test_the_guarded_model_keeps_the_extra_fields_of_its_class(mode: str) -> None:
    model = _Tenanted(responses=["hello"], tenant="acme")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    out = invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL}")]}, mode)
    assert out["messages"][-1].content == "hello for acme"
    assert EMAIL not in str(model.requests[0]["messages"])


# ------------------------------------------------------------------ the event loop


class _AsyncScripted(ScriptedChatModel):
    """A model class with its own async entry (as provider clients have: ``ChatOpenAI``)."""

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        return ScriptedChatModel._generate(self, messages, stop, None, **kw)  # its own, unguarded


def _count_turns(run: Callable[[], Any]) -> Callable[[], int]:
    """Run the coroutine ``run()`` beside a ticker task; the returned reader gives the number
    of turns the ticker has had so far."""
    turns = 0

    async def main(result: list[Any]) -> None:
        nonlocal turns
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal turns
            while not done.is_set():
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        try:
            result.append(await run())
        finally:
            done.set()
            await task

    def read() -> int:
        return turns

    read.main = main  # type: ignore[attr-defined]
    return read


@pytest.mark.parametrize("entry", ["agent input", "agenerate request", "agenerate answer"])
def test_a_long_text_gives_the_loop_a_turn_between_its_chunks(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Async only (a sync call has no loop to share). The slice is set to zero, so every step
    of the scan must be followed by a turn of the loop: a ticker task counts its turns, and a
    detector records the count at each chunk of the long text it is asked to scan. Entries:
    an agent's input (the middleware's pass), and a guarded model's own ``agenerate`` (the
    last hop: a long request text is deferred out of its first pass and scanned after; a long
    answer is scanned before it is handled)."""
    monkeypatch.setattr(scan_module, "SLICE", 0.0)
    seen: list[int] = []
    text = " ".join(f"word{i}" for i in range(20_000)) + " EMP-123456"

    def employee_ids(chunk: str) -> list[dict[str, Any]]:
        if len(chunk) >= 4_096:  # a chunk of the long text
            seen.append(turns())
        at = chunk.find("EMP-")
        return [] if at < 0 else [{"start": at, "end": at + 10, "score": 1.0}]

    answer = entry == "agenerate answer"
    model = _AsyncScripted(default=text if answer else "ok")
    guard = PIIMiddleware("employee_id", detector=employee_ids, apply_to_output=answer)
    if entry == "agent input":
        agent = create_agent(model, middleware=[guard])
        turns = _count_turns(lambda: agent.ainvoke({"messages": [HumanMessage(text)]}))
    else:
        guarded = guard_model(model, guard)
        request = [[HumanMessage("hi" if answer else text)]]
        turns = _count_turns(lambda: guarded.agenerate(request))
    result: list[Any] = []
    asyncio.run(turns.main(result))  # type: ignore[attr-defined]
    sent = str(model.requests[0]["messages"][-1].content)
    if answer:
        (generations,) = result[0].generations
        sent = str(generations[0].message.content)
    assert "EMP-123456" not in sent and sent.endswith("[REDACTED_EMPLOYEE_ID]")
    assert len(seen) >= 10  # the text was scanned in chunks
    # a turn of the loop between any two chunks: no two consecutive calls see the same count
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    stuck = gaps.count(0)
    assert stuck == 0, f"{stuck} of {len(gaps)} chunks scanned without a turn of the loop"
    # and the scan goes on at the loop's next turn: it gives way, it does not sleep (the first
    # gap may hold the graph's own steps)
    assert max(gaps[1:]) <= 3, gaps


# ------------------------------------------------------------------ objects keep their class


class _ContactModel(BaseModel):
    name: str
    email: str
    visits: int


@dataclasses.dataclass
class _ContactRecord:
    name: str
    email: str
    visits: int


_ARTIFACTS: dict[str, Callable[[], Any]] = {
    "pydantic model": lambda: _ContactModel(name="Jane", email=EMAIL, visits=3),
    "dataclass": lambda: _ContactRecord(name="Jane", email=EMAIL, visits=3),
    "model in a list": lambda: [_ContactModel(name="Jane", email=EMAIL, visits=3)],
    "dataclass in a dict": lambda: {"owner": _ContactRecord(name="Jane", email=EMAIL, visits=3)},
}


def _the_object(artifact: Any) -> Any:
    if isinstance(artifact, list):
        (artifact,) = artifact
    elif isinstance(artifact, dict):
        artifact = artifact["owner"]
    return artifact


@pytest.mark.parametrize("shape", list(_ARTIFACTS))
def test_an_object_artifact_is_handled_field_by_field_and_keeps_its_class(
    shape: str, mode: str
) -> None:
    """docs/pii.md: a pydantic model or a dataclass (a tool's artifact, an item of a list or
    dict) is handled field by field and rebuilt as its class: code reading the artifact after
    the run gets the object it made, with the value handled (not a string of its repr)."""
    original = _ARTIFACTS[shape]()

    @tool(response_format="content_and_artifact")
    def owner(q: str) -> tuple[str, Any]:
        """Look the owner up."""
        return "found the owner", original

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("owner", {"q": "x"})]), "done"]
    )
    agent = create_agent(
        model,
        tools=[owner],
        middleware=[PIIMiddleware("email", apply_to_tool_results=True)],
    )
    out = invoke(agent, {"messages": [HumanMessage("who owns it?")]}, mode)
    # (the run's own output: a checkpointer's serializer stores a model as a dict)
    (artifact,) = [m.artifact for m in out["messages"] if isinstance(m, ToolMessage)]
    assert type(artifact) is type(original)
    handled = _the_object(artifact)
    assert type(handled) is type(_the_object(original))
    assert handled.email == "[REDACTED_EMAIL]"
    assert handled.name == "Jane" and handled.visits == 3


# ------------------------------------------------------------------ lists: every item or one

OTHER = "john.roe@example.org"


def _content(where: str, items: list[str]) -> Any:
    """A message content with the list ``items`` at ``where``."""
    if where == "content blocks":
        return [{"type": "text", "text": f"mail {v}"} for v in items]
    if where == "a list in a block":
        return [{"type": "text", "text": "the list", "recipients": items}]
    if where == "a list in a list in a block":
        return [{"type": "text", "text": "the list", "groups": [items, ["x"]]}]
    raise AssertionError(where)


@pytest.mark.parametrize(
    "where", ["content blocks", "a list in a block", "a list in a list in a block"]
)
@pytest.mark.parametrize("which", ["every item", "one item"])
def test_a_list_is_handled_whether_every_item_or_one_holds_a_value(
    where: str, which: str, mode: str
) -> None:
    """A list whose items all hold a value is handled like one where a single item does (a
    "nothing changed, keep the original" shortcut must compare item by item)."""
    items = [f"to {EMAIL}", f"cc {OTHER}"] if which == "every item" else ["hello", f"to {EMAIL}"]
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(_content(where, items))]}, mode)
    sent = json.dumps(model.requests[0]["messages"][-1].content)
    assert EMAIL not in sent and OTHER not in sent, sent
    assert "[REDACTED_EMAIL]" in sent


@pytest.mark.parametrize("which", ["every item", "one item"])
def test_a_list_argument_of_a_tool_call_is_handled_whether_every_item_or_one_holds_a_value(
    which: str, mode: str
) -> None:
    items = [EMAIL, OTHER] if which == "every item" else ["nobody", EMAIL]
    received: list[Any] = []

    @tool
    def notify(to: list[str], groups: list[list[str]]) -> str:
        """Notify people."""
        received.append((to, groups))
        return "sent"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("notify", {"to": items, "groups": [items]})]),
            "done",
        ]
    )
    agent = create_agent(
        model, tools=[notify], middleware=[PIIMiddleware("email", apply_to_output=True)]
    )
    invoke(agent, {"messages": [HumanMessage("notify them")]}, mode)
    assert EMAIL not in json.dumps(received) and OTHER not in json.dumps(received), received
    assert EMAIL not in str(model.requests[1]["messages"])


# ------------------------------------------------------------ an answer made without the model


class _CannedAnswer(AgentMiddleware):
    """Listed after the guardrail: answers without calling the model (a cache)."""

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return ModelResponse(result=[AIMessage(f"cached: write to {EMAIL}")])

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return self.wrap_model_call(request, handler)


def test_block_refuses_an_answer_made_without_the_model(mode: str, audit: AuditCapture) -> None:
    """The backstop pass decides like every other pass: under ``block`` the answer is refused
    (and audited), it never reaches the caller or the conversation."""
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        middleware=[
            PIIMiddleware("email", strategy="block", apply_to_output=True),
            _CannedAnswer(),
        ],
    )
    with pytest.raises(PIIDetectionError):
        invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    (event,) = audit.of("pii.blocked")
    assert event["entities"] == {"email": 1}


def test_redact_audits_an_answer_made_without_the_model(mode: str, audit: AuditCapture) -> None:
    agent = create_agent(
        ScriptedChatModel(responses=[]),
        middleware=[PIIMiddleware("email", apply_to_output=True), _CannedAnswer()],
    )
    out = invoke(agent, {"messages": [HumanMessage("hello")]}, mode)
    assert out["messages"][-1].content == "cached: write to [REDACTED_EMAIL]"
    assert [e["entities"] for e in audit.of("pii.detected")] == [{"email": 1}]


# ------------------------------------------------------------------ the sink inventory (pii_flow)

#: a covered cell's ``how`` names the mechanism of *its* sink (docs/pii.md, "Where values go")
_MECHANISM = {
    "conversation_history": "summarization",
    "files_written": "write_file",
    "subagent_results": "task result",
    "structured_response": "structured response",
    "interrupts": "interrupts",
    "exceptions": "PIIDetectionError",
    "audit_log": "events",
    "python_logging": "logs no values",
    "langsmith": "pii_anonymizer",
    "otel": "PIISpanProcessor",
}


@pytest.mark.parametrize("sink", list(_MECHANISM))
def test_a_covered_cell_of_the_inventory_names_its_own_sinks_mechanism(sink: str) -> None:
    from guardrails.pii.inventory import SOURCES, cell

    covered = [s for s in SOURCES if cell(s, sink).status == "covered"]
    assert covered, sink
    for source in covered:
        assert _MECHANISM[sink] in cell(source, sink).how, (source, sink, cell(source, sink))


# ------------------------------------------------------------ Windows-1252 payloads (pii_flow)

CP1252 = f"Ren\u00e9e M\u00fcller \u2013 {EMAIL} \u20ac 12"  # accents, an en dash, the euro sign


@pytest.mark.parametrize("where", ["blob", "data URL"])
def test_a_windows_1252_payload_is_opened_and_handled(where: str, mode: str) -> None:
    """docs/pii.md: payloads are read as Unicode or Windows-1252 text; bytes that are not
    UTF-8 (a cp1252 accent) but hold no zero byte are Windows-1252, not binary."""
    blob = base64.b64encode(CP1252.encode("cp1252")).decode()
    payload = blob if where == "blob" else f"data:application/octet-stream;base64,{blob}"
    sent = _sent(f"attached {payload}", mode, refuse_unscannable=True)  # not refused
    opened = sent.rsplit(",", 1)[-1] if where == "data URL" else sent.split(" ", 1)[1]
    text = base64.b64decode(opened).decode("utf-8", "replace") + base64.b64decode(opened).decode(
        "cp1252", "replace"
    )
    assert EMAIL not in text and "[REDACTED_EMAIL]" in text, sent


def _not_text() -> dict[str, bytes]:
    """Bytes with no zero byte that read as no text, from one seeded generator: every high byte
    once in random order (and one more: an odd count, so no UTF-16 or UTF-32 reading), high
    bytes drawn at random at several odd lengths, and high bytes with ASCII letters just under
    the share that makes a Windows-1252 reading text (68 in 100, plus one high byte)."""
    rng = random.Random(13)
    high = list(range(0x80, 0x100))
    rng.shuffle(high)
    drawn = {f"{n} drawn": bytes(rng.choice(high) for _ in range(n)) for n in (97, 255, 1001)}
    letters = [rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(68)]
    mixed = letters + [rng.choice(high) for _ in range(33)]
    rng.shuffle(mixed)
    return {"every high byte": bytes([*high, high[0]]), **drawn, "68% ASCII": bytes(mixed)}


NOT_TEXT = _not_text()


def test_the_not_text_samples_are_what_they_claim() -> None:
    for sample in NOT_TEXT.values():
        assert len(sample) % 2 and 0 not in sample
        assert len(set(sample)) > 40  # not one byte repeated
        with pytest.raises(UnicodeDecodeError):
            sample.decode("utf-8")


@pytest.mark.parametrize("sample", list(NOT_TEXT))
def test_a_payload_of_bytes_without_zeros_that_read_as_no_text_is_binary(
    sample: str, mode: str
) -> None:
    """Windows-1252 decodes any byte but zero: only a reading that looks like text (seven in
    ten characters ASCII) is text; a ``data:`` URL of these bytes is binary, refused under
    refuse_unscannable."""
    payload = "data:application/octet-stream;base64," + base64.b64encode(NOT_TEXT[sample]).decode()
    with pytest.raises(PIIDetectionError, match="unscannable"):
        _sent(payload, mode, refuse_unscannable=True)

"""The source x sink x strategy matrix, generated from guardrails.pii.inventory.

Each run seeds one distinct email per source into a real agent (``create_agent`` or
``guardrails.deep.create_deep_agent``), with every observer attached (a callback handler, a
LangSmith tracer whose runs go through ``Client(anonymizer=pii_anonymizer(pii))``, an
OpenTelemetry provider behind ``PIISpanProcessor``, the audit log, every Python log record, all
stream modes, ``astream_events`` v1 and v2, the checkpointer, the deep agent's files). A cell
(source, sink, strategy, agent, mode) marked ``covered`` in the inventory asserts that the
source's raw value never reached the sink; so does a cell marked ``n/a`` (the source cannot
reach the sink: a wrong ``n/a`` is a leak nobody listed). New rows in the inventory are new
cells here: a sink or source the harness cannot observe fails
:func:`test_every_inventory_row_is_observed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tracers.base import BaseTracer
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from guardrails import PIIMiddleware
from guardrails.errors import PIIDetectionError
from guardrails.pii.inventory import COVERAGE, DEEP_SOURCES, SINKS, SOURCES, cell
from guardrails.pii.observers import PIISpanProcessor, pii_anonymizer
from guardrails.pii.vault import MemoryVault
from guardrails.testing import ScriptedChatModel, tool_call
from tests.support import tool

STRATEGIES = ("redact", "mask", "hash", "block", "pseudonymize")
KINDS = ("agent", "deep")
SEEDS = {s: f"{s.replace('_', '.')}.seed@example.com" for s in SOURCES}
# an identity the detector calls an email though it has no "@" (issue 21, item 8)
SEEDS["runtime_context"] = "runtime.context.seed%40example.com"
#: Seeds that may also leak spelled in pieces (a provider's logprobs: one token each): a
#: sink holding the pieces in order holds the value.
SPELLED = {"model_answer": ("model.an", "swer.seed@exa", "mple.com")}
assert "".join(SPELLED["model_answer"]) == SEEDS["model_answer"]
#: Sinks observed only in async runs (the sync API has no astream_events).
ASYNC_ONLY = {"events_v1", "events_v2"}
#: Sinks observed only in deep agents.
DEEP_ONLY = {"files_written", "subagent_provider", "subagent_results", "conversation_history"}
#: Sinks this harness does not observe, and where they are tested instead.
#: Sources this harness does not seed, and why (their cells are tested where named).
UNSEEDED = {
    "resume": "the matrix does not pause and resume; tests/test_redteam_round9.py covers the "
    "provider cells of an edit, a reject and a respond",
    "tool_error": "the default ToolNode re-raises a tool's exception and ends the run; "
    "test_tool_error_message_is_handled_in_the_thread covers the covered cells",
}
ELSEWHERE = {
    "events_v3": "tests/test_pii_wire.py (stream_events v3 through the PII transformer)",
    "offloaded_results": "test_offloaded_tool_result_is_handled (below)",
    "store": "not observed (inventory status open)",
    "stream_custom": "no covered cells (inventory status open)",
    "structured_response": "tests/test_pii_wire.py (structured responses, apply_to_output)",
    "interrupts": "test_interrupt_payload_holds_handled_values (below)",
    "conversation_history": "test_deep_summarization_gets_handled_history (below)",
    "exception_tracebacks": "tests/test_promises_pii_tool_errors_2.py (the tool_error source, "
    "the one covered cell; open for the others)",
}


def _text(value: Any) -> str:
    try:
        return json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class Seen:
    """Everything each sink received in one run, as text. Entries marked ``echo`` are node
    inputs and states from before the main agent's first model call (the caller's input as
    given, inventory status ``echo``): excused only while ``step <= first_model_step``."""

    sinks: dict[str, list[tuple[str, int | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    error: BaseException | None = None
    first_model_step: int = 10**6

    def add(self, sink: str, value: Any, echo_step: int | None = None) -> None:
        text = value if isinstance(value, str) else _text(value)
        self.sinks[sink].append((text, echo_step))

    def texts(self, sink: str) -> list[str]:
        limit = self.first_model_step
        return [t for t, step in self.sinks.get(sink, []) if step is None or step > limit]

    def holds(self, sink: str, raw: str, pieces: tuple[str, ...] = ()) -> list[str]:
        spelled = re.compile(".{0,400}?".join(map(re.escape, pieces)), re.S) if pieces else None
        return [
            t[:300]
            for t in self.texts(sink)
            if raw in t or (spelled is not None and spelled.search(t))
        ]


def _step(kwargs: dict[str, Any]) -> int:
    meta = kwargs.get("metadata") or {}
    step = meta.get("langgraph_step")
    return step if isinstance(step, int) else -1


def _main_model_step(kw: dict[str, Any]) -> int | None:
    meta = kw.get("metadata") or {}
    ns = str(meta.get("langgraph_checkpoint_ns", ""))
    if meta.get("langgraph_node") == "model" and "|" not in ns:
        step = meta.get("langgraph_step")
        return step if isinstance(step, int) else None
    return None


class Recorder(BaseCallbackHandler):
    """Every callback, as LangSmith and other tracers get it."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.seen.add("callbacks", [messages, kw.get("invocation_params"), kw.get("metadata")])

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.seen.add("callbacks", repr(response))

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.seen.add("callbacks", [token, repr(kw.get("chunk"))])

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.seen.add("callbacks", [input_str, kw.get("inputs")])

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.seen.add("callbacks", repr(output))

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.seen.add("callbacks", repr(error))

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        step = _main_model_step(kw)
        if step is not None:
            self.seen.first_model_step = min(self.seen.first_model_step, step)
        # a node's input state before the first model call: the caller's input as given
        self.seen.add("callbacks", [repr(inputs), kw.get("metadata")], echo_step=_step(kw))

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.seen.add("callbacks", repr(outputs))

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        self.seen.add("callbacks", repr(error))


class LangSmithRecorder(BaseTracer):
    """The run trees LangSmith would upload, through the client's own anonymizer path."""

    def __init__(self, seen: Seen, pii: PIIMiddleware) -> None:
        super().__init__()
        import langsmith

        self.seen = seen
        self.client = langsmith.Client(
            api_key="test",
            api_url="http://127.0.0.1:9",
            anonymizer=pii_anonymizer(pii),
            auto_batch_tracing=False,
            info={},
        )

    def _persist_run(self, run: Any) -> None:
        stack = [run]
        while stack:
            r = stack.pop()
            stack.extend(r.child_runs)
            client = self.client
            self.seen.add("langsmith", client._hide_run_inputs(r.inputs))
            self.seen.add("langsmith", client._hide_run_outputs(r.outputs or {}))
            self.seen.add("langsmith", client._hide_run_metadata(dict(r.metadata or {})))
            # the rest of a run's extra (invocation_params, options) and its tags and events
            # are uploaded as they are: the client's anonymizer does not see them
            extra = {k: v for k, v in (r.extra or {}).items() if k != "metadata"}
            self.seen.add("langsmith", [extra, r.tags, r.name])
            self.seen.add("langsmith", client._filter_new_token_events(r.events))
            self.seen.add("langsmith", str(client._hide_run_error(r.error)))


class LogRecorder(logging.Handler):
    def __init__(self, seen: Seen) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        sink = "audit_log" if record.name.startswith("guardrails.audit") else "python_logging"
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.seen.add(sink, [message, {k: repr(v) for k, v in record.__dict__.items()}])


# ---------------------------------------------------------------------- the agent
@tool
def lookup(query: str) -> str:
    """Look something up in the CRM."""
    return f"the owner of {query!r} is {SEEDS['tool_result']}"


# a tool definition holding a value (tool_schema): its description reaches the request's tools
lookup.description = f"Look something up in the CRM; escalations go to {SEEDS['tool_schema']}."


class OwnerCard(BaseModel):
    """A pydantic model a tool returns as its artifact."""

    email: str


@dataclass
class OwnerRow:
    """A dataclass a tool returns as its artifact."""

    email: str


@tool(response_format="content_and_artifact")
def owner_card(query: str) -> tuple[str, list[Any]]:
    """The owner's card, as objects (the model sees only the text)."""
    seed = SEEDS["tool_artifact_object"]
    return "found the owner's card", [OwnerCard(email=seed), OwnerRow(email=seed)]


class DynamicPrompt(AgentMiddleware[Any, Any, Any]):
    """A middleware listed after PIIMiddleware: adds text (and a request keyword) the
    PIIMiddleware's own wrap never saw."""

    def _edit(self, request: Any) -> Any:
        system = request.system_message
        text = (system.text if system is not None else "") + f" Assist {SEEDS['dynamic_prompt']}."
        from langchain_core.messages import SystemMessage

        return request.override(
            system_message=SystemMessage(text),
            model_settings={**request.model_settings, "user": SEEDS["model_settings"]},
        )

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        return handler(self._edit(request))

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._edit(request))


def _texts(messages: list[BaseMessage]) -> str:
    return " | ".join(str(m.content) for m in messages)


def _own(text: str, **kwargs: Any) -> AIMessage:
    """An answer the model adds its own value to (``model_answer``): in its text, and in the
    provider fields beside it, as logprobs spell it (a token a piece) and as a grounding
    segment quotes it."""
    own = f"{text} I add {SEEDS['model_answer']}."
    tokens = [text, " I add ", *SPELLED["model_answer"], "."]
    meta = {
        "logprobs": {
            "content": [{"token": t, "logprob": -0.1, "top_logprobs": []} for t in tokens]
        },
        "grounding_metadata": {"grounding_supports": [{"segment": {"text": own}}]},
    }
    return AIMessage(own, response_metadata=meta, **kwargs)


def _main_model(kind: str) -> ScriptedChatModel:
    """Calls the tool with what it saw, (deep: reads a file, starts a subagent), then answers
    with everything it saw: the model repeats only what the guardrail let through."""

    def first(messages: list[BaseMessage]) -> AIMessage:
        calls = [
            tool_call("lookup", {"query": _texts(messages)[-200:]}),
            tool_call("owner_card", {"query": "owner"}),
            # a tool that does not exist, named after the model's own value (model_answer)
            tool_call(f"notify_{SEEDS['model_answer']}", {}),
        ]
        if kind == "deep":
            calls.append(tool_call("read_file", {"file_path": "/notes.txt"}))
            calls.append(
                tool_call(
                    "task",
                    {
                        "description": "Check: "
                        + _texts(messages)[-200:]
                        + f" and {SEEDS['model_answer']}",
                        "subagent_type": "researcher",
                    },
                )
            )
        return _own("", tool_calls=calls)

    def second(messages: list[BaseMessage]) -> AIMessage:
        calls = []
        if kind == "deep":
            calls.append(
                tool_call("write_file", {"file_path": "/out.txt", "content": _texts(messages)})
            )
        return AIMessage("", tool_calls=calls) if calls else _own("saw " + _texts(messages))

    def last(messages: list[BaseMessage]) -> AIMessage:
        return _own("saw " + _texts(messages))

    return ScriptedChatModel(responses=[first, second, last] if kind == "deep" else [first, second])


def _build(kind: str, pii: PIIMiddleware, model: ScriptedChatModel, sub: ScriptedChatModel) -> Any:
    system = f"You work for {SEEDS['system_prompt']}."
    if kind == "agent":
        return create_agent(
            model,
            tools=[lookup, owner_card],
            system_prompt=system,
            middleware=[pii, DynamicPrompt()],
            checkpointer=InMemorySaver(),
        )
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent

    root = _deep_root()
    return create_deep_agent(
        model,
        tools=[lookup, owner_card],
        system_prompt=system,
        guardrails=[pii],
        middleware=[DynamicPrompt()],
        memory=["/AGENTS.md"],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        checkpointer=InMemorySaver(),
        subagents=[
            {
                "name": "researcher",
                "description": "Researches customers.",
                "system_prompt": "You research.",
                "model": sub,
            }
        ],
    )


_ROOTS: list[Any] = []


def _deep_root() -> Any:
    """A fresh directory holding the deep agent's files (on disk: the file store is not
    state, so a value found in state came through a read)."""
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="pii-sinks-"))
    (root / "notes.txt").write_text(f"customer: {SEEDS['file_read']}")
    (root / "AGENTS.md").write_text(f"# memory\nthe admin is {SEEDS['memory_file']}")
    _ROOTS.append(root)
    return root


def _written(root: Any) -> dict[str, str]:
    """Files the agent wrote (everything but the two seeded files)."""
    return {
        str(p.relative_to(root)): p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.name not in {"notes.txt", "AGENTS.md"}
    }


@dataclass
class Run:
    kind: str
    strategy: str
    mode: str
    seen: Seen


def _otel() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    return provider, exporter


def _has_answer(chunk: Any) -> bool:
    messages = chunk.get("messages") if isinstance(chunk, dict) else None
    return any(isinstance(m, AIMessage) for m in messages or [])


def _collect_stream(seen: Seen, mode_name: str, chunk: Any, first_values: list[bool]) -> None:
    if mode_name == "values":
        # before the first answer, a values chunk is the input as given
        seen.add("stream_values", repr(chunk), echo_step=None if _has_answer(chunk) else -1)
    elif mode_name == "updates":
        seen.add("stream_updates", repr(chunk))
    elif mode_name == "messages":
        seen.add("stream_messages", repr(chunk))
    elif mode_name == "debug":
        step = chunk.get("step") if isinstance(chunk, dict) else None
        payload = chunk.get("payload") if isinstance(chunk, dict) else None
        kind = chunk.get("type") if isinstance(chunk, dict) else None
        if isinstance(step, int) and kind == "checkpoint":
            step += 1  # the state after that step
        seen.add("stream_debug", repr(chunk), echo_step=step if kind != "task_result" else None)
        del payload
    elif mode_name == "checkpoints":
        meta = chunk.get("metadata", {}) if isinstance(chunk, dict) else {}
        seen.add("stream_debug", repr(chunk), echo_step=meta.get("step", -1) + 1)


def _event_step(event: dict[str, Any]) -> int:
    return _step({"metadata": event.get("metadata")})


def _agent(kind: str, strategy: str) -> tuple[Any, PIIMiddleware, list[ScriptedChatModel]]:
    pii = PIIMiddleware(
        "email",
        strategy=strategy,
        apply_to_tool_results=True,
        apply_to_output=True,
        hash_key=b"k" * 32 if strategy == "hash" else None,
        # the documented setup that keeps the mapping (real values) out of state
        vault=MemoryVault() if strategy == "pseudonymize" else None,
    )
    model = _main_model(kind)
    sub = ScriptedChatModel(default=f"found it: {SEEDS['subagent_result']}")
    return _build(kind, pii, model, sub), pii, [model, sub]


def _input(kind: str) -> dict[str, Any]:
    state: dict[str, Any] = {"messages": [("user", f"Please email {SEEDS['user']}")]}
    return state


def _config(name: str, callbacks: list[Any]) -> dict[str, Any]:
    return {
        "configurable": {"thread_id": name, "user_id": SEEDS["runtime_context"]},
        "callbacks": callbacks,
    }


def run_matrix(kind: str, strategy: str, mode: str) -> Seen:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    seen = Seen()
    agent, pii, models = _agent(kind, strategy)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PIISpanProcessor(SimpleSpanProcessor(exporter), pii))
    tracer = provider.get_tracer("matrix")
    handler = LogRecorder(seen)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # the audit logger directly too: an earlier guardrails.audit.configure() in the same
    # process (the demo, a docs block) stops it propagating to the root logger
    audit_logger = logging.getLogger("guardrails.audit")
    audit_saved = (audit_logger.level, audit_logger.propagate)
    audit_logger.setLevel(logging.DEBUG)
    if not audit_logger.propagate:
        audit_logger.addHandler(handler)
    state = _input(kind)
    config = _config(f"{kind}-{strategy}-{mode}", [Recorder(seen), LangSmithRecorder(seen, pii)])
    modes = ["values", "updates", "messages", "debug", "checkpoints"]
    first = [True]
    try:
        with tracer.start_as_current_span(f"matrix {kind}"):
            # subgraphs=True: the subagents' own streams too
            if mode == "sync":
                for item in agent.stream(state, config, stream_mode=modes, subgraphs=True):
                    _collect_stream(seen, item[-2], item[-1], first)
            else:

                async def go() -> None:
                    async for item in agent.astream(
                        state, config, stream_mode=modes, subgraphs=True
                    ):
                        _collect_stream(seen, item[-2], item[-1], first)

                asyncio.run(go())
    except PIIDetectionError as error:
        seen.error = error
        seen.add("exceptions", [str(error), repr(error), error.args])
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        audit_logger.removeHandler(handler)
        audit_logger.setLevel(audit_saved[0])
    snapshot = agent.get_state(config)
    threshold = seen.first_model_step
    for past in agent.get_state_history(config):
        step = past.metadata.get("step", -1) if past.metadata else -1
        # before the first model call, a checkpoint holds the input as given
        where = "checkpoints" if step >= threshold else "input_checkpoint"
        seen.add(where, repr(past.values))
        # a checkpoint is its values and its metadata (what the checkpointer stores)
        seen.add(where, repr(past.metadata))
        seen.add(where, repr(past.tasks))
    latest = snapshot.metadata.get("step", -1) if snapshot.metadata else -1
    seen.add("state" if latest >= threshold else "input_checkpoint", repr(snapshot.values))
    if kind == "deep":
        written = _written(_ROOTS[-1])
        seen.add("files_written", repr(written))
        seen.add("files_written", repr(snapshot.values.get("files") or {}))
        for msg in snapshot.values.get("messages", []):
            if getattr(msg, "name", None) == "task":
                seen.add("subagent_results", repr(msg))
    for span in exporter.get_finished_spans():
        events = [(e.name, dict(e.attributes or {})) for e in span.events]
        seen.add("otel", [span.name, dict(span.attributes or {}), events, span.status.description])
    if mode == "async":
        for version in ("v1", "v2"):
            ev_agent, _, ev_models = _agent(kind, strategy)
            models += ev_models
            for text in _events(
                ev_agent, state, _config(f"{kind}-{strategy}-{version}", []), version
            ):
                seen.add(f"events_{version}", text)
    seen.add("provider", [m.requests for m in models[::2]])
    seen.add("subagent_provider", [m.requests for m in models[1::2]])
    return seen


def _events(agent: Any, state: Any, config: dict[str, Any], version: str) -> list[str]:
    events: list[dict[str, Any]] = []

    async def go() -> None:
        async for event in agent.astream_events(state, config, version=version):
            events.append(event)

    with contextlib.suppress(PIIDetectionError):
        asyncio.run(go())
    steps = [
        _main_model_step({"metadata": e.get("metadata")})
        for e in events
        if e["event"] == "on_chain_start"
    ]
    threshold = min((s for s in steps if s is not None), default=10**6)
    out: list[str] = []
    for event in events:
        data = dict(event.get("data") or {})
        step = _event_step(event)
        if event["event"].startswith("on_chain") and step <= threshold:
            # node inputs before the first model call, the graph's own input, and the
            # graph's values before the first answer: the caller's input as given ("echo")
            data.pop("input", None)
            chunk = data.get("chunk")
            if step < 0 and event["event"] == "on_chain_stream" and not _has_answer(chunk):
                data.pop("chunk", None)
        out.append(_text(data) + _text(event.get("metadata")))
    return out


_RUNS: dict[tuple[str, str, str], Seen] = {}


def seen_for(kind: str, strategy: str, mode: str) -> Seen:
    key = (kind, strategy, mode)
    if key not in _RUNS:
        _RUNS[key] = run_matrix(kind, strategy, mode)
    return _RUNS[key]


def _quick(kind: str, strategy: str, mode: str) -> bool:
    """Half the runs in `make test`: each kind under every strategy, in sync for one half of the
    strategies and async for the other (swapped between kinds), so every strategy, mode and
    kind is run there; the other half is in the slow group (`make test-slow`, and CI)."""
    flip = (STRATEGIES.index(strategy) + KINDS.index(kind)) % 2 == 1
    return (mode == "async") == flip


def _cells() -> Iterator[Any]:
    for kind in KINDS:
        for strategy in STRATEGIES:
            for mode in ("sync", "async"):
                for source, sink in COVERAGE:
                    # "n/a" says the source cannot reach the sink: held to it like "covered"
                    status = cell(source, sink, strategy).status
                    if status not in {"covered", "n/a"} or sink in ELSEWHERE:
                        continue
                    if source in UNSEEDED:
                        continue
                    if source in DEEP_SOURCES and kind != "deep":
                        continue
                    if sink in DEEP_ONLY and kind != "deep":
                        continue
                    if sink in ASYNC_ONLY and mode != "async":
                        continue
                    yield pytest.param(
                        kind,
                        strategy,
                        mode,
                        source,
                        sink,
                        id=f"{kind}-{strategy}-{mode}-{source}-{sink}",
                        marks=[] if _quick(kind, strategy, mode) else [pytest.mark.slow],
                    )


@pytest.mark.parametrize(("kind", "strategy", "mode", "source", "sink"), list(_cells()))
def test_cell(kind: str, strategy: str, mode: str, source: str, sink: str) -> None:
    seen = seen_for(kind, strategy, mode)
    leaks = seen.holds(sink, SEEDS[source], SPELLED.get(source, ()))
    c = cell(source, sink, strategy)
    assert not leaks, f"{source} reached {sink} raw ({c.status}: {c.how}): {leaks[:2]}"


def test_every_inventory_row_is_observed() -> None:
    """A sink the inventory lists must be observed by this harness or named in ELSEWHERE; a
    run must actually reach every observed sink (an empty sink proves nothing)."""
    seen = seen_for("deep", "redact", "async")
    observed = set(seen.sinks) | set(ELSEWHERE) | {"exceptions"}
    assert set(UNSEEDED) <= set(SOURCES)
    assert set(SINKS) - observed == set(), f"sinks nobody observes: {set(SINKS) - observed}"
    # the seeds really entered: the handled form of each source reached the provider
    provider = " ".join(seen.texts("provider") + seen.texts("subagent_provider"))
    assert provider.count("[REDACTED_EMAIL]") >= 1
    for sink in ("callbacks", "langsmith", "otel", "events_v2", "stream_updates", "checkpoints"):
        assert seen.sinks.get(sink), sink


def _run(agent: Any, payload: Any, config: dict[str, Any], mode: str) -> Any:
    if mode == "sync":
        return agent.invoke(payload, config)
    return asyncio.run(agent.ainvoke(payload, config))


@pytest.mark.parametrize("strategy", ["redact", "hash"])
def test_interrupt_payload_holds_handled_values(mode: str, strategy: str) -> None:
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    pii = PIIMiddleware("email", strategy=strategy, hash_key=b"k" * 32, apply_to_output=True)
    model = _main_model("agent")
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[pii, HumanInTheLoopMiddleware(interrupt_on={"lookup": True})],
        checkpointer=InMemorySaver(),
    )
    config = _config(f"hitl-{strategy}-{mode}", [])
    result = _run(agent, _input("agent"), config, mode)
    interrupts = result.get("__interrupt__")
    assert interrupts, "the tool call was not interrupted"
    text = repr([i.value for i in interrupts])
    assert "lookup" in text and SEEDS["user"] not in text


def test_deep_summarization_gets_handled_history(mode: str) -> None:
    """deepagents' summarization (moved after PIIMiddleware by guardrails.deep): the summary
    model and the offloaded /conversation_history/<session>.md get handled values."""
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent

    earlier = [
        ("user", f"note {i}: write to {SEEDS['user']} about order {i}. " + "lorem ipsum " * 120)
        for i in range(30)
    ]
    model = ScriptedChatModel(default="ok, noted", profile={"max_input_tokens": 16000})
    root = _deep_root()
    pii = PIIMiddleware("email", strategy="redact")
    agent = create_deep_agent(
        model,
        guardrails=[pii],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
        checkpointer=InMemorySaver(),
    )
    config = _config(f"summary-{mode}", [])
    # one long input: the very first model call summarizes, before any write-back
    _run(agent, {"messages": earlier}, config, mode)
    history = [p for p in root.rglob("*.md") if "conversation_history" in str(p)]
    assert history, "summarization did not offload any history"
    for path in history:
        text = path.read_text()
        assert SEEDS["user"] not in text and "[REDACTED_EMAIL]" in text
    sent = repr(model.requests)
    assert SEEDS["user"] not in sent
    assert any("summar" in repr(r["messages"]).lower() for r in model.requests)


def test_the_docs_hold_the_inventory() -> None:
    """docs/pii.md's table is the inventory (regenerate with python -m guardrails.pii.inventory)."""
    from pathlib import Path

    from guardrails.pii.inventory import markdown_table

    page = (Path(__file__).parent.parent / "docs" / "pii.md").read_text()
    start = page.index("<!-- inventory:start -->\n") + len("<!-- inventory:start -->\n")
    assert page[start : page.index("<!-- inventory:end -->")] == markdown_table()


@pytest.mark.parametrize(
    "user_id", ["jane.doe%40example.com", "jane.doe\uff20example.com", "+44 20 7946 0958"]
)
def test_identity_fields_are_classified_by_the_detector(mode: str, user_id: str) -> None:
    """user_id in audit events and span events: anonymized whenever the content detector
    finds a value in it, whatever its spelling."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    seen = Seen()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # no PIISpanProcessor here
    handler = LogRecorder(seen)
    logger = logging.getLogger("guardrails.audit")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        agent, _, _ = _agent("agent", "redact")
        config = {"configurable": {"thread_id": f"id-{mode}", "user_id": user_id}}
        with provider.get_tracer("t").start_as_current_span("request"):
            _run(agent, _input("agent"), config, mode)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    audit = seen.texts("audit_log")
    assert audit and all(user_id not in t and json.dumps(user_id)[1:-1] not in t for t in audit)
    assert any("anon:" in t for t in audit)
    events = [e for span in exporter.get_finished_spans() for e in span.events]
    assert events
    for event in events:
        assert user_id not in repr(dict(event.attributes or {}))


def test_offloaded_tool_result_is_handled(mode: str) -> None:
    """A large tool result deepagents writes to /large_tool_results/ is the handled one."""
    from deepagents.backends import FilesystemBackend

    from guardrails.deep import create_deep_agent

    @tool
    def dump(q: str) -> str:
        """Dump the customer table."""
        return "row " * 25_000 + f" owner {SEEDS['tool_result']}"

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("dump", {"q": "all"})]), "done"]
    )
    root = _deep_root()
    agent = create_deep_agent(
        model,
        tools=[dump],
        guardrails=[PIIMiddleware("email", apply_to_tool_results=True)],
        backend=FilesystemBackend(root_dir=root, virtual_mode=True),
    )
    _run(agent, _input("agent"), {"configurable": {"thread_id": f"off-{mode}"}}, mode)
    offloaded = [p for p in root.rglob("*") if p.is_file() and "large_tool_results" in str(p)]
    assert offloaded, "the result was not offloaded"
    for path in offloaded:
        text = path.read_text()
        assert SEEDS["tool_result"] not in text and "[REDACTED_EMAIL]" in text
    assert SEEDS["tool_result"] not in repr(model.requests)


def test_tool_error_message_is_handled_in_the_thread(mode: str) -> None:
    """A ToolException the tool turns into its output (handle_tool_error) is handled like a
    result before its callbacks, the thread and the provider get it."""
    from langchain_core.tools import ToolException

    @tool
    def failing(q: str) -> str:
        """Always fails."""
        raise ToolException(f"no account for {SEEDS['tool_error']}")

    failing.handle_tool_error = True

    model = ScriptedChatModel(
        responses=[AIMessage("", tool_calls=[tool_call("failing", {"q": "x"})]), "done"]
    )
    agent = create_agent(
        model,
        tools=[failing],
        middleware=[PIIMiddleware("email", apply_to_tool_results=True)],
        checkpointer=InMemorySaver(),
    )
    seen = Seen()
    config = {"configurable": {"thread_id": f"err-{mode}"}, "callbacks": [Recorder(seen)]}
    _run(agent, _input("agent"), config, mode)
    assert not seen.holds("callbacks", SEEDS["tool_error"])  # on_tool_end of the handled error
    assert SEEDS["tool_error"] not in repr(model.requests)
    assert SEEDS["tool_error"] not in repr(agent.get_state(config).values)
    assert "[REDACTED_EMAIL]" in repr(model.requests)

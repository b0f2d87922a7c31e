"""Where values go: every source of personal data and every sink it can reach, as data.

The table in docs/pii.md ("Where values go") is generated from :data:`SOURCES`,
:data:`SINKS` and :data:`COVERAGE` (``python -m guardrails.pii.inventory`` prints it; a test
checks the page holds it), and tests/test_pii_sinks.py generates its source x sink x strategy
matrix from the same data: a new row here is a new set of test cells.

Each pair has a status:

* ``covered`` - the raw value never reaches the sink (the matrix asserts it);
* ``echo`` - the sink shows the caller's own input as the caller gave it (the graph's input,
  the first step's node inputs, the checkpoint of the input): no middleware runs before it;
  exporters (:func:`~guardrails.pii.observers.pii_anonymizer`,
  :class:`~guardrails.pii.observers.PIISpanProcessor`) handle it on the way out;
* ``declared`` - the raw value reaches the sink because the configuration says so
  (``pseudonymize`` restores real values for the tools it may restore into);
* ``open`` - not covered; ``how`` says why;
* ``n/a`` - the source cannot reach the sink.

Example::

    from guardrails.pii.inventory import COVERAGE, cell
    cell("tool_result", "callbacks").status  # "covered"
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COVERAGE",
    "ERROR_READERS",
    "ERROR_SHAPES",
    "SINKS",
    "SOURCES",
    "STATUSES",
    "Cell",
    "cell",
    "error_reader",
    "markdown_table",
]

STATUSES = ("covered", "echo", "declared", "open", "n/a")


@dataclass(frozen=True)
class Cell:
    """One source x sink pair: its status and how (or why not)."""

    status: str
    how: str = ""


#: name -> what it is. ``deep`` sources exist only in a deep agent.
SOURCES: dict[str, str] = {
    "user": "user messages (the graph's input)",
    "system_prompt": "the static system prompt",
    "dynamic_prompt": "text a middleware listed after PIIMiddleware adds (dynamic prompts)",
    "tool_result": "tool results (content, a str/dict/list artifact, every state key of a "
    "Command update)",
    "tool_artifact_object": "a tool's artifact that is an object (a pydantic model, a dataclass)",
    "file_read": "file contents read by deepagents' read_file",
    "memory_file": "memory files (AGENTS.md) deepagents loads into the system prompt",
    "subagent_result": "what a subagent answers to the task tool",
    "runtime_context": "runtime context and configurable ids (user_id, ...)",
    "model_settings": "model settings and request keywords (model_kwargs, user, metadata)",
    "tool_error": "the message of an exception a tool raises",
    "tool_schema": "what the request's tool definitions hold: a tool's description and its "
    "argument schema (enum, default, examples), a structured-output schema",
    "resume": "what a human answers to an interrupt (Command(resume=...)): "
    "HumanInTheLoopMiddleware's edited arguments, a reject or respond message",
    "model_answer": "what the model answers itself: text, tool calls, and the provider fields "
    "beside them (response_metadata / generation_info: logprobs spelling it token by token, "
    "grounding segments quoting it)",
}
DEEP_SOURCES = frozenset({"file_read", "memory_file", "subagent_result"})

SINKS: dict[str, str] = {
    "provider": "the provider request (every model the agent calls)",
    "subagent_provider": "a subagent's model (task descriptions, its own reads)",
    "state": "graph state after the run",
    "checkpoints": "checkpoints after the first step",
    "input_checkpoint": "the checkpoints of the input and of the first step",
    "stream_values": "stream_mode='values' (after the first chunk)",
    "stream_updates": "stream_mode='updates'",
    "stream_messages": "stream_mode='messages'",
    "stream_debug": "stream_mode='debug', 'tasks', 'checkpoints' (after the first step)",
    "stream_custom": "stream_mode='custom' (what a tool or node writes with get_stream_writer)",
    "events_v2": "astream_events(version='v2') (after the first step)",
    "events_v1": "astream_events(version='v1') (after the first step)",
    "events_v3": "stream_events(version='v3')",
    "callbacks": "callback handlers: on_chat_model_start, on_llm_end, on_tool_start/end, "
    "on_chain_* after the first step",
    "langsmith": "LangSmith run trees through Client(anonymizer=pii_anonymizer(pii))",
    "otel": "OpenTelemetry spans through PIISpanProcessor",
    "audit_log": "guardrails.audit events (identity fields included)",
    "python_logging": "every other Python log record",
    "files_written": "files the agent writes (deepagents backend)",
    "offloaded_results": "large tool results deepagents writes to /large_tool_results/",
    "store": "the LangGraph store (deepagents' StoreBackend, long-term memory)",
    "conversation_history": "history deepagents' summarization offloads to "
    "/conversation_history/<session>.md, and its summary",
    "subagent_results": "the task tool's result in the caller's state",
    "structured_response": "structured responses",
    "interrupts": "interrupt payloads (HumanInTheLoopMiddleware)",
    "exceptions": "exception messages (block)",
    "exception_tracebacks": "the frame locals of an exception's traceback, its chain's and "
    "group's (traceback's capture_locals, logging formatters that print locals, error "
    "trackers), after the run and while on_tool_error runs",
}

_INGRESS_MODEL = "the guarded model handles messages in _convert_input, before on_chat_model_start"
_INGRESS_TOOL = "the tool view handles the output inside the run, before on_tool_end"
_WRITE_BACK = "the handled messages replace the originals in state (same ids)"
_ECHO = "the caller's input as given; exporters handle it (pii_anonymizer, PIISpanProcessor)"
_EXPORT = "pii_anonymizer / PIISpanProcessor handle every string (keys too) before export"
_CONFIG = (
    "the caller's own config: LangChain copies configurable ids into run metadata; handled "
    "only at export (pii_anonymizer handles metadata)"
)

_CHECKPOINT_METADATA = (
    "LangGraph copies every text and number entry of config['configurable'] and "
    "config['metadata'] (user_id, ...) into the metadata of every checkpoint it writes "
    "(langgraph.checkpoint.base.get_checkpoint_metadata), where no middleware runs: pass "
    "identities in the runtime context (context=) instead, which is not checkpointed"
)


_MEMORY = (
    "deepagents' MemoryMiddleware copies the memory files into state (memory_contents) in its "
    "before_agent node, where no PIIMiddleware hook runs: that copy reaches state, "
    "checkpoints, streams and node callbacks raw (the prompt built from it is handled; "
    "exporters handle the traces)"
)
_MEMORY_COPY = frozenset(
    {
        "input_checkpoint",
        "state",
        "checkpoints",
        "stream_values",
        "stream_updates",
        "stream_debug",
        "callbacks",
        "events_v1",
        "events_v2",
    }
)


_ERROR_HOW = (
    "the tool view rebuilds the exception inside the tool's run, before on_tool_error: its "
    "arguments, __dict__ (notes too), slots and C members handled (a member that cannot be "
    "set is dropped), objects by their handled text, its chain and group rebuilt link by "
    "link, no traceback into the tool's frames (raised from the view's own frame); a restored "
    "tool's real arguments pass BaseTool.run sealed (a repr that says nothing), and "
    "PIIMiddleware's own frames hold no mapping, nor the matches computed ahead for the raw "
    "error"
)
_TRACEBACKS = (
    "not covered: an exception raised while the model call runs (a provider's error, a block "
    "of the request or of the answer) passes frames that hold the request before it was "
    "handled, or the model's raw answer, and keeps them on its traceback: a formatter that "
    "prints frame locals shows them (seen for a block of apply_to_output); only a tool's "
    "exception is covered"
)


_ANSWER = (
    "apply_to_output handles the answer inside the model call, before any callback, stream or "
    "state sees it: text, tool calls (names and arguments), every string of its "
    "response_metadata and generation_info; entries spelling it piece by piece (logprobs) are "
    "dropped when anything was handled, and a provider's own token callbacks are fired with "
    "the handled chunks (guardrails.pii.provider_fields)"
)


_ANSWER_SINKS = frozenset(
    {
        "provider",
        "subagent_provider",
        "state",
        "checkpoints",
        "stream_values",
        "stream_updates",
        "stream_messages",
        "stream_debug",
        "events_v1",
        "events_v2",
        "callbacks",
    }
)


_SCHEMA = (
    "not scanned: tool definitions and response schemas are structural request keywords "
    "(tools, functions, response_format) and go to the provider as the tools define them; "
    "LangChain records them in the invocation parameters callbacks get (on_chat_model_start, "
    "LangSmith's extra, which the client's anonymizer does not see); keep values out of tool "
    "descriptions and schemas (pass them in a message, where they are handled)"
)


def _tool_schema(sink: str) -> Cell:
    if sink in {"provider", "subagent_provider", "callbacks", "langsmith"}:
        return Cell("open", _SCHEMA)
    if sink in {"events_v1", "events_v2"}:
        return Cell("n/a", "astream_events carries a model call's messages, not its parameters")
    if sink in {"otel", "audit_log", "python_logging", "exceptions", "exception_tracebacks"}:
        return _default("system_prompt", sink)
    return Cell("n/a", "tool definitions are not part of messages, state or streams")


_RESUME = (
    "the reviewer's answer enters state through HumanInTheLoopMiddleware's after_model node, "
    "where no PIIMiddleware hook runs: an edit's arguments (its private state key "
    "hitl_edited_tool_calls) and a reject or respond message are raw in the checkpoints, "
    "state streams and node callbacks of the steps until the next model call writes them back "
    "handled (exporters handle the traces)"
)


def _resume(sink: str) -> Cell:
    if sink in {"provider", "subagent_provider"}:
        return Cell(
            "covered",
            "the history (an edited call's result, a reject or respond message) is scanned on "
            "every model call: tests/test_redteam_round9.py",
        )
    if sink in {"input_checkpoint", "offloaded_results", "stream_custom", "subagent_results"}:
        return Cell("n/a", "a resume is not carried there")
    if sink == "state":
        return Cell(
            "covered",
            "the next model call writes the handled history back, and the state keys of "
            "guardrails.pii.writeback.OTHER_STATE_KEYS (hitl_edited_tool_calls): "
            "tests/test_redteam_round9.py",
        )
    if sink in {
        "checkpoints",
        "stream_values",
        "stream_updates",
        "stream_messages",
        "stream_debug",
        "callbacks",
        "events_v1",
        "events_v2",
        "events_v3",
    }:
        return Cell("open", _RESUME)
    return _default("user", sink)  # the sink's own mechanism, as for any value the model saw


def _model_answer(sink: str) -> Cell:
    if sink in {"input_checkpoint", "offloaded_results", "stream_custom", "subagent_results"}:
        return Cell("n/a", "the model's answer is not carried there")
    if sink in _ANSWER_SINKS:
        return Cell("covered", _ANSWER)
    return _default("user", sink)  # the sink's own mechanism, as for any value the model saw


def _default(source: str, sink: str) -> Cell:
    """The coverage of a pair nothing in :data:`_SPECIAL` names."""
    if sink == "exception_tracebacks":
        if source == "tool_error":
            return Cell("covered", _ERROR_HOW + ": tests/test_promises_pii_tool_errors_2.py")
        return Cell("open", _TRACEBACKS)
    if source == "model_answer":
        return _model_answer(sink)
    if source == "tool_schema":
        return _tool_schema(sink)
    if source == "resume":
        return _resume(sink)
    if sink in {"langsmith", "otel"}:
        return Cell("covered", _EXPORT)
    if source == "tool_artifact_object":
        return _artifact_object(sink)
    if sink == "exceptions":
        return Cell("covered", "PIIDetectionError names the type and counts, never the value")
    if source == "tool_error":
        return _tool_error(sink)
    if sink == "store":
        return Cell(
            "open",
            "not observed by the matrix: a StoreBackend receives what write_file receives "
            "(handled, or restored under pseudonymize); what a tool puts in the store itself "
            "is the tool's own side effect, before the guardrail sees its result",
        )
    if sink == "stream_custom":
        if source in {"tool_result", "file_read", "subagent_result", "tool_error"}:
            return Cell(
                "open",
                "what a tool writes with get_stream_writer() is streamed as written, while it "
                "runs; the guardrail sees only what the tool returns",
            )
        return Cell("n/a", "only code the application writes streams custom events")
    if sink == "events_v3":
        if source in {"runtime_context", "model_settings"}:
            return Cell("n/a", "request keywords and config are not streamed by v3")
        return Cell("covered", "the PII stream transformer (tests/test_pii_wire.py)")
    if sink == "offloaded_results":
        if source in {"tool_result", "file_read", "subagent_result"}:
            return Cell("covered", _INGRESS_TOOL + "; deepagents offloads the handled result")
        return Cell("n/a", "only tool results are offloaded")
    if sink == "audit_log":
        return Cell("covered", "events carry types and counts; identity fields classified")
    if sink == "python_logging":
        return Cell("covered", "the package logs no values")
    if source == "runtime_context":
        if sink in {"callbacks", "events_v1", "events_v2", "stream_debug"}:
            return Cell("open", _CONFIG)
        if sink in {"checkpoints", "input_checkpoint"}:
            return Cell("open", _CHECKPOINT_METADATA)
        if sink == "provider":
            return Cell("n/a", "reaches the provider only through a prompt (dynamic_prompt)")
        return Cell("n/a", "ids do not enter messages or state by themselves")
    if source == "model_settings":
        if sink in {"provider", "callbacks", "events_v1", "events_v2"}:
            return Cell("covered", "invocation parameters handled before callbacks and the wire")
        return Cell("n/a", "request keywords are not stored")
    if source == "memory_file" and sink in _MEMORY_COPY:
        return Cell("open", _MEMORY)
    if source in {"system_prompt", "dynamic_prompt", "memory_file"}:
        if sink in {"provider", "callbacks", "events_v1", "events_v2", "subagent_provider"}:
            return Cell("covered", _INGRESS_MODEL)
        return Cell("n/a", "the system prompt is not part of state or streams")
    if sink == "input_checkpoint":
        if source == "user":
            return Cell("echo", _ECHO)
        return Cell("n/a", "only the input is checkpointed before a node runs")
    if sink in {"stream_values", "stream_updates", "stream_debug", "checkpoints", "state"}:
        how = _INGRESS_TOOL if source in {"tool_result", "file_read", "subagent_result"} else ""
        return Cell("covered", how or _WRITE_BACK)
    if sink in {"callbacks", "events_v1", "events_v2", "stream_messages"}:
        if source in {"tool_result", "file_read", "subagent_result"}:
            return Cell("covered", _INGRESS_TOOL)
        return Cell("covered", _INGRESS_MODEL)
    if sink in {"provider", "subagent_provider"}:
        return Cell("covered", "scanned on every model call and at the last hop")
    if sink == "conversation_history":
        return Cell(
            "covered",
            "guardrails.deep moves deepagents' summarization after PIIMiddleware: the summarizer "
            "and the offloaded file get the handled messages",
        )
    if sink == "files_written":
        return Cell(
            "covered",
            "the model only ever sees handled values, so write_file's arguments are handled "
            "(pseudonymize restores real values only into tools named in restore_tools)",
        )
    if sink == "subagent_results":
        return Cell("covered", "the task result is a tool result: handled inside the run")
    if sink == "structured_response":
        return Cell("covered", "apply_to_output handles structured responses")
    if sink == "interrupts":
        return Cell("covered", "interrupts carry the handled tool calls")
    return Cell("n/a")


_OBJECT = (
    "a pydantic model or dataclass artifact is handled field by field and rebuilt as its class "
    "(model_validate, else model_construct; dataclasses.replace, else the handled fields), in "
    "a list or dict too; an object of any other class is kept as it is, unscanned"
)


def _artifact_object(sink: str) -> Cell:
    if sink in {"provider", "subagent_provider", "input_checkpoint", "offloaded_results"}:
        return Cell("n/a", "an artifact is not sent to a model nor offloaded")
    if sink in {"exceptions", "audit_log", "python_logging", "events_v3", "stream_custom"}:
        return Cell("n/a", "not carried there")
    if sink in {
        "files_written",
        "conversation_history",
        "subagent_results",
        "structured_response",
        "interrupts",
    }:
        return Cell("n/a", "the model never sees an artifact: it cannot write or answer it")
    base = _default("tool_result", sink)
    if base.status == "covered":
        return Cell("covered", f"{base.how}; {_OBJECT}")
    return base


def _tool_error(sink: str) -> Cell:
    if sink in {"provider", "state", "checkpoints", "stream_values", "stream_updates"}:
        return Cell(
            "covered",
            "when the ToolNode turns the error into a ToolMessage, the message is handled as a "
            "tool result",
        )
    if sink in {"langsmith", "otel"}:
        return Cell("covered", _EXPORT + " (LangSmith's error field included)")
    if sink in {"callbacks", "events_v1", "events_v2", "stream_debug", "exceptions"}:
        return Cell(
            "covered",
            "the tool's exception is rebuilt inside its run, before on_tool_error, with its "
            "arguments, attributes and message handled (its own type, or a PIIToolError that "
            "is one too; never chained to the raw one): tests/test_promises_pii_tool_errors.py",
        )
    return Cell("n/a")


#: Pairs whose coverage differs from :func:`_default`.
_SPECIAL: dict[tuple[str, str], Cell] = {
    ("user", "stream_values"): Cell(
        "covered", "after the first chunk (the input echo): " + _WRITE_BACK
    ),
}


#: Cells that differ under one strategy: ``{strategy: {(source, sink): Cell}}``.
_VAULT_IN_STATE = Cell(
    "declared",
    "without vault=, the pseudonym mapping (placeholder -> real value) is kept in the state key "
    "guardrails_pii_vault: state, checkpoints, streams and node callbacks carry the real values "
    "there (exporters handle the traces); pass vault= (MemoryVault, RedisVault) to keep it out",
)
_VAULT_SOURCES = (
    "user",
    "system_prompt",
    "dynamic_prompt",
    "tool_result",
    "tool_artifact_object",
    "file_read",
    "memory_file",
    "subagent_result",
    "model_answer",
)
_VAULT_SINKS = (
    "state",
    "checkpoints",
    "stream_values",
    "stream_updates",
    "stream_debug",
    "callbacks",
    "events_v1",
    "events_v2",
)
_BY_STRATEGY: dict[str, dict[tuple[str, str], Cell]] = {
    # the matrix runs pseudonymize with a vault; this is the default (no vault)
    "pseudonymize (no vault)": {
        (source, sink): _VAULT_IN_STATE for source in _VAULT_SOURCES for sink in _VAULT_SINKS
    },
}


def cell(source: str, sink: str, strategy: str | None = None) -> Cell:
    """The coverage of one pair, under ``strategy`` when given (``KeyError`` for an unknown
    source or sink)."""
    if source not in SOURCES or sink not in SINKS:
        raise KeyError((source, sink))
    special = _BY_STRATEGY.get(strategy or "", {}).get((source, sink))
    return special or _SPECIAL.get((source, sink)) or _default(source, sink)


COVERAGE: dict[tuple[str, str], Cell] = {(so, si): cell(so, si) for so in SOURCES for si in SINKS}


#: The ``tool_error`` source, read closer: where in an exception a tool puts a value (the
#: kind, not the case; tests/test_promises_pii_tool_errors_2.py raises one of each) ...
ERROR_SHAPES: dict[str, str] = {
    "message": "the message (ValueError(f'no account for {email}'))",
    "argument": "an argument beyond the message (KeyError(key), CalledProcessError's cmd)",
    "attribute": "an attribute in __dict__ (a ToolException's own attribute, "
    "JSONDecodeError.doc, CalledProcessError.output/stderr)",
    "note": "a note (exc.add_note(...), __notes__)",
    "slot": "a __slots__ attribute of the exception's class",
    "c_member": "a member of a builtin exception type kept outside args (OSError.filename, "
    "ImportError.name/path, AttributeError.obj, SyntaxError.text)",
    "object": "an object the walk does not enter, in an attribute (httpx's Request, whose URL "
    "holds the value; a record whose repr says nothing)",
    "bytes": "bytes (UnicodeDecodeError.object)",
    "chain": "an exception it was raised from (__cause__) or during (__context__)",
    "group": "an exception of an ExceptionGroup",
    "frames": "nothing in the exception: the tool's frame locals only (its arguments, what it "
    "read), and the frames of guardrails and LangChain the error passes on its way out",
}
#: ... and how an observer reads one (each a reader in that test, run on each shape under
#: pseudonymize (a restore_tools tool), redact and block (apply_to_tool_results), sync and
#: async, through a real create_agent graph).
ERROR_READERS: dict[str, str] = {
    "message": "str(exc), repr(exc)",
    "attributes": "every attribute dir(exc) names: args, __dict__, __notes__, slots, C members, "
    "properties (httpx's exc.request), objects by repr and three levels of attributes",
    "chain": "the same of every exception in __cause__ and __context__ (both), recursively",
    "group": "the same of every exception of an exception group",
    "traceback_locals": "traceback.TracebackException(..., capture_locals=True): each frame's "
    "locals, the chain's and the group's too (LangSmith's and error trackers' formatters)",
    "logging": "logging.exception(...) through a handler, with the default formatter and with "
    "one that prints frame locals (rich, structlog and sentry-style)",
    "live_frames": "on_tool_error callbacks formatting the traceback with its locals while "
    "its frames still run (BaseTool.run holds the parsed arguments)",
    "tool_message": "the ToolMessage ToolNode makes of the error: handle_tool_errors=True, a "
    "string, a callable reading the whole exception, a tuple of exception types",
    "run_outcome": "the exception that ends the run: the tool's own type (the handled copy is "
    "one), under block PIIDetectionError (types and counts); a ToolNode whose "
    "handle_tool_errors handles every error turns that one into the tool's error message too",
}
_ERROR_OPEN: dict[str, str] = {}


def error_reader(reader: str) -> Cell:
    """The coverage of one way of reading a tool's exception (``KeyError`` for an unknown
    reader)."""
    if reader not in ERROR_READERS:
        raise KeyError(reader)
    if reader in _ERROR_OPEN:
        return Cell("open", _ERROR_OPEN[reader])
    return Cell("covered", _ERROR_HOW)


def markdown_table() -> str:
    """The inventory as the Markdown table of docs/pii.md."""
    marks = {"covered": "yes", "echo": "echo", "declared": "declared", "open": "**no**"}
    head = "| source \\ sink | " + " | ".join(f"`{s}`" for s in SINKS) + " |"
    rule = "|---" * (len(SINKS) + 1) + "|"
    rows = [head, rule]
    for source in SOURCES:
        marks_row = [marks.get(COVERAGE[source, sink].status, "-") for sink in SINKS]
        rows.append(f"| `{source}` | " + " | ".join(marks_row) + " |")
    lines = ["\n".join(rows), "", "Sources:", ""]
    lines += [f"- `{k}`: {v}" for k, v in SOURCES.items()]
    lines += ["", "Sinks:", ""]
    lines += [f"- `{k}`: {v}" for k, v in SINKS.items()]
    lines += ["", "Not covered, and why:", ""]
    for (source, sink), c in COVERAGE.items():
        if c.status in {"open", "echo", "declared"}:
            lines.append(f"- `{source}` -> `{sink}` ({c.status}): {c.how}")
    for strategy, cells in _BY_STRATEGY.items():
        for (source, sink), c in cells.items():
            lines.append(f"- under `{strategy}`: `{source}` -> `{sink}` ({c.status}): {c.how}")
    lines += ["", "A tool's exception (`tool_error`), where the value sits:", ""]
    lines += [f"- `{k}`: {_md(v)}" for k, v in ERROR_SHAPES.items()]
    lines += ["", "and how it is read (each reader x each place, tested):", ""]
    for reader, how in ERROR_READERS.items():
        status = error_reader(reader)
        mark = "covered" if status.status == "covered" else f"**{status.status}**: {status.how}"
        lines.append(f"- `{reader}` ({mark}): {_md(how)}")
    lines += ["", f"How: {_md(_ERROR_HOW)}."]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("__", "\\_\\_")  # (a dunder name is not bold)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table(), end="")

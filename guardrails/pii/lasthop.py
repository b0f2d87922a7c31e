"""The last hop: scan the request the provider actually receives, wherever the guardrail sits.

``PIIMiddleware`` scans the request when its ``wrap_model_call`` runs, but middleware listed
after it (a ``wrap_model_call`` adding context, a ``@dynamic_prompt``) can still add text
before the model node calls the provider. So the middleware also replaces ``request.model``
by a *guarded* copy of the model: the same class (``isinstance`` checks keep working), with
``_generate`` / ``_agenerate`` / ``_stream`` / ``_astream`` scanning the final messages and the
request keywords (``user``, ``metadata``, ... : everything except tool schemas) right before
the provider call, and handling the answer (text, tool calls, streamed tokens) before any
callback or stream sees it. Several ``PIIMiddleware`` in one stack share one guarded copy
(a :class:`LastHop` with one :class:`Guard` each).

:func:`guard_model` gives the same protection to a model another middleware calls on its own
(a summarizer, a tool selector)::

    pii = PIIMiddleware(["email", "phone"])
    SummarizationMiddleware(model=guard_model(ChatOpenAI(model="gpt-4o-mini"), pii))
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableBinding
from pydantic import PrivateAttr

from guardrails._adapters.langchain import known_observer
from guardrails.errors import GuardrailConfigError
from guardrails.pii.finders.secrets import open_secret_start
from guardrails.pii.holdback import LOOKBACK, release_point
from guardrails.pii.provider_fields import (
    AsyncTokenGate,
    TokenGate,
    handle_strings,
    merge_spelled,
    split_spelled,
)
from guardrails.pii.scan import Scan
from guardrails.pii.walk import _SHORT, _clean_of

__all__ = ["LOOKBACK", "Guard", "LastHop", "guard_model", "guarded"]

#: Request keywords that are schemas and switches, not content.
_STRUCTURAL_KWARGS = frozenset(
    {
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "response_format",
        "parallel_tool_calls",
        "strict",
        "stop",
        "stream",
        "stream_options",
        "ls_structured_output_format",
    }
)
#: Fields of a chat model whose entries go into the request as they are.
_MODEL_FIELDS = ("model_kwargs", "extra_body")


@dataclass(eq=False)
class Guard:
    """One middleware's part of the last hop: how to start a scan, and what it handles."""

    scan: Callable[[str], Scan]
    input: bool = True
    output_text: bool = False
    output_calls: bool = False
    refuse_unscannable: bool = False
    #: Matches of texts computed ahead (see :meth:`Scan.prefetch`).
    known: dict[str, Any] = field(default_factory=dict)
    #: Texts this guard's passes wrote in this call (a mask can look like its input): never
    #: scanned again by a later pass. Nothing else counts as scanned: every pass (the
    #: callbacks' view, the provider's request, the write-back) scans every string of every
    #: message again by content, an unchanged clean string costing one look-up, so text
    #: edited in place, in any field, is new content and is scanned.
    produced: set[str] = field(default_factory=set)
    #: The messages (system message first) this guard's own pass handed *directly* to the
    #: agent's model node (its handler was the node's, see
    #: :func:`~guardrails._adapters.langchain.is_model_node_handler`): taken once by the
    #: callbacks' view (:meth:`LastHop.observed`).
    handed: list[BaseMessage] | None = None
    #: The detector of :attr:`scan`'s passes: request keywords and invocation parameters that
    #: its clean set settles need no pass at all (:func:`_settled`).
    detector: Any = None

    @property
    def output(self) -> bool:
        return self.output_text or self.output_calls


#: ``guard.input`` / ``guard.output`` of a guard, read in C (``any(map(_INPUT, guards))``).
_INPUT = operator.attrgetter("input")
_OUTPUT = operator.attrgetter("output")


def _settled(values: dict[Any, Any], guard: Guard) -> bool:
    """Whether a pass of ``guard`` over ``values`` (request keywords, invocation parameters, a
    model field) would hand every value back as it is *from its first look-up*, so that no
    pass (no :class:`~guardrails.pii.scan.Scan`, no report) is needed: each value not under a
    structural key is ``None``, a ``bool``, or an *exact* ``str`` that is empty or a key of the
    detector's clean set as it is (at most :data:`~guardrails.pii.walk._SHORT` characters: the
    text itself is the key, compared by content; what :meth:`Scan.text` looks up first).
    Anything else (a number, a container, a ``str`` subclass, a longer or unknown text) takes
    the pass. Nothing is remembered: the values are read again on every call."""
    detector = guard.detector
    if detector is None:
        return False
    clean = _clean_of(detector)
    for k, v in values.items():
        if v is None or k in _STRUCTURAL_KWARGS:
            continue
        kind = type(v)
        if kind is str:
            if v and (len(v) > _SHORT or v not in clean):
                return False
        elif kind is not bool:
            return False
    return True


def _flat_clean(values: Any, guard: Guard) -> bool:
    """Whether a pass of ``guard`` over provider metadata (a chunk's ``response_metadata`` or
    ``generation_info``) would change nothing from its first look-ups: a flat mapping whose
    keys and texts are all in the detector's clean set as they are (exact ``str``, at most
    :data:`~guardrails.pii.walk._SHORT` characters), its other values ``None``, ``bool`` or
    numbers (which the metadata walk does not read). Anything else takes the pass."""
    if not values:
        return True
    detector = guard.detector
    if detector is None or not isinstance(values, dict):
        return False
    clean = _clean_of(detector)
    for k, v in values.items():
        if type(k) is not str or (k and (len(k) > _SHORT or k not in clean)):
            return False
        kind = type(v)
        if kind is str:
            if v and (len(v) > _SHORT or v not in clean):
                return False
        elif v is not None and kind not in (bool, int, float):
            return False
    return True


def _model_fields_settled(model: Any, guard: Guard) -> bool:
    """:func:`_settled` for the request fields ``model`` itself adds (:data:`_MODEL_FIELDS`)."""
    if model is None:
        return True
    fields = model.__dict__
    for name in _MODEL_FIELDS:
        value = fields.get(name)
        if isinstance(value, dict) and value and not _settled(value, guard):
            return False
    return True


@dataclass(eq=False)
class LastHop:
    """The guards of one model call, applied to the final request and the answer."""

    guards: list[Guard] = field(default_factory=list)
    #: The model node bound the guarded view the plain way (``bind_tools`` / ``bind`` made a
    #: ``RunnableBinding`` of the view itself): its ``invoke`` reaches the view's own.
    bound: bool = False
    #: The messages the callbacks' view took as handed over (no pass of its own), for the
    #: provider-side pass of the same call (taken once, see :meth:`_proven`).
    proven: list[BaseMessage] | None = None
    #: The hop of a model :func:`guard_model` returned: it serves every call of that model, so
    #: a call's own guards go to a hop of that call (which holds these guards too), never here.
    standing: bool = False

    # ------------------------------------------------------------------ request
    def request(
        self,
        messages: Sequence[BaseMessage],
        kwargs: dict[str, Any],
        model: Any = None,
        run_manager: Any = None,
    ) -> tuple[list[BaseMessage], dict[str, Any]]:
        """The final messages and request keywords handled by every guard; request fields
        the model itself adds (``model_kwargs``, ``extra_body``) handled on ``model`` (the
        guarded view, never the original)."""
        done = self.first_request(messages, kwargs, model, None, run_manager)
        assert done is not None  # nothing is deferred without ``defer``
        return done

    def first_request(
        self,
        messages: Sequence[BaseMessage],
        kwargs: dict[str, Any],
        model: Any,
        defer: dict[Guard, list[str]] | None,
        run_manager: Any = None,
    ) -> tuple[list[BaseMessage], dict[str, Any]] | None:
        """:meth:`request`; with ``defer`` (async, on the event loop) a first pass that
        leaves long texts unscanned (:attr:`~guardrails.pii.scan.Scan.defer`): when a guard
        left any, they are listed there and the result is ``None`` (nothing reported):
        compute them ahead, then call :meth:`request`."""
        out = list(messages)
        proven = self._proven(out, run_manager)
        reports: list[tuple[Scan, Guard]] = []
        for guard in self.guards:
            if not guard.input:
                continue
            if proven and _settled(kwargs, guard) and _model_fields_settled(model, guard):
                continue  # nothing a pass would read: no scan, nothing to report
            scan = guard.scan("request")
            if defer is not None:
                scan.defer = []
            if not proven:
                out = scan.messages(out)
            kwargs = {
                k: (v if k in _STRUCTURAL_KWARGS else scan.value(v)) for k, v in kwargs.items()
            }
            for name in _MODEL_FIELDS:
                value = model.__dict__.get(name) if model is not None else None
                if isinstance(value, dict) and value:
                    handled = {
                        k: (v if k in _STRUCTURAL_KWARGS else scan.value(v))
                        for k, v in value.items()
                    }
                    if handled != value:
                        model.__dict__[name] = handled
            if defer is not None and scan.defer:
                defer[guard] = scan.defer
                return None
            if defer is None:
                scan.report(refuse_unscannable=guard.refuse_unscannable)
            else:
                reports.append((scan, guard))
        for scan, guard in reports:  # the first pass left nothing out: it is the pass
            scan.report(refuse_unscannable=guard.refuse_unscannable)
        return out, kwargs

    def _proven(self, messages: list[BaseMessage], run_manager: Any) -> bool:
        """Whether ``messages`` (the provider-side request) are the very messages the
        callbacks' view took as handed over, with only known observers in between (the
        callback handlers of this call, see
        :func:`~guardrails._adapters.langchain.known_observer`): then they need no second
        proof. Taken once."""
        proven, self.proven = self.proven, None
        if proven is None or run_manager is None or len(proven) != len(messages):
            return False
        handlers = getattr(run_manager, "handlers", None)
        if handlers is None or not all(map(known_observer, handlers)):
            return False
        return all(map(operator.is_, proven, messages))

    def handed_over(self, messages: Sequence[BaseMessage]) -> bool:
        """Whether ``messages`` (what the model's ``invoke`` got) are exactly what the one
        input guard of this call handed to the model node, with nobody else's code in
        between: the guard's handler was the node's own, the node bound the view the plain
        way (:attr:`bound`), and the model's class runs LangChain's own ``invoke`` path (see
        :func:`_plain_entry`, checked by the caller). Then no pass is needed: the guard's
        own pass proved these objects, and nobody could edit them since. Taken once."""
        guards = list(filter(_INPUT, self.guards))
        if len(guards) != 1:
            return False
        guard = guards[0]
        handed, guard.handed = guard.handed, None
        bound, self.bound = self.bound, False
        if handed is None or not bound or len(handed) != len(messages):
            return False
        return all(map(operator.is_, handed, messages))

    def observed(self, messages: Sequence[BaseMessage], direct: bool = False) -> list[BaseMessage]:
        """The messages as every guard hands them over, *before* the model's callbacks
        (``on_chat_model_start``, tracers, ``astream_events``) see them; what they wrote is in
        each guard's :attr:`Guard.produced`, so the provider-side pass does not handle (or
        report) it again. ``direct``: the model's class runs LangChain's own ``invoke`` path;
        messages :meth:`handed_over` are passed on as they are."""
        out = list(messages)
        if direct and self.handed_over(out):
            self.proven = out
            return out
        for guard in self.guards:
            if guard.input:
                scan = guard.scan("request")
                out = scan.messages(out)
                scan.report(refuse_unscannable=guard.refuse_unscannable)
        return out

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The invocation parameters callbacks record (``model_kwargs``, ``user``, ...)
        handled; a ``block`` raises here, before any callback sees them. Reported once, by
        the provider-side pass."""
        for guard in self.guards:
            if not guard.input or _settled(params, guard):
                continue  # nothing a pass would read: no scan, nothing to report
            scan = guard.scan("request")
            params = {
                k: (v if k in _STRUCTURAL_KWARGS else scan.value(v)) for k, v in params.items()
            }
            if scan.found and not scan.strategy.rewrites:
                scan.report()
        return params

    def size(self, messages: Sequence[BaseMessage]) -> int:
        return sum(len(str(m.content)) for m in messages)

    # ------------------------------------------------------------------ answer
    def _answer(self, message: BaseMessage, info: Any = None) -> tuple[BaseMessage, Any]:
        """The answer and its generation's ``generation_info`` handled (see
        :mod:`~guardrails.pii.provider_fields`): text, calls, every string of the metadata;
        the entries spelling the answer piece by piece are kept only when handling altered
        nothing."""
        meta, spelled = split_spelled(message.response_metadata)
        info, spelled_info = split_spelled(info)
        if spelled:
            message = message.model_copy(update={"response_metadata": meta})
        altered = False
        for guard in self.guards:
            if guard.output:
                scan = guard.scan("output")
                before = message
                message = scan.message(
                    message, text=guard.output_text, calls=guard.output_calls, json_text=True
                )
                if guard.output_text:
                    meta = message.response_metadata
                    handled = handle_strings(meta, scan)
                    if handled is not meta:
                        message = message.model_copy(update={"response_metadata": handled})
                    handled_info = handle_strings(info, scan)
                    altered = altered or handled_info is not info
                    info = handled_info
                altered = altered or message is not before
                scan.report()
        if altered or not (spelled or spelled_info):
            return message, info
        if spelled:
            meta = {**message.response_metadata, **spelled}
            message = message.model_copy(update={"response_metadata": meta})
        if spelled_info:
            info = {**info, **spelled_info}
        return message, info

    def result(self, result: ChatResult) -> ChatResult:
        if not any(map(_OUTPUT, self.guards)):
            return result
        generations = []
        for g in result.generations:
            message, info = self._answer(g.message, g.generation_info)
            generations.append(g.model_copy(update={"message": message, "generation_info": info}))
        return ChatResult(generations=generations, llm_output=result.llm_output)

    def _text_scans(self) -> list[Scan]:
        return [guard.scan("output") for guard in self.guards if guard.output_text]

    def _text(self, text: str) -> str:
        for guard in self.guards:
            if guard.output_text:
                scan = guard.scan("output")
                text = scan.text(text)
                scan.report()
        return text

    def stream(self, chunks: Iterator[ChatGenerationChunk]) -> Iterator[ChatGenerationChunk]:
        """Re-emit a model stream with the answer handled; tool-call arguments and non-text
        content are held until the end, text is held back :data:`LOOKBACK` characters."""
        state = _StreamState(self)
        for chunk in chunks:
            yield from state.feed(chunk)
        yield from state.finish()

    async def astream(
        self, chunks: AsyncIterator[ChatGenerationChunk]
    ) -> AsyncIterator[ChatGenerationChunk]:
        state = _StreamState(self)
        async for chunk in chunks:
            for out in state.feed(chunk):
                yield out
        for out in state.finish():
            yield out


def _json_args(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)


class _StreamState:
    def __init__(self, hop: LastHop) -> None:
        self.hop = hop
        self.held = ""
        self.whole: Any = None  # the aggregated raw message
        self.last: ChatGenerationChunk | None = None
        self.texts_only = True
        #: The pieces of metadata entries spelling the answer (see
        #: :mod:`~guardrails.pii.provider_fields`), released at the end if nothing was altered.
        self.spelled: list[dict[str, Any]] = []
        self.altered = False

    def _copy(self, message: Any, content: Any, meta: Any, **extra: Any) -> AIMessageChunk:
        return AIMessageChunk(
            content=content,
            id=message.id,
            response_metadata=dict(meta or {}),
            usage_metadata=message.usage_metadata,
            **extra,
        )

    def _metadata(self, chunk: ChatGenerationChunk) -> tuple[Any, Any]:
        """A chunk's ``response_metadata`` and ``generation_info``: spelling entries held,
        strings handled."""
        meta, spelled = split_spelled(chunk.message.response_metadata)
        info, spelled_info = split_spelled(chunk.generation_info)
        if spelled or spelled_info:
            self.spelled.append({**spelled_info, **spelled})  # as LangChain merges them
        if meta or info:
            for guard in self.hop.guards:
                if guard.output_text and not (
                    _flat_clean(meta, guard) and _flat_clean(info, guard)
                ):
                    scan = guard.scan("output")
                    handled, handled_info = handle_strings(meta, scan), handle_strings(info, scan)
                    self.altered = self.altered or handled is not meta or handled_info is not info
                    meta, info = handled, handled_info
                    scan.report()
        return meta, info

    def feed(self, chunk: ChatGenerationChunk) -> Iterator[ChatGenerationChunk]:
        message = chunk.message
        self.whole = message if self.whole is None else self.whole + message
        self.last = chunk
        content = message.content
        meta, info = self._metadata(chunk)
        if isinstance(content, str) and self.texts_only:
            raw = self.held + content
            hold = open_secret_start(raw)  # a secret still arriving is held whole
            # the held tail stays raw: a value reaching into it may still be growing
            cut = release_point(raw[:hold], self.hop._text_scans())
            self.held = raw[cut:]
            released = self.hop._text(raw[:cut]) if cut else ""
            self.altered = self.altered or released != raw[:cut]
            yield ChatGenerationChunk(
                message=self._copy(message, released, meta), generation_info=info
            )
        else:
            self.texts_only = False
            yield ChatGenerationChunk(message=self._copy(message, "", meta), generation_info=info)

    def finish(self) -> Iterator[ChatGenerationChunk]:
        if self.whole is None:
            return
        whole = self.whole
        rest = whole.model_copy(
            update={
                "content": self.held if self.texts_only else whole.content,
                "response_metadata": {},  # each chunk's was handled as it went
            }
        )
        final, _ = self.hop._answer(rest)
        spelled = merge_spelled(self.spelled) if not (self.altered or final is not rest) else {}
        chunks: list[Any] = [
            {
                "name": c["name"],
                "args": json.dumps(c["args"]),
                "id": c.get("id"),
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, c in enumerate(getattr(final, "tool_calls", []) or [])
        ] + [
            {
                "name": c.get("name"),
                "args": _json_args(c.get("args")),
                "id": c.get("id"),
                "index": len(final.tool_calls) + i,  # type: ignore[attr-defined]
                "type": "tool_call_chunk",
            }
            for i, c in enumerate(getattr(final, "invalid_tool_calls", []) or [])
        ]
        extra = {
            k: v
            for k, v in final.additional_kwargs.items()
            if k not in {"tool_calls", "function_call"}
        }
        if "function_call" in final.additional_kwargs:
            extra["function_call"] = final.additional_kwargs["function_call"]
        message = AIMessageChunk(
            content=final.content,
            id=whole.id,
            additional_kwargs=extra,
            tool_call_chunks=chunks,
            chunk_position="last",
            response_metadata=spelled,
        )
        yield ChatGenerationChunk(message=message)


# ---------------------------------------------------------------------- the guarded model
_CLASSES: dict[type, type] = {}

#: The methods of ``BaseChatModel`` between ``invoke`` and ``_generate`` (and their async and
#: streaming twins): a model class that overrides none runs LangChain's own path, on which
#: only callback handlers see the messages.
_ENTRY = (
    "invoke",
    "ainvoke",
    "stream",
    "astream",
    "_convert_input",
    "generate_prompt",
    "agenerate_prompt",
    "generate",
    "agenerate",
    "_generate_with_cache",
    "_agenerate_with_cache",
)
_PLAIN_ENTRY: dict[type, bool] = {}


def _plain_entry(cls: type) -> bool:
    """Whether the model class ``cls`` overrides none of :data:`_ENTRY` (cached per class)."""
    known = _PLAIN_ENTRY.get(cls)
    if known is None:
        known = all(getattr(cls, n, None) is getattr(BaseChatModel, n) for n in _ENTRY)
        if len(_PLAIN_ENTRY) < 1024:
            _PLAIN_ENTRY[cls] = known
    return known


#: Per model class: whether it is a guarded class (``getattr`` on a pydantic model class that
#: lacks the attribute goes through its metaclass's ``__getattr__``: microseconds per call).
_IS_GUARDED: dict[type, bool] = {}


def _is_guarded(cls: type) -> bool:
    known = _IS_GUARDED.get(cls)
    if known is None:
        known = bool(getattr(cls, "__guardrails_guarded__", False))
        if len(_IS_GUARDED) < 1024:
            _IS_GUARDED[cls] = known
    return known


def _hop(view: Any) -> LastHop:
    """The hop of a guarded view (its private dict holds it: no pydantic ``__getattr__``)."""
    private = view.__pydantic_private__
    if type(private) is _Private:
        return private.hop
    hop: LastHop = view._guardrails_hop
    return hop


def _guarded_class(cls: type[BaseChatModel]) -> type[BaseChatModel]:
    if _is_guarded(cls):
        return cls
    known = _CLASSES.get(cls)
    if known is not None:
        return known

    def _guardrails_carry(self: Any, replacement: Any) -> Any:
        # a fallback swapped the model: the replacement is guarded by the same hop
        if not isinstance(replacement, BaseChatModel):
            raise GuardrailConfigError(
                "PIIMiddleware's last hop can only guard a chat model; a middleware replaced "
                f"the model with a {type(replacement).__name__}"
            )
        return guarded(replacement, self._guardrails_hop)

    def _generate(
        self: Any,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        hop = _hop(self)
        messages, kwargs = hop.request(messages, kwargs, self, run_manager)
        return hop.result(cls._generate(self, messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self: Any,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        hop = _hop(self)
        messages, kwargs = await _arequest(hop, messages, kwargs, self, run_manager)
        result = await cls._agenerate(self, messages, stop, run_manager, **kwargs)
        return await _aresult(hop, result)

    def _stream(
        self: Any,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        hop = _hop(self)
        messages, kwargs = hop.request(messages, kwargs, self, run_manager)
        if not any(map(_OUTPUT, hop.guards)):
            yield from cls._stream(self, messages, stop, run_manager, **kwargs)
            return
        # the provider's own token callbacks would carry its raw chunks: fired here instead
        gate: Any = None if run_manager is None else TokenGate(run_manager)
        for chunk in hop.stream(cls._stream(self, messages, stop, gate, **kwargs)):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self: Any,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        hop = _hop(self)
        messages, kwargs = await _arequest(hop, messages, kwargs, self, run_manager)
        if not any(map(_OUTPUT, hop.guards)):
            async for chunk in cls._astream(self, messages, stop, run_manager, **kwargs):
                yield chunk
            return
        gate: Any = None if run_manager is None else AsyncTokenGate(run_manager)
        async for chunk in hop.astream(cls._astream(self, messages, stop, gate, **kwargs)):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def __setattr__(self: Any, name: str, value: Any) -> None:
        # a model that keeps state in its own fields (a call counter, a cursor: test fakes
        # do) must see it on the original, or the next call starts over (an endless agent)
        cls.__setattr__(self, name, value)
        origin = getattr(self.__pydantic_private__, "origin", None)
        # (a private attribute is already shared: the view's private dict writes through)
        if origin is not None and name in type(origin).__pydantic_fields__:
            setattr(origin, name, value)

    def _convert_input(self: Any, model_input: Any) -> Any:
        # every public entry (invoke, stream, astream, stream_events v3) converts its input
        # here, before ``on_chat_model_start``: observers get the handled messages
        value = cls._convert_input(self, model_input)
        hop = _hop(self)
        if isinstance(value, ChatPromptValue) and any(map(_INPUT, hop.guards)):
            messages = value.messages
            out = hop.observed(messages, _plain_entry(cls))
            if any(map(operator.is_not, out, messages)):  # (same length: one per message)
                # the messages are valid already: no second validation pass
                return ChatPromptValue.model_construct(messages=out)
        return value

    def _get_invocation_params(self: Any, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = cls._get_invocation_params(self, stop=stop, **kwargs)
        hop = _hop(self)
        return hop.params(params) if isinstance(params, dict) else params

    def _bound(self: Any, out: Any) -> Any:
        # the model node's binding of this view: a binding with RunnableBinding's own
        # ``invoke`` / ``ainvoke`` hands its input to the view itself
        _hop(self).bound = (
            isinstance(out, RunnableBinding)
            and type(out).invoke is RunnableBinding.invoke
            and type(out).ainvoke is RunnableBinding.ainvoke
            and out.bound is self
        )
        return out

    def bind_tools(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _bound(self, cls.bind_tools(self, *args, **kwargs))

    def bind(self: Any, **kwargs: Any) -> Any:
        return _bound(self, cls.bind(self, **kwargs))

    namespace: dict[str, Any] = {
        "bind": bind,
        "_convert_input": _convert_input,
        "_get_invocation_params": _get_invocation_params,
        "__setattr__": __setattr__,
        "__module__": __name__,
        "__qualname__": cls.__qualname__,
        "__annotations__": {"_guardrails_hop": Any},
        "_guardrails_hop": PrivateAttr(default=None),
        "__guardrails_guarded__": True,
        "_generate": _generate,
        "_guardrails_carry": _guardrails_carry,
    }
    # only what the model itself implements: BaseChatModel decides whether to stream (and
    # whether to run ``_generate`` in a thread) by looking for these overrides
    if cls.bind_tools is not BaseChatModel.bind_tools:  # (LangChain reads "not overridden"
        namespace["bind_tools"] = bind_tools  # as "no tool calling")
    if cls._agenerate is not BaseChatModel._agenerate:
        namespace["_agenerate"] = _agenerate
    if cls._stream is not BaseChatModel._stream:
        namespace["_stream"] = _stream
    if cls._astream is not BaseChatModel._astream:
        namespace["_astream"] = _astream
    guarded_cls = type(cls.__name__, (cls,), namespace)
    _CLASSES[cls] = guarded_cls
    return guarded_cls


async def _prefetch(guards: Sequence[Guard], messages: Sequence[Any], extra: Any = None) -> None:
    """Long texts scanned on the loop one chunk at a time, the loop getting a turn after each."""
    for guard in guards:
        for _ in guard.scan("prefetch").prefetch(messages, extra):
            await asyncio.sleep(0)


async def _arequest(
    hop: LastHop,
    messages: list[BaseMessage],
    kwargs: dict[str, Any],
    model: Any,
    run_manager: Any = None,
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """The request handled on the loop: one pass, unless it leaves long texts, which are then
    computed a slice at a time before a full pass."""
    deferred: dict[Guard, list[str]] = {}
    done = hop.first_request(messages, kwargs, model, deferred, run_manager)
    if done is not None:
        return done
    for guard, texts in deferred.items():
        for _ in guard.scan("prefetch").prefetch((), texts=texts):
            await asyncio.sleep(0)
    # guards after the one that deferred did not run: the whole request computed ahead
    await _prefetch([g for g in hop.guards if g.input], messages, kwargs)
    return hop.request(messages, kwargs, model)


async def _aresult(hop: LastHop, result: ChatResult) -> ChatResult:
    await _prefetch([g for g in hop.guards if g.output], [g.message for g in result.generations])
    return hop.result(result)


def hop_of(model: Any) -> LastHop | None:
    """The :class:`LastHop` of an already guarded model, else None."""
    if _is_guarded(type(model)):
        return _hop(model)
    return None


class _Private(dict[str, Any]):
    """The guarded copy's private attributes: the original model's (shared, so its counters
    and locks stay one), plus this call's hop."""

    def __init__(self, base: dict[str, Any], hop: LastHop, origin: Any = None) -> None:
        super().__init__()
        self.base = base
        self.hop = hop
        self.origin = origin  # the model this copy guards: field writes go there too

    def __getitem__(self, key: str) -> Any:
        return self.hop if key == _HOP else self.base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key == _HOP:
            self.hop = value
        else:
            self.base[key] = value

    def __contains__(self, key: object) -> bool:
        return key == _HOP or key in self.base

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key == _HOP:
            return self.hop
        return self.base.get(key, default)

    def keys(self) -> Any:
        return [*self.base.keys(), _HOP]

    def items(self) -> Any:
        return [*self.base.items(), (_HOP, self.hop)]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.base) + 1


_HOP = "_guardrails_hop"


def guarded(model: BaseChatModel, hop: LastHop) -> BaseChatModel:
    """A view of ``model`` (its class's guarded subclass, sharing its fields and private
    state) whose provider calls go through ``hop``. A model that is guarded already keeps
    its guards: they are put first in ``hop`` (a hop never drops another's guards)."""
    if _is_guarded(type(model)):
        inner = _hop(model)
        if inner is not None and inner is not hop:
            hop.guards[:0] = [g for g in inner.guards if g not in hop.guards]
    cls = _guarded_class(type(model))
    # cached properties (LangChain's ``_serialized`` costs milliseconds) are computed once, on
    # the original, and shared with every view through the copied ``__dict__``
    model._serialized  # noqa: B018
    base = getattr(model, "__pydantic_private__", None)
    if base is None:
        base = {}
        object.__setattr__(model, "__pydantic_private__", base)
    view = cls.__new__(cls)
    object.__setattr__(view, "__dict__", dict(model.__dict__))
    object.__setattr__(view, "__pydantic_fields_set__", set(model.model_fields_set))
    extra = getattr(model, "__pydantic_extra__", None)
    object.__setattr__(view, "__pydantic_extra__", None if extra is None else dict(extra))
    object.__setattr__(view, "__pydantic_private__", _Private(base, hop, model))
    return view


def guard_model(model: BaseChatModel, *middlewares: Any) -> BaseChatModel:
    """``model`` with the input (and output) handling of ``middlewares`` on every call.

    For the models other middleware call on their own (a summarizer, a tool selector): what
    they send is scanned like an agent's request. ``pseudonymize`` needs a thread and is
    refused here.

    Example::

        pii = PIIMiddleware(["email", "phone"])
        SummarizationMiddleware(model=guard_model(ChatOpenAI(model="gpt-4o-mini"), pii))
    """
    if not isinstance(model, BaseChatModel):
        raise GuardrailConfigError(
            f"guard_model needs a chat model instance, got {type(model).__name__}"
        )
    if not middlewares:
        raise GuardrailConfigError("guard_model needs at least one PIIMiddleware")
    guards = []
    for mw in middlewares:
        make = getattr(mw, "standalone_guard", None)
        if make is None:
            raise GuardrailConfigError(
                f"guard_model takes PIIMiddleware instances, got {type(mw).__name__}"
            )
        guards.append(make())
    return guarded(model, LastHop(guards, standing=True))

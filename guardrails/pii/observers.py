"""What observers see: tool runs handled before their callbacks, and the tracing pieces.

LangChain's callbacks (``on_tool_end``, ``on_chat_model_start``, ...), LangSmith's tracer,
``astream_events`` and every tracing integration read values *inside* the tool or model run,
before a ``wrap_tool_call`` / ``wrap_model_call`` gets the result back. So a guardrail that
handles the value after the run returns is too late for them. Two pieces move the handling to
ingress:

* :func:`observed_tool` - a view of a tool (same class, same fields) whose ``_run`` /
  ``_arun`` hand their output through the guardrail before ``BaseTool.run`` reports it to the
  callbacks and formats the ``ToolMessage``. ``PIIMiddleware`` runs every tool call through one
  when it handles tool results.
* the guarded model of :mod:`guardrails.pii.lasthop` handles the messages and invocation
  parameters in ``_convert_input`` / ``_get_invocation_params``, which every public entry
  (``invoke``, ``stream``, ``astream``, ``stream_events``) calls before ``on_chat_model_start``.

What no middleware can reach (the graph's input as the caller gives it, the first node's
input, metadata the caller puts in ``config``) is handled where observers export it:

* :func:`pii_anonymizer` - a ``Callable[[dict], dict]`` for ``langsmith.Client(anonymizer=...)``
  (LangSmith applies it to run inputs, outputs, errors and metadata), also usable as
  ``hide_inputs=`` / ``hide_outputs=``;
* :class:`PIISpanProcessor` - an OpenTelemetry span processor that hands every span to an
  inner processor (a ``BatchSpanProcessor(exporter)``) with its name, attributes, events,
  links' attributes and status description handled.

Both take the same ``PIIMiddleware`` instances as the agent (same detector, same strategy;
``block`` and ``pseudonymize`` become ``redact`` here: an exporter cannot refuse a span or keep
a thread's mapping).

Example::

    pii = PIIMiddleware(["email", "phone"], apply_to_tool_results=True)
    client = langsmith.Client(anonymizer=pii_anonymizer(pii))
    tracer_provider.add_span_processor(PIISpanProcessor(BatchSpanProcessor(exporter), pii))
"""

from __future__ import annotations

import builtins
import contextvars
import dataclasses
import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from guardrails.errors import GuardrailConfigError, PIIDetectionError, PIIToolError
from guardrails.pii.context import field_context
from guardrails.pii.provider_fields import spelled_text, spells

__all__ = ["PIISpanProcessor", "made_by", "observed_tool", "pii_anonymizer", "redactor"]

#: The tool view whose ``_arun`` is handling its output now (its default ``_arun`` runs
#: ``_run`` in a thread: that inner ``_run`` must not handle the output a second time).
_HANDLING: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "guardrails_pii_tool_handling", default=None
)
#: The tool view whose ``ainvoke`` handled its input (StructuredTool's ``ainvoke`` of a tool
#: without a coroutine calls ``invoke`` in a thread: that must not handle it again).
_PREPARED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "guardrails_pii_tool_prepared", default=None
)
_HANDLE = "_guardrails_observe"
#: who made a view (and the views it is a view of): see :func:`made_by`
_OWNERS = "_guardrails_owners"
_CLASSES: dict[type, type] = {}


class Blocked(str):
    """What the tool's callbacks see in place of an output a ``block`` refused; the
    middleware raises the stored error once the tool run has returned."""

    error: PIIDetectionError


#: The keyword under which ``_to_args_and_kwargs`` hands the restored arguments on, sealed.
_SEALED = "__guardrails_restored__"


class _Sealed:
    """A restored tool's real arguments between ``_to_args_and_kwargs`` and ``_run`` /
    ``_arun``: ``BaseTool.run`` keeps them in its frame while the tool runs, where a
    traceback's frame locals (and a callback reading live frames) would show them. Its repr
    says nothing, it has no ``__dict__``, and it is emptied once opened."""

    __slots__ = ("_open",)

    def __init__(self, args: Any, kwargs: Any) -> None:
        self._open: Callable[[], tuple[Any, Any]] = lambda: (args, kwargs)

    def take(self) -> tuple[Any, Any]:
        opened = self._open()
        self._open = _nothing
        return opened

    def __repr__(self) -> str:
        return "<restored arguments (withheld)>"


def _nothing() -> tuple[Any, Any]:
    return (), {}


def _unsealed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The arguments a view's ``_run`` / ``_arun`` was called with, the sealed ones opened."""
    sealed = kwargs.get(_SEALED)
    if not isinstance(sealed, _Sealed):
        return args, kwargs
    real_args, real_kwargs = sealed.take()
    rest = {k: v for k, v in kwargs.items() if k != _SEALED}
    return (*real_args, *args), {**real_kwargs, **rest}


def _observed_class(cls: type) -> type:
    if getattr(cls, "__guardrails_observed__", False):
        return cls
    known = _CLASSES.get(cls)
    if known is not None:
        return known

    @functools.wraps(cls._run)  # type: ignore[attr-defined]
    def _run(self: Any, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = _unsealed(args, kwargs)
        if _HANDLING.get() == id(self):
            return cls._run(self, *args, **kwargs)  # type: ignore[attr-defined]
        handle = self.__dict__[_HANDLE][0]
        try:
            output = cls._run(self, *args, **kwargs)  # type: ignore[attr-defined]
        except Exception as error:
            del args, kwargs  # (the traceback of what is raised holds this frame: real values)
            try:
                failed: BaseException = _handled_error(error, handle(_error_texts(error)))
            except Exception:  # fail closed: never the raw exception, nor one chained to it
                failed = _withheld(error)
        else:
            return handle(output)
        raise failed  # outside the except clause: no __context__ holding the raw exception

    @functools.wraps(cls._arun)  # type: ignore[attr-defined]
    async def _arun(self: Any, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = _unsealed(args, kwargs)
        token = _HANDLING.set(id(self))
        failed: BaseException | None = None
        try:
            output = await cls._arun(self, *args, **kwargs)  # type: ignore[attr-defined]
        except Exception as error:
            failed, output = error, None
        finally:
            _HANDLING.reset(token)
        del args, kwargs
        ahandle = self.__dict__[_HANDLE][1]
        if failed is None:
            return await ahandle(output)
        original, failed = failed, None
        try:
            failed = _handled_error(original, await ahandle(_error_texts(original)))
        except Exception:  # fail closed: never the raw exception, nor one chained to it
            failed = _withheld(original)
        del original
        raise failed

    def _to_args_and_kwargs(self: Any, tool_input: Any, tool_call_id: Any) -> Any:
        # after ``on_tool_start`` recorded the input, before the arguments are validated
        restore = self.__dict__[_HANDLE][2]
        if restore is None:
            return cls._to_args_and_kwargs(self, tool_input, tool_call_id)  # type: ignore[attr-defined]
        tool_input = restore(tool_input)
        try:
            real = cls._to_args_and_kwargs(self, tool_input, tool_call_id)  # type: ignore[attr-defined]
        except ValidationError as error:  # it quotes the restored (real) input
            undo = getattr(restore, "undo", None)
            failed: BaseException = (
                _undone_validation(error, undo) if undo is not None else _withheld(error)
            )
        else:
            # the caller (BaseTool.run / arun) holds what it gets back in its frame while the
            # tool runs: sealed, opened only in ``_run`` / ``_arun`` (a traceback's frame
            # locals, a callback reading the live frames, see no real value)
            return (), {_SEALED: _Sealed(*real)}
        del tool_input
        raise failed

    def invoke(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        prepare = self.__dict__[_HANDLE][3]
        if prepare is not None and _PREPARED.get() != id(self):
            input = prepare[0](self, input)
        return cls.invoke(self, input, config, **kwargs)  # type: ignore[attr-defined]

    async def ainvoke(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        prepare = self.__dict__[_HANDLE][3]
        if prepare is None:
            return await cls.ainvoke(self, input, config, **kwargs)  # type: ignore[attr-defined]
        input = await prepare[1](self, input)
        token = _PREPARED.set(id(self))
        try:
            return await cls.ainvoke(self, input, config, **kwargs)  # type: ignore[attr-defined]
        finally:
            _PREPARED.reset(token)

    namespace = {
        "invoke": invoke,
        "ainvoke": ainvoke,
        "_to_args_and_kwargs": _to_args_and_kwargs,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__guardrails_observed__": True,
        "_run": _run,
        "_arun": _arun,
    }
    observed = type(cls.__name__, (cls,), namespace)
    _CLASSES[cls] = observed
    return observed


def _chain(error: BaseException) -> list[BaseException]:
    """The exceptions ``error`` was raised from or during (``__cause__``, ``__context__``)."""
    out: list[BaseException] = []
    seen = {id(error)}
    link = error.__cause__ or error.__context__
    while link is not None and id(link) not in seen and len(out) < 16:
        seen.add(id(link))
        out.append(link)
        link = link.__cause__ or link.__context__
    return out


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


#: ``BaseExceptionGroup`` (Python 3.11+), else None.
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", None)
#: Attribute values the walk reads whole (strings, numbers, containers, models, dataclasses).
_WALKED = (str, int, float, bool, type(None), dict, list, tuple)
#: The classes whose own attributes are read on their own (arguments, ``__dict__``, the
#: traceback and the chain; a group's message and exceptions are its arguments).
_BASES = frozenset(c for c in (object, BaseException, _GROUP) if c is not None)
_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)
#: How deep exception groups nested in exception groups are read (deeper: withheld).
_GROUP_DEPTH = 4


def _walked(value: Any) -> bool:
    from pydantic import BaseModel

    return (
        isinstance(value, (*_WALKED, BaseModel))
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
    ) and not isinstance(value, BaseException)


def _opaque_text(value: Any, depth: int = 0) -> str:
    """What an observer can read of an object the walk does not enter: its repr and, three
    objects deep, its attributes (a repr that says nothing hides no value: ``<Envelope>``
    holding ``headers={"to": ...}``); bytes as UTF-8 text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    parts = [_safe_repr(value)]
    try:
        fields = dict(vars(value)) if depth < 3 else {}
    except Exception:  # no __dict__ (slots, a C type): its repr is what can be read
        fields = {}
    for name, field in fields.items():
        shown = _safe_repr(field) if _walked(field) else _opaque_text(field, depth + 1)
        parts.append(f"{name}={shown}")
    return "\n".join(parts)


def _member_slots(cls: type) -> dict[str, Any]:
    """The descriptors of ``cls``'s values kept outside ``args`` and ``__dict__``: the
    ``__slots__`` of its Python classes, the members of its C types (``OSError.filename``,
    ``AttributeError.obj``, ``ImportError.path``, ``UnicodeError.object``)."""
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass in _BASES:
            continue
        for name, slot in vars(klass).items():
            known = name in out or name in ("__dict__", "__weakref__")
            if not known and isinstance(slot, _DESCRIPTORS):
                out[name] = slot
    return out


def _members(error: BaseException) -> dict[str, Any]:
    """``error``'s slots and C members that are set (an unset one raises AttributeError;
    any other failure to read one propagates: the exception is then withheld)."""
    out: dict[str, Any] = {}
    for name, slot in _member_slots(type(error)).items():
        value = _member(slot, error)
        if value is not _UNSET:
            out[name] = value
    return out


def _error_texts(error: BaseException, chain: bool = True, depth: int = 0) -> dict[str, Any]:
    """What an observer of ``error`` can read: its arguments, its attributes (notes too), its
    slots and C members, its message and repr, the text of each of those the walk does not
    enter (an object: httpx's ``Request``, a record), the same of each exception it was raised
    from or during (``chain``) and, for an exception group, of each exception it holds."""
    state = dict(getattr(error, "__dict__", {}))
    members = _members(error)
    out: dict[str, Any] = {
        "args": list(error.args),
        "state": state,
        "members": members,
        "text": _safe_str(error),
        "repr": _safe_repr(error),
        "opaque": {k: _opaque_text(v) for k, v in state.items() if not _walked(v)},
        "opaque_members": {k: _opaque_text(v) for k, v in members.items() if not _walked(v)},
        "opaque_args": {i: _opaque_text(a) for i, a in enumerate(error.args) if not _walked(a)},
    }
    if chain:
        out["chain"] = [_error_texts(e, chain=False, depth=depth) for e in _chain(error)]
    if _GROUP is not None and isinstance(error, _GROUP):
        if depth >= _GROUP_DEPTH:
            raise ValueError("exception groups nested too deep to be read")
        out["group"] = [_error_texts(e, depth=depth + 1) for e in error.exceptions]
    return out


#: Per exception type: a class deriving from ``PIIToolError`` and that type (or None).
_FALLBACKS: dict[type, type | None] = {}


def _fallback_class(cls: type) -> type:
    if cls in _FALLBACKS:
        return _FALLBACKS[cls] or PIIToolError
    made: Any = None
    try:
        made = type(cls.__name__, (PIIToolError, cls), {"__module__": cls.__module__})
        made.__new__(made)  # (a layout Python refuses to instantiate)
    except Exception:
        made = None
    if len(_FALLBACKS) < 256:
        _FALLBACKS[cls] = made
    return made or PIIToolError


def _withheld(error: BaseException) -> BaseException:
    """What is raised when handling ``error`` itself failed: a :class:`PIIToolError` naming
    its type only (its message withheld)."""
    made = PIIToolError(f"{type(error).__name__} (its message withheld: it could not be handled)")
    made.error_type = f"{type(error).__module__}.{type(error).__qualname__}"
    return made


def _handled_error(error: BaseException, handled: Any) -> BaseException:
    """What a handled tool raises for ``error`` (``handled``: :func:`_error_texts` of it, or a
    refusal's text under ``block``): never a traceback into the tool's frames (their locals
    hold what the tool had), its chain made of links handled the same way (each one the
    exception itself when it held nothing, else a rebuilt one; a link that was not read, past
    16, is dropped). See :func:`_handled_one` for each exception."""
    made = _handled_one(error, handled)
    if isinstance(handled, str):  # a block: the refusal, nothing chained
        return made
    tail, source = made, error
    for link, handled_link in zip(_chain(error), handled["chain"], strict=True):
        rebuilt = _handled_one(link, handled_link)
        _link(tail, source, rebuilt, source.__cause__ is link)
        tail, source = rebuilt, link
    _link(tail, source, None, False)
    return made


def _like(original: Any, shown: str) -> Any:
    """The handled text of an object the walk does not enter, as bytes when it was bytes
    (``UnicodeDecodeError.object``, ``CalledProcessError.output``), else the text."""
    if isinstance(original, bytes | bytearray):
        return type(original)(shown.encode("utf-8"))
    return shown


def _member(slot: Any, error: BaseException) -> Any:
    """A member's value on ``error`` (:data:`_UNSET` when it is not set)."""
    try:
        return slot.__get__(error, type(error))
    except AttributeError:
        return _UNSET


_UNSET = object()


def _same_value(current: Any, value: Any) -> bool:
    """(a member the bare instance already holds is not set again: OSError shows a
    ``filename2`` set to None)"""
    return current is value or (type(current) is type(value) and bool(current == value))


def _link(tail: BaseException, source: BaseException, link: Any, cause: bool) -> None:
    suppress = source.__suppress_context__
    tail.__cause__ = link if cause else None
    tail.__context__ = None if cause else link
    tail.__suppress_context__ = suppress


def _handled_one(error: BaseException, handled: Any) -> BaseException:
    """``error`` itself when nothing in it was handled (same arguments, attributes, members,
    message), its traceback cut; else an exception carrying the handled values: one of its
    own type (made without its ``__init__``: the handled arguments, attributes and members set
    on a bare instance; a member that cannot be set is dropped), or, when that one's message
    still is not the handled one, a :class:`PIIToolError` (an instance of its type too when
    Python allows it). Its chain is left to :func:`_handled_error`."""
    texts = _error_texts(error, chain=False)
    own = handled
    if not isinstance(handled, str):
        own = {k: v for k, v in handled.items() if k != "chain"}
    group = _GROUP is not None and isinstance(error, _GROUP)
    held: Any = error.exceptions if group else ()  # type: ignore[attr-defined]
    if own == texts:
        error.__traceback__ = None
        if group:  # (the same exceptions: their tracebacks cut, their chains relinked)
            for e, h in zip(held, own["group"], strict=True):
                _handled_error(e, h)
        return error
    cls = type(error)
    members: dict[str, Any] = {}
    if isinstance(own, str):  # a block: the refusal's text
        args: tuple[Any, ...] = (own,)
        state: dict[str, Any] = {}
        text = own
    else:
        args, state, text = tuple(own["args"]), dict(own["state"]), own["text"]
        members = dict(own["members"])
        for key, shown in own["opaque"].items():
            if shown != texts["opaque"][key]:  # an object whose text holds a value: its text
                state[key] = _like(state[key], shown)
        for key, shown in own["opaque_members"].items():
            if shown != texts["opaque_members"][key]:
                members[key] = _like(members[key], shown)
        if any(shown != texts["opaque_args"][i] for i, shown in own["opaque_args"].items()):
            args = tuple(
                _like(a, own["opaque_args"][i]) if i in own["opaque_args"] else a
                for i, a in enumerate(args)
            )
        if group:
            inner = [_handled_error(e, h) for e, h in zip(held, own["group"], strict=True)]
            args = (args[0], inner, *args[2:])
    try:
        rebuilt = cls.__new__(cls, *args)
        rebuilt.args = args
        rebuilt.__dict__.update(state)
        slots = _member_slots(cls)
        for name, value in members.items():
            try:
                if not _same_value(_member(slots[name], rebuilt), value):
                    slots[name].__set__(rebuilt, value)
            except Exception:  # dropped: the bare instance's own (made of the handled args)
                continue
        if isinstance(own, str) or _safe_str(rebuilt) != text:
            raise ValueError("its message is not the handled one")
        return rebuilt  # type: ignore[no-any-return]
    except Exception:
        pass
    fallback: Any = _fallback_class(cls)
    made = fallback.__new__(fallback)
    made.args = (text,)
    made.error_type = f"{cls.__module__}.{cls.__qualname__}"
    return made  # type: ignore[no-any-return]


def _undone_validation(error: ValidationError, undo: Callable[[Any], Any]) -> BaseException:
    """A schema ``ValidationError`` of restored arguments with the real values put back as
    their placeholders (``undo``): the same type, rebuilt from its line errors (so LangChain's
    ``handle_validation_error`` and ToolNode's ``ToolInvocationError`` treat it as before);
    ``error`` itself when it quotes no real value and holds no validator's exception (whose
    traceback runs through the validator's frames), its traceback and chain cut; a
    :class:`PIIToolError` when pydantic cannot rebuild it (a custom error type)."""
    text = _safe_str(error)
    if undo(text) == text and not _holds_errors(error):
        error.__traceback__ = error.__cause__ = error.__context__ = None
        return error
    try:
        line: list[Any] = []
        for detail in error.errors():
            item: dict[str, Any] = {
                "type": detail["type"],
                "loc": undo(detail["loc"]),
                "input": undo(detail["input"]),
            }
            ctx = detail.get("ctx")
            if ctx:
                item["ctx"] = {
                    k: _handled_error(v, undo(_error_texts(v)))
                    if isinstance(v, BaseException)
                    else undo(v)
                    for k, v in ctx.items()
                }
            line.append(item)
        rebuilt = ValidationError.from_exception_data(error.title, line)
        shown = _safe_str(rebuilt)
        if undo(shown) != shown:
            raise ValueError("a real value is left")
        return rebuilt
    except Exception:
        made = PIIToolError(undo(text))  # (pydantic's type takes no subclass)
        made.error_type = f"{type(error).__module__}.{type(error).__qualname__}"
        return made


def _holds_errors(error: ValidationError) -> bool:
    try:
        details = error.errors()
    except Exception:
        return True
    return any(isinstance(v, BaseException) for d in details for v in (d.get("ctx") or {}).values())


def observed_tool(
    tool: Any,
    handle: Callable[[Any], Any],
    ahandle: Callable[[Any], Any],
    restore: Callable[[Any], Any] | None = None,
    prepare: tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] | None = None,
    owner: object = None,
) -> Any:
    """A view of ``tool`` whose raw output goes through ``handle`` (sync runs) or ``ahandle``
    (async runs, awaited) before the tool's callbacks (``on_tool_end``) and its
    ``ToolMessage`` see it. The view shares the tool's fields; the tool itself is unchanged.
    ``restore`` (pseudonymize) turns the input into what the tool itself receives *after*
    ``on_tool_start`` has recorded it: callbacks see placeholders, the tool real values.
    ``prepare`` (sync, async: ``(view, input) -> input``) handles the input the tool is
    invoked with, after every middleware inside the guardrail has had its say (a reviewer's
    edit, another layer's rewrite), before ``on_tool_start``.

    Example::

        request = request.override(tool=observed_tool(request.tool, scan_output, ascan_output))
    """
    cls: Any = _observed_class(type(tool))
    view = cls.__new__(cls)
    state = dict(tool.__dict__)
    mine: _Hooks = (handle, ahandle, restore, prepare)
    outer = state.get(_HANDLE)
    # a view of a view (one PIIMiddleware per type, stacked): both layers' hooks, never only
    # the innermost one's
    state[_HANDLE] = mine if outer is None else _chained(outer, mine)
    state[_OWNERS] = (*state.get(_OWNERS, ()), owner)
    object.__setattr__(view, "__dict__", state)
    object.__setattr__(view, "__pydantic_fields_set__", set(tool.model_fields_set))
    extra = getattr(tool, "__pydantic_extra__", None)
    object.__setattr__(view, "__pydantic_extra__", None if extra is None else dict(extra))
    object.__setattr__(view, "__pydantic_private__", getattr(tool, "__pydantic_private__", None))
    return view


def made_by(tool: Any, owner: object) -> bool:
    """``tool`` is a view ``owner`` made (``observed_tool(..., owner=owner)``), or a view of
    one: its hooks already run."""
    return any(o is owner for o in getattr(tool, "__dict__", {}).get(_OWNERS, ()))


_Hooks = tuple[
    Callable[[Any], Any],
    Callable[[Any], Any],
    Callable[[Any], Any] | None,
    tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] | None,
]


def _chained(outer: _Hooks, inner: _Hooks) -> _Hooks:
    """The hooks of a view made by an inner layer over an outer layer's view: the input
    handled by the outer layer then the inner one (the order a call goes in), the output by
    the inner layer then the outer one (the order a result comes out), both restores."""
    o_handle, o_ahandle, o_restore, o_prepare = outer
    i_handle, i_ahandle, i_restore, i_prepare = inner

    def handle(output: Any) -> Any:
        return o_handle(i_handle(output))

    async def ahandle(output: Any) -> Any:
        return await o_ahandle(await i_ahandle(output))

    restore = o_restore or i_restore
    if o_restore is not None and i_restore is not None:

        def restore(value: Any) -> Any:
            return i_restore(o_restore(value))

        o_undo, i_undo = getattr(o_restore, "undo", None), getattr(i_restore, "undo", None)
        if o_undo is not None and i_undo is not None:
            restore.undo = lambda value: o_undo(i_undo(value))  # type: ignore[attr-defined]
        else:
            restore.undo = o_undo or i_undo  # type: ignore[attr-defined]

    prepare = o_prepare or i_prepare
    if o_prepare is not None and i_prepare is not None:
        o_sync, o_async = o_prepare
        i_sync, i_async = i_prepare

        def sync(view: Any, value: Any) -> Any:
            return i_sync(view, o_sync(view, value))

        async def async_(view: Any, value: Any) -> Any:
            return await i_async(view, await o_async(view, value))

        prepare = (sync, async_)
    return (handle, ahandle, restore, prepare)


# ---------------------------------------------------------------------- exporters
def _exporting_scans(middlewares: Sequence[Any]) -> list[Callable[[], Any]]:
    if not middlewares:
        raise GuardrailConfigError("pii_anonymizer / PIISpanProcessor need a PIIMiddleware")
    makers = []
    for mw in middlewares:
        make = getattr(mw, "export_scan", None)
        if make is None:
            raise GuardrailConfigError(
                f"pii_anonymizer / PIISpanProcessor take PIIMiddleware instances, got "
                f"{type(mw).__name__}"
            )
        makers.append(make)
    return makers


def _spells_a_value(value: Any, scan: Any) -> bool:
    """Whether an entry spelling an answer token by token (``logprobs``) spells a value: no
    single token holds one, so the text they spell together is judged."""
    text = spelled_text(value)
    return bool(text) and scan.text(text) != text


def _handle_keys(value: Any, scan: Any, context: str | None = None) -> Any:
    """``value`` with every string handled, dictionary keys included (an exporter never
    needs a key to stay as it was); a key's name is the context of the values under it, as
    in the agent's own requests (``{"phone": "6502530000"}``)."""
    if isinstance(value, Mapping):
        return {
            (scan.text(k) if isinstance(k, str) else k): (
                None
                if spells(k) and _spells_a_value(v, scan)
                else _handle_keys(
                    v, scan, (field_context(k) if type(k) is str else None) or context
                )
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        items = [_handle_keys(v, scan, context) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return scan.value(value, context)


def redactor(*middlewares: Any) -> Callable[[Any], Any]:
    """``value -> value`` with every string (keys too) handled by each middleware's detector
    and its strategy (``block`` and ``pseudonymize`` export as ``redact``). The building
    block of :func:`pii_anonymizer` and :class:`PIISpanProcessor`.

    Example::

        scrub = redactor(PIIMiddleware("email"))
        scrub({"to": "jane@example.com"})  # {"to": "[REDACTED_EMAIL]"}
    """
    makers = _exporting_scans(middlewares)

    def handle(value: Any) -> Any:
        for make in makers:
            value = _handle_keys(value, make())
        return value

    return handle


def pii_anonymizer(*middlewares: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An anonymizer for ``langsmith.Client(anonymizer=...)`` built on the agent's own
    ``PIIMiddleware`` instances: every run's inputs, outputs, error and metadata are handled
    in the client, before upload. Also fits ``hide_inputs=`` / ``hide_outputs=``.

    Example::

        pii = PIIMiddleware(["email", "phone"], apply_to_tool_results=True)
        client = langsmith.Client(anonymizer=pii_anonymizer(pii))
        tracer = LangChainTracer(client=client)
    """
    handle = redactor(*middlewares)

    def anonymize(data: dict[str, Any]) -> dict[str, Any]:
        out = handle(data)
        return out if isinstance(out, dict) else {"value": out}

    return anonymize


def _otel_attributes(attributes: Any, handle: Callable[[Any], Any]) -> dict[str, Any]:
    """The attributes handled as one mapping (an attribute's name is the context of its value:
    ``user.phone``); a sequence stays a tuple."""
    handled = handle(
        {k: tuple(v) if isinstance(v, list) else v for k, v in dict(attributes or {}).items()}
    )
    return dict(handled)


class PIISpanProcessor:
    """An OpenTelemetry ``SpanProcessor`` in front of another one: each ended span reaches
    ``inner`` with its name, attributes, events (names and attributes), links' attributes,
    resource-independent status description handled by the agent's ``PIIMiddleware``.

    Example::

        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        provider.add_span_processor(PIISpanProcessor(BatchSpanProcessor(exporter), pii))
    """

    def __init__(self, inner: Any, *middlewares: Any) -> None:
        if not callable(getattr(inner, "on_end", None)):
            raise GuardrailConfigError(
                "PIISpanProcessor(inner, ...): inner must be a SpanProcessor (with on_end), "
                f"got {type(inner).__name__}"
            )
        self.inner = inner
        self._handle = redactor(*middlewares)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Any) -> None:
        hook = getattr(self.inner, "_on_ending", None)
        if callable(hook):
            hook(span)

    def on_end(self, span: Any) -> None:
        self.inner.on_end(self.scrub(span))

    def scrub(self, span: Any) -> Any:
        """A copy of ``span`` (a ``ReadableSpan``) with every string handled."""
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import Link, Status

        handle = self._handle
        status = span.status
        if status is not None and status.description:
            status = Status(status.status_code, handle(status.description))
        return ReadableSpan(
            name=handle(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_otel_attributes(span.attributes, handle),
            events=[
                Event(
                    handle(e.name),
                    _otel_attributes(e.attributes, handle),
                    timestamp=e.timestamp,
                )
                for e in span.events
            ],
            links=[
                Link(link.context, _otel_attributes(link.attributes, handle)) for link in span.links
            ],
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

"""Where the strings are: the walk of messages and values a scan pass makes, and the proofs
it keeps (:class:`~guardrails.pii.scan.Scan` is a :class:`Walker`).

The walkers reach *every* string a provider or a tool may receive, so coverage never depends
on remembering a field: message ``content`` as a string or as blocks of any type (every key and
every value of every block), the message ``name``, ``additional_kwargs`` (``name``,
``function_call``, raw ``tool_calls``), ``tool_calls`` / ``invalid_tool_calls`` (names too) /
``tool_call_chunks`` arguments, a ``ToolMessage`` ``artifact``, dictionary keys, numbers (as
text), ``structured_response``. Each string goes to the pass's ``text()``; the same object comes
back when nothing in it changed.

The proofs: a detector's *clean set* (texts, with their field context, in which it found
nothing), its set of clean messages keyed by :func:`fingerprint`, and its proven prefixes (the
encoding of every message of a list, up to its first message not proven clean: a later list
whose encoding starts with the same bytes, message classes alike, holds exactly those values in
its leading messages; :func:`_history_key`). All three compare content, never identity.

Example::

    scan = Scan(detector, build_strategy("redact"), middleware.audit, where="input")
    handled = scan.messages(request.messages)  # Walker.messages
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import marshal
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from pydantic import BaseModel

from guardrails.pii.context import field_context
from guardrails.pii.detect import Detector

__all__ = ["Walker", "fingerprint"]

#: Texts up to this long are keys of the clean set as they are; longer ones by a digest.
_SHORT = 256
#: Entries of a detector's clean set before it is emptied.
_CLEAN_MAX = 65_536
#: Entries of a detector's set of clean messages (:func:`fingerprint`) before it is emptied.
_MEMO_MAX = 8_192
#: Histories at least this long are first compared with the detector's proven prefixes
#: (:func:`_history_key`, :func:`_proven_prefix`).
_PREFIX_MIN = 4
#: Proven prefixes a detector keeps (the most recently used first).
_PREFIXES_MAX = 32
#: A proven prefix's encoding up to this many bytes is kept as it is, a longer one as its
#: length, its last 16 bytes and a 16-byte BLAKE2b digest.
_PREFIX_RAW_MAX = 16_384


def _clean_of(detector: Detector) -> dict[Any, None]:
    """The texts (with their field context) in which ``detector`` found nothing, through
    every layer: a later scan of the same text costs one look-up."""
    clean: dict[Any, None] | None = detector.__dict__.get("_guardrails_clean")
    if clean is None:
        clean = {}
        object.__setattr__(detector, "_guardrails_clean", clean)
    return clean


def _memo_of(detector: Detector) -> dict[Any, None]:
    """The :func:`fingerprint` of every message in which ``detector`` found nothing."""
    memo: dict[Any, None] | None = detector.__dict__.get("_guardrails_clean_messages")
    if memo is None:
        memo = {}
        object.__setattr__(detector, "_guardrails_clean_messages", memo)
    return memo


def _prefixes_of(detector: Detector) -> list[_Prefix]:
    """The message lists (their leading messages) in which ``detector`` found nothing, most
    recently used first: see :func:`_proven_prefix`."""
    prefixes: list[_Prefix] | None = detector.__dict__.get("_guardrails_clean_prefixes")
    if prefixes is None:
        prefixes = []
        object.__setattr__(detector, "_guardrails_clean_prefixes", prefixes)
    return prefixes


#: A proven prefix: the classes of its messages, the length of the encoding of their fields,
#: and that encoding (or its last 16 bytes and its digest, :data:`_PREFIX_RAW_MAX`).
_Prefix = tuple[tuple[type, ...], int, bytes, bytes | None]
_DICT = operator.attrgetter("__dict__")
_READS = operator.itemgetter(2)
#: The header :func:`marshal.dumps` writes before a list's elements (type and length).
_HEADER = 5


def _history_key(messages: Sequence[Any]) -> tuple[list[type], list[Any], bytes] | None:
    """The classes of ``messages``, the fields a scan reads of each (what :func:`fingerprint`
    writes) and their :mod:`marshal` encoding as one list, made by C calls only; ``None``
    when a message is of a class no pass has walked yet (or no message), a field was deleted,
    or a value cannot be written exactly.

    Version 2 writes every element on its own (no back-references, no flags that depend on
    reference counts): the encoding of the first ``k`` messages' fields is the same bytes
    wherever those fields stand at the start of a list, so a proven prefix is compared by
    ``bytes.startswith``."""
    types = list(map(type, messages))
    shapes = list(map(_SHAPES.get, types))
    if None in shapes:
        return None
    try:
        fields = list(map(operator.call, map(_READS, shapes), map(_DICT, messages)))  # type: ignore[arg-type]
        return types, fields, marshal.dumps(fields, 2)
    except (KeyError, ValueError, RecursionError):
        return None


def _proven_prefix(prefixes: list[_Prefix], types: list[type], raw: bytes) -> int:
    """How many leading messages of a list (its classes ``types``, its encoding ``raw`` from
    :func:`_history_key`) hold, field for field, exactly the values (exact types, by
    :mod:`marshal`) of the leading messages of a list proven clean before: 0 when none."""
    best, hit, n, size = 0, -1, len(types), len(raw) - _HEADER
    for i, (classes, length, body, digest) in enumerate(prefixes):
        k = len(classes)
        if k <= best or k > n or length > size:
            continue
        if digest is None:
            if not raw.startswith(body, _HEADER):
                continue
        else:
            end = _HEADER + length
            if raw[end - len(body) : end] != body:
                continue
            if hashlib.blake2b(raw[_HEADER:end], digest_size=16).digest() != digest:
                continue
        if all(map(operator.is_, types, classes)):
            best, hit = k, i
    if hit > 0:  # most recently used first
        with contextlib.suppress(IndexError):  # (another thread changed the list meanwhile)
            prefixes.insert(0, prefixes.pop(hit))
    return best


def _remember_prefix(
    prefixes: list[_Prefix], types: list[type], fields: list[Any], raw: bytes, k: int
) -> None:
    """Keep the first ``k`` messages of the list :func:`_history_key` read as proven clean."""
    if k == len(types):
        body = raw[_HEADER:]
    else:
        try:
            body = marshal.dumps(fields[:k], 2)[_HEADER:]
        except (ValueError, RecursionError):  # (the same values: not expected)
            return
        if not raw.startswith(body, _HEADER):  # edited since ``raw`` was made: not proven
            return
    if len(body) > _PREFIX_RAW_MAX:
        entry: _Prefix = (
            tuple(types[:k]),
            len(body),
            body[-16:],
            hashlib.blake2b(body, digest_size=16).digest(),
        )
    else:
        entry = (tuple(types[:k]), len(body), body, None)
    prefixes.insert(0, entry)
    del prefixes[_PREFIXES_MAX:]


def fingerprint(message: BaseMessage) -> Any:
    """An immutable key of everything a scan of ``message`` reads (its class, ``content``,
    ``name``, ``additional_kwargs``, ``tool_calls``, ``invalid_tool_calls``,
    ``tool_call_chunks``, ``artifact``: those its class has), or ``None`` when a field holds a
    value this key cannot write exactly.

    The key is :mod:`marshal`'s encoding, made in C: it writes builtin types only and only
    *exact* ones (a ``str`` / ``dict`` / ``int`` subclass, a pydantic model, any other object
    is refused: ``None``, and the message is walked), each value with its type, containers
    element by element in order. Two messages with the same key hold equal values of the same
    types in every field a scan reads, whatever was edited in place in between: the key is the
    proof that the content is unchanged (issue 29: nothing mutable counts as scanned on its
    identity). Keys over 256 bytes are kept as a 16-byte BLAKE2b digest (no long raw text)."""
    cls = type(message)
    shape = _SHAPES.get(cls) or _shape(cls)
    try:
        return _key(cls, shape[2](message.__dict__))
    except KeyError:  # a field deleted
        return None


def _key(cls: type, values: tuple[Any, ...]) -> Any:
    """:func:`fingerprint` of the values its class's getter read."""
    try:
        raw = marshal.dumps(values, 2)  # version 2 writes no back-references: same value,
    except (ValueError, RecursionError):  # same bytes
        return None
    if len(raw) > _SHORT:
        raw = hashlib.blake2b(raw, digest_size=16).digest()
    return cls, raw


#: The fields a scan reads besides ``content`` and ``artifact``.
_OTHER_FIELDS = (
    "name",
    "additional_kwargs",
    "tool_calls",
    "invalid_tool_calls",
    "tool_call_chunks",
)
_Getter = Callable[[dict[str, Any]], tuple[Any, ...]]
#: The value of each of those fields (and ``artifact``) on a message that sets none of them.
_EMPTY: dict[str, Any] = {
    "name": None,
    "additional_kwargs": {},
    "tool_calls": [],
    "invalid_tool_calls": [],
    "tool_call_chunks": [],
    "artifact": None,
}
#: Per message class: a getter of those of :data:`_OTHER_FIELDS` the class has and of its
#: ``artifact`` (one C call, a tuple), that tuple on a message that sets none of them (a
#: message whose getter returns it and whose content is a string holds no other text: one
#: comparison of their encodings: ``==`` on the values would let a subclass's own ``__eq__``
#: answer), a getter of every field a scan reads
#: (``content``, those others, ``artifact``): what :func:`fingerprint` writes, and those types.
_SHAPES: dict[type, tuple[_Getter, tuple[Any, ...], _Getter, bytes]] = {}


def _shape(cls: type) -> tuple[_Getter, tuple[Any, ...], _Getter, bytes]:
    fields = getattr(cls, "model_fields", {})
    # every message class has name and additional_kwargs: the getters always make tuples
    names = sorted({"name", "additional_kwargs"} | {n for n in _OTHER_FIELDS if n in fields})
    if "artifact" in fields:
        names.append("artifact")
    shape = (
        operator.itemgetter(*names),
        tuple(_EMPTY[n] for n in names),
        operator.itemgetter("content", *names),
        # those empty values' encoding: marshal writes exact types only (a subclass, whose
        # own __eq__ would answer ==, is refused), so equal bytes are exactly those values
        marshal.dumps(tuple(_EMPTY[n] for n in names), 2),
    )
    if len(_SHAPES) < 256:
        _SHAPES[cls] = shape
    return shape


def _clean_key(text: str, context: str | None) -> Any:
    if len(text) > _SHORT:  # no long raw text kept: length, keyed hash and both ends
        key: Any = (len(text), hash(text), text[:32], text[-32:])
    else:
        key = text
    return key if context is None else (context, key)


def rekeyed(value: Mapping[Any, Any], pairs: Iterable[tuple[Any, Any, Any]]) -> dict[Any, Any]:
    """A new dict of ``(key, handled key, handled value)`` triples read from ``value``: a
    renamed key never overwrites another one (``<EMAIL> (2)``)."""
    out: dict[Any, Any] = {}
    for k, hk, h in pairs:
        if hk is not k:
            base, n = hk, 1
            while hk in out or hk in value:
                n += 1
                hk = f"{base} ({n})"
        out[hk] = h
    return out


class Walker:
    """The walk of one pass: every string of messages and values handed to :meth:`text`.

    A mixin of :class:`~guardrails.pii.scan.Scan`, which holds the state named below and
    decides what each string becomes.

    Example::

        scan.value({"to": "jane@example.com", "n": 4111111111111111})  # both handled
    """

    if not TYPE_CHECKING:  # (a checker reads the attributes below as the class's own)
        __slots__ = ()
    else:
        detector: Detector
        literals: Callable[[str], list[Any]] | None
        produced: set[str]
        collect: list[str] | None
        secrets: list[str]
        unscannable: dict[str, int]
        unproven: int

        def text(self, text: str, context: str | None = None) -> str:
            raise NotImplementedError

    def key(self, key: Any) -> Any:
        """A dictionary key handled like a value (the same object when nothing changed)."""
        if issubclass(type(key), str):  # (a subclass too: :meth:`text` reads its text)
            return self.text(key)
        if isinstance(key, int | float) and not isinstance(key, bool):
            as_text = str(key)
            handled = self.text(as_text)
            return handled if handled != as_text else key
        return key

    # ------------------------------------------------------------------ values
    def value(self, value: Any, context: str | None = None) -> Any:
        """Strings, numbers (as text), dicts (keys and values), lists and tuples,
        recursively; a key's name is the context of the values under it. The same object
        when nothing in it changed."""
        kind = type(value)
        if kind is str:
            return self.text(value, context)
        if value is None or kind is bool:
            return value
        if kind is int or kind is float:
            as_text = str(value)
            handled = self.text(as_text, context)
            return handled if handled != as_text else value
        if isinstance(value, str):
            return self.text(value, context)
        if isinstance(value, Mapping):
            return self._mapping(value, context)
        if isinstance(value, list | tuple):
            items = [self.value(v, context) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, BaseMessage):
            return self.message(value)
        if isinstance(value, int | float) and not isinstance(value, bool):  # IntEnum, ...
            as_text = str(value)
            handled = self.text(as_text, context)
            return handled if handled != as_text else value
        if isinstance(value, BaseModel) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            return self.structured(value)  # a tool's artifact, an object in a list, ...
        return value

    def _mapping(
        self, value: Mapping[Any, Any], context: str | None, walk: Callable[..., Any] | None = None
    ) -> Any:
        pairs: list[tuple[Any, Any, Any]] = []
        changed = False
        for k, v in value.items():
            inner = (field_context(k) if type(k) is str else None) or context
            h = walk(v, inner) if walk is not None else self.value(v, inner)
            hk = self.key(k)
            if h is not v or hk is not k:
                changed = True
            pairs.append((k, hk, h))
        return rekeyed(value, pairs) if changed else value

    def block(self, block: Any, context: str | None = None) -> Any:
        """One content block, whatever its type (every key and every value, decided by
        content); the same object when nothing changed."""
        if isinstance(block, str):
            return self.text(block, context)
        if not isinstance(block, Mapping):
            return self.value(block, context)
        return self._mapping(block, context, self._block_value)

    def _block_value(self, val: Any, context: str | None) -> Any:
        if isinstance(val, Mapping):
            return self.block(val, context)
        if isinstance(val, list):
            items = [self.block(v, context) for v in val]
            return val if all(a is b for a, b in zip(items, val, strict=True)) else items
        return self.value(val, context)

    def json_text(self, text: str) -> str:
        """A JSON document handled value by value (stays valid JSON), else :meth:`text`
        (which opens JSON documents itself)."""
        return self.text(text)

    def content(self, content: Any, *, json_text: bool = False) -> Any:
        if type(content) is str:
            return self.text(content)
        if isinstance(content, list):
            handled = [self.block(b) for b in content]
            if all(a is b for a, b in zip(handled, content, strict=True)):
                return content
            return handled
        return self.value(content)

    def message(
        self,
        message: BaseMessage,
        *,
        text: bool = True,
        calls: bool = True,
        json_text: bool = False,
    ) -> BaseMessage:
        """A copy of ``message`` with every string handled (``text``: content, name and
        extra fields; ``calls``: tool-call arguments). Same object when nothing changed."""
        update: dict[str, Any] = {}
        if text:
            content = message.content
            handled = self.content(content, json_text=json_text)
            if handled is not content:
                update["content"] = handled
            name = message.name
            if name:
                handled_name = self.text(name)
                if handled_name is not name:
                    update["name"] = handled_name
            if isinstance(message, ToolMessage) and message.artifact is not None:
                artifact = self.value(message.artifact)
                if artifact is not message.artifact:
                    update["artifact"] = artifact
        extra = message.additional_kwargs
        if extra and (text or calls):
            changed: dict[str, Any] | None = None
            for k, v in extra.items():
                if not (text or k in {"tool_calls", "function_call"}):
                    continue
                h = self.value(v, field_context(k) if type(k) is str else None)
                if h is not v:
                    if changed is None:
                        changed = dict(extra)
                    changed[k] = h
            if changed is not None:
                update["additional_kwargs"] = changed
        if calls and isinstance(message, AIMessage):
            if message.tool_calls:
                # a call's name is the model's text too (a made-up tool named after a value)
                tool_calls = self._calls(message.tool_calls, names=True)
                if tool_calls is not message.tool_calls:
                    update["tool_calls"] = tool_calls
                    update["invalid_tool_calls"] = message.invalid_tool_calls
            if message.invalid_tool_calls:
                invalid = self._calls(message.invalid_tool_calls, names=True)
                if invalid is not message.invalid_tool_calls:
                    update["invalid_tool_calls"] = invalid
            chunks = message.tool_call_chunks if isinstance(message, AIMessageChunk) else None
            if chunks:
                handled_chunks = self._calls(chunks, names=True)
                if handled_chunks is not chunks:
                    update["tool_call_chunks"] = handled_chunks
        return message.model_copy(update=update) if update else message

    def _calls(self, calls: list[Any], *, names: bool = False) -> list[Any]:
        out: list[Any] | None = None
        for i, call in enumerate(calls):
            args = call.get("args")
            handled = self.value(args)
            new = call if handled is args else {**call, "args": handled}
            if names and isinstance(call.get("name"), str):
                name = self.text(call["name"])
                if name is not call["name"]:
                    new = {**new, "name": name}
            if new is not call:
                if out is None:
                    out = list(calls)
                out[i] = new
        return calls if out is None else out

    def structured(self, value: Any) -> Any:
        """``structured_response`` handled field by field (a model, dataclass or dict)."""
        if isinstance(value, BaseModel):
            data = value.model_dump()
            handled = self.value(data)
            if handled is data:
                return value
            try:
                return type(value).model_validate(handled)
            except Exception:  # a handled value no longer fits the field type: keep it handled
                return type(value).model_construct(**handled)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            data = dataclasses.asdict(value)
            handled = self.value(data)
            if handled is data:
                return value
            try:
                return dataclasses.replace(value, **handled)
            except Exception:  # a field its __init__ does not take, a check that refuses
                return handled  # the handled fields, not the raw object
        return self.value(value)


class History(Walker):
    """A list of messages walked as one pass (:meth:`messages`): a message already proven
    clean costs a few look-ups (a plain string content) or its :func:`fingerprint` and one
    look-up; the list is copied only from the first message that changes.

    Example::

        handled = scan.messages(request.messages)  # the same objects where nothing changed
    """

    if not TYPE_CHECKING:
        __slots__ = ()

    def messages(self, messages: Sequence[BaseMessage], **kwargs: Any) -> list[BaseMessage]:
        if kwargs:
            return [
                self.message(m, **kwargs) if isinstance(m, BaseMessage) else m for m in messages
            ]
        # the common shape inlined: a message whose only text is a string content that this
        # call wrote or that is clean (what :meth:`text` would return untouched) costs a few
        # look-ups; any other message already proven clean costs its :func:`fingerprint` and
        # one look-up; anything else takes :meth:`message`. The list is copied only from the
        # first message that changes.
        clean = _clean_of(self.detector)
        memo = _memo_of(self.detector) if self.literals is None else None
        produced = self.produced
        shapes = _SHAPES
        # the leading messages a list proven clean before held, field for field: one C pass
        read = None
        start = 0
        if memo is not None and len(messages) >= _PREFIX_MIN:
            read = _history_key(messages)
            if read is not None:
                prefixes = _prefixes_of(self.detector)
                start = _proven_prefix(prefixes, read[0], read[2])
        unproven: int | None = None  # the first message not proven clean by this pass
        out: list[BaseMessage] | None = None
        for i in range(start, len(messages)):
            m = messages[i]
            cls = type(m)
            shape = shapes.get(cls)
            if shape is None:
                if not isinstance(m, BaseMessage):
                    if out is not None:
                        out.append(m)
                    continue
                shape = _shape(cls)
            fields = m.__dict__
            try:
                content = fields["content"]
                others = shape[0](fields)
                plain = (  # (== first: cheap, and false for most messages that hold more)
                    type(content) is str
                    and others == shape[1]
                    and marshal.dumps(others, 2) == shape[3]
                )
            except (KeyError, ValueError):  # a field deleted, a subclass: the whole walk
                plain = False
            if plain:
                if (
                    content in clean  # (a short text is its own key: no length asked)
                    or not content
                    or (len(content) > _SHORT and _clean_key(content, None) in clean)
                ):
                    if out is not None:
                        out.append(m)
                    continue
                if content in produced:  # written by this call: handled, not proven clean
                    if unproven is None:
                        unproven = i
                    if out is not None:
                        out.append(m)
                    continue
            key = None
            if memo is not None:  # (:func:`_key` inlined: it runs for most tool-call messages)
                try:
                    raw = marshal.dumps(shape[2](fields), 2)
                    if len(raw) > _SHORT:
                        raw = hashlib.blake2b(raw, digest_size=16).digest()
                    key = (cls, raw)
                except (KeyError, ValueError, RecursionError):  # a field deleted, or a value
                    key = None  # marshal cannot write exactly: the whole walk
            if key is not None:
                if key in memo:  # type: ignore[operator]
                    if out is not None:
                        out.append(m)
                    continue
                marks = self._marks()
                handled = self.message(m)
                if handled is m and self.collect is None and self._marks() == marks:
                    if len(memo) >= _MEMO_MAX:  # type: ignore[arg-type]
                        memo.clear()  # type: ignore[union-attr]
                    memo[key] = None  # type: ignore[index]
                elif unproven is None:
                    unproven = i
            else:
                handled = self.message(m)
                if unproven is None:
                    unproven = i
            if out is not None:
                out.append(handled)
            elif handled is not m:
                out = list(messages[:i])
                out.append(handled)
        if read is not None:
            proven = len(messages) if unproven is None else unproven
            if proven > start and self.collect is None:
                _remember_prefix(prefixes, read[0], read[1], read[2], proven)
        return list(messages) if out is None else out

    def _marks(self) -> tuple[int, int, int]:
        """What this pass has found, could not scan, or passed on unproven, so far."""
        return len(self.secrets), sum(self.unscannable.values()), self.unproven

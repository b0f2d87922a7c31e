"""Placeholders for reversible pseudonymization: ``<EMAIL_1>``, ``<PHONE_2>``, ...

:class:`Pseudonymizer` hands out placeholders during one model or tool call: a value already in
the thread's mapping keeps its placeholder; a new value gets the next number of its type.

Numbering is deterministic, so parallel tool calls of one step never mint the same placeholder
for different values without talking to each other: all of them start from the same snapshot
(the thread's state at the start of the step); call ``i`` of ``n`` takes the numbers
``base + 1 + i``, ``base + 1 + i + n``, ... where ``base`` is the highest number of that type
already used (in the mapping or in the conversation). With one call (``n == 1``) the numbers are
simply consecutive.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "PLACEHOLDER",
    "Pseudonymizer",
    "merge_vault",
    "message_texts",
    "read_back",
    "restore_content",
    "restore_text",
    "restore_value",
    "run_thread",
    "type_tag",
]

#: A placeholder: ``<TYPE_N>``, TYPE upper-case letters, digits and underscores.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")


def type_tag(kind: str) -> str:
    """The placeholder tag of a PII type: ``credit_card`` -> ``CREDIT_CARD``."""
    tag = re.sub(r"[^A-Z0-9]+", "_", kind.upper()).strip("_") or "PII"
    return tag if tag[0].isalpha() else f"PII_{tag}"


def _number(placeholder: str) -> tuple[str, int] | None:
    m = PLACEHOLDER.fullmatch(placeholder)
    return (m.group(1), int(m.group(2))) if m else None


def merge_vault(
    left: Mapping[str, Mapping[str, str]] | None, right: Mapping[str, Mapping[str, str]] | None
) -> dict[str, dict[str, str]]:
    """Reducer of the in-state mapping ``{middleware name: {placeholder: value}}``.

    Entries are only ever added; a placeholder already bound keeps its first value.
    """
    merged = {name: dict(entries) for name, entries in (left or {}).items()}
    for name, entries in (right or {}).items():
        target = merged.setdefault(name, {})
        for placeholder, value in entries.items():
            target.setdefault(placeholder, value)
    return merged


class Pseudonymizer:
    """Placeholders for one model or tool call; ``new`` holds what it minted.

    Example::

        p = Pseudonymizer({"<EMAIL_1>": "a@x.com"})
        p.placeholder("email", "a@x.com")  # "<EMAIL_1>"
        p.placeholder("email", "b@x.com")  # "<EMAIL_2>"; p.new == {"<EMAIL_2>": "b@x.com"}
    """

    def __init__(
        self,
        mapping: Mapping[str, str],
        *,
        slot: tuple[int, int] = (0, 1),
        texts: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self.mapping: dict[str, str] = dict(mapping)
        self.new: dict[str, str] = {}
        self.slot = slot
        self.texts = texts
        self._inverse: dict[tuple[str, str], str] = {}
        for placeholder, value in sorted(self.mapping.items(), key=lambda kv: _sort_key(kv[0])):
            parsed = _number(placeholder)
            if parsed is not None:
                self._inverse.setdefault((parsed[0], value), placeholder)
        self._base: dict[str, int] | None = None
        self._minted: dict[str, int] = {}

    def _bases(self) -> dict[str, int]:
        if self._base is None:
            base: dict[str, int] = {}
            for placeholder in self.mapping:
                parsed = _number(placeholder)
                if parsed is not None:
                    tag, number = parsed
                    base[tag] = max(base.get(tag, 0), number)
            # placeholders still visible in the conversation are never reused, even when the
            # mapping that bound them is gone (an expired vault entry)
            for text in self.texts() if self.texts is not None else ():
                for m in PLACEHOLDER.finditer(text):
                    base[m.group(1)] = max(base.get(m.group(1), 0), int(m.group(2)))
            self._base = base
        return self._base

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value`` (of PII type ``kind``), minting one when it is new."""
        tag = type_tag(kind)
        known = self._inverse.get((tag, value))
        if known is not None:
            return known
        index, count = self.slot
        j = self._minted.get(tag, 0)
        self._minted[tag] = j + 1
        placeholder = f"<{tag}_{self._bases().get(tag, 0) + 1 + index + count * j}>"
        self._inverse[(tag, value)] = placeholder
        self.mapping[placeholder] = value
        self.new[placeholder] = value
        return placeholder


def _sort_key(placeholder: str) -> tuple[str, int]:
    parsed = _number(placeholder)
    return parsed if parsed is not None else (placeholder, 0)


def restore_text(
    text: str, mapping: Mapping[str, str], counts: dict[str, int], secrets: list[str]
) -> str:
    """Replace every known placeholder in ``text`` by its value; unknown ones stay as they are."""
    if "<" not in text or not mapping:
        return text

    def sub(m: re.Match[str]) -> str:
        value = mapping.get(m.group(0))
        if value is None:
            return m.group(0)
        kind = m.group(1).lower()
        counts[kind] = counts.get(kind, 0) + 1
        secrets.append(value)
        return value

    return PLACEHOLDER.sub(sub, text)


def restore_value(
    value: Any, mapping: Mapping[str, str], counts: dict[str, int], secrets: list[str]
) -> Any:
    """:func:`restore_text` through strings, dicts and lists (tool-call arguments)."""
    if isinstance(value, str):
        return restore_text(value, mapping, counts, secrets)
    if isinstance(value, Mapping):
        return {k: restore_value(v, mapping, counts, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_value(v, mapping, counts, secrets) for v in value]
    return value


def restore_content(
    content: Any, mapping: Mapping[str, str], counts: dict[str, int], secrets: list[str]
) -> Any:
    """:func:`restore_text` through message content (a string or text blocks)."""
    if isinstance(content, str):
        return restore_text(content, mapping, counts, secrets)
    if isinstance(content, list):
        out: list[Any] = []
        for block in content:
            if isinstance(block, str):
                out.append(restore_text(block, mapping, counts, secrets))
            elif (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                out.append({**block, "text": restore_text(block["text"], mapping, counts, secrets)})
            else:
                out.append(block)
        return out
    return content


def message_texts(messages: Iterable[Any]) -> list[str]:
    """The texts of a conversation where placeholders may already be visible."""
    from langchain_core.messages import AIMessage, BaseMessage

    texts: list[str] = []
    for m in messages:
        if isinstance(m, BaseMessage):
            texts.append(str(m.content))
            if isinstance(m, AIMessage) and m.tool_calls:
                texts.append(str([c.get("args") for c in m.tool_calls]))
    return texts


def run_thread(runtime: Any) -> str:
    """The run's thread, from LangGraph's execution info or the run's configuration only (never
    from ``runtime.context``, which the caller writes); ``GuardrailConfigError`` without one."""
    from langgraph.config import get_config

    from guardrails.errors import GuardrailConfigError

    execution = getattr(runtime, "execution_info", None)
    thread = getattr(execution, "thread_id", None)
    if thread is None:
        try:
            thread = (get_config().get("configurable") or {}).get("thread_id")
        except RuntimeError:
            thread = None
    if thread is None:
        raise GuardrailConfigError(
            "PIIMiddleware(vault=...) keys the mapping by thread: run the agent with "
            "config={'configurable': {'thread_id': ...}}"
        )
    return str(thread)


# ---------------------------------------------------------------------- read-back
#: A real value shorter than this (letters and digits) is not looked for in transformed form.
READ_BACK_MIN = 6
_NOT_WORD = re.compile(r"[\W_]+")
_WORD_CHAR = re.compile(r"[^\W_]")


def _skeleton(text: str) -> str:
    """Letters and digits only, case-folded: spacing, punctuation and case undone, for the
    letters whose cases differ in length too (``ß``, its upper case ``SS`` and ``ẞ`` all read
    ``ss``; ``İ`` folds into two characters)."""
    return _NOT_WORD.sub("", text).casefold()


def _places(text: str, size: int) -> list[int]:
    """For each of the ``size`` characters of ``_skeleton(text)``, the index in ``text`` of the
    character it comes from (a letter that folds into two characters gives two)."""
    places = [m.start() for m in _WORD_CHAR.finditer(text)]
    if len(places) == size:
        return places
    return [i for i in places for _ in text[i].casefold()]


def _forms(value: str) -> set[str]:
    """The value under the cheap undoable transformations a tool may apply (reversed, hex,
    base64 / base64url; spacing, separators and case are undone by the skeleton; percent
    and HTML escapes, and base64 / hex runs, are opened by the scan before this runs)."""
    out: set[str] = set()
    for form in (value, value[::-1]):
        raw = form.encode("utf-8")
        out.update(
            {
                form,
                raw.hex(),
                base64.b64encode(raw).decode(),
                base64.urlsafe_b64encode(raw).decode(),
            }
        )
    return {f for f in (_skeleton(f) for f in out) if len(f) >= READ_BACK_MIN}


@functools.lru_cache(maxsize=256)
def _read_back_pattern(
    values: frozenset[tuple[str, str]],
) -> tuple[re.Pattern[str], dict[str, str]] | None:
    kinds: dict[str, str] = {}
    for placeholder, value in values:
        m = PLACEHOLDER.fullmatch(placeholder)
        kind = m.group(1).lower() if m else "pii"
        for form in _forms(value):
            kinds.setdefault(form, kind)
    if not kinds:
        return None
    alternation = "|".join(re.escape(f) for f in sorted(kinds, key=len, reverse=True))
    return re.compile(alternation), kinds


def read_back(mapping: Mapping[str, str]) -> Callable[[str], list[dict[str, Any]]]:
    """A finder of the thread's real values (``mapping``: placeholder -> value) in ``text``
    under any cheap undoable transformation: as given, reversed, spaced out or split by any
    separators, in any case, as hex or base64 (whole or spaced). For the result of a tool
    that received real values: what it hands back must not carry them to the model.

    Example::

        find = read_back({"<EMAIL_1>": "jane@example.com"})
        find("moc.elpmaxe@enaj")  # one match, type "email"
    """
    compiled = _read_back_pattern(frozenset(mapping.items()))

    def find(text: str) -> list[dict[str, Any]]:
        if compiled is None or len(text) < READ_BACK_MIN:
            return []
        pattern, kinds = compiled
        skeleton = _skeleton(text)
        hits = [(m.start(), m.end(), kinds[m.group(0)]) for m in pattern.finditer(skeleton)]
        if not hits:
            return []
        places = _places(text, len(skeleton))  # skeleton offsets -> the text's offsets
        out = []
        for start, end, kind in hits:
            a, b = places[start], places[end - 1] + 1
            out.append({"type": kind, "value": text[a:b], "start": a, "end": b})
        return out

    return find

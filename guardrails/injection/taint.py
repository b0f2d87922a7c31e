"""Provenance kept in graph state: which texts entered the context from where.

The record lives in the state key :data:`TAINT_KEY` (checkpointed with the thread, so it
survives an interrupt, a restart and a summarization that drops the messages themselves; one
per thread; the middleware instance keeps nothing). Each entry is keyed by a digest of its text:

``{digest: [role, source, text]}``: ``role`` is ``"untrusted"`` (a result of an untrusted
tool, a subagent that read one) or ``"trusted"`` (the system prompt, a trusted tool's result);
``source`` is the tool name (``task:<subagent>`` for a subagent's answer, ``@system``).

The reducer only adds entries, so parallel tool calls and subagents merge without conflict. The
key is a normal (not private) state key on purpose: deepagents copies it into a subagent's input
and back out of its result, which is how taint flows through ``task``.

:class:`Provenance` is the judge's view of one moment: per-source indexes of the untrusted texts,
and one index of what vouches for a value (user messages, trusted entries, tool schemas).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from langchain.agents.middleware import AgentState
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from typing_extensions import NotRequired

from guardrails.injection.atoms import _WORDS, Atom
from guardrails.injection.normalize import EMPTY, GRAM, Index, canonical, grams, index, token_form

__all__ = [
    "TAINT_KEY",
    "Provenance",
    "TaintState",
    "entry",
    "merge_taint",
    "message_text",
    "state_value",
]

TAINT_KEY = "guardrails_provenance"
#: PIIMiddleware's pseudonym vault in state ({middleware: {placeholder: value}}): read only.
PII_VAULT_KEY = "guardrails_pii_vault"

Entry = list[str]


def merge_taint(
    left: Mapping[str, Entry] | None, right: Mapping[str, Entry] | None
) -> dict[str, Entry]:
    """Reducer: entries are only ever added; a digest keeps its first entry."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged.setdefault(key, value)
    return merged


class TaintState(AgentState[Any]):
    """State schema of :class:`~guardrails.injection.PromptInjectionMiddleware`."""

    guardrails_provenance: NotRequired[Annotated[dict[str, Entry], merge_taint]]


def entry(role: str, source: str, text: str) -> dict[str, Entry]:
    """The state update recording ``text`` from ``source``."""
    digest = hashlib.blake2b(f"{role}\0{source}\0{text}".encode(), digest_size=12).hexdigest()
    return {digest: [role, source, text]}


_PICK_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*")
_MAX_STRUCTURED = 512 * 1024


def is_pick(value: str) -> bool:
    """One value, not a sentence: no whitespace (``US13...``, ``a@b.com``, ``13``), or at most
    four words of letters (``Riverside View Hotel``). ``pay US13...`` is not a pick."""
    words = value.split()
    if len(words) <= 1:
        return True
    return len(words) <= _WORDS and all(_PICK_WORD.fullmatch(w) for w in words)


def _structured(text: str) -> Any:
    """The tool result's JSON structure (an object or array), or None for any other text.

    YAML is not read: a page or a file of ``key: value`` lines is valid YAML, and its structure
    is whoever wrote the text, not the tool.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{" or len(stripped) > _MAX_STRUCTURED:
        return None
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, (dict, list)) else None


def split_structure(text: str) -> list[tuple[str, str]]:
    """``[(field, text)]``: a structured result's single values grouped by key, the rest prose.

    Only structure the whole result has counts (it parses as a JSON object or array). A value
    is a field value when it is one value (:func:`is_pick`); a sentence inside a field (an
    e-mail body, a review, a subject with words and an IBAN) is prose, and so is every text
    that is not structured (``""`` field).
    """
    if not text.strip():
        return []
    data = _structured(text)
    if data is None:
        return [("", text)]
    fields: dict[str, list[str]] = {}
    prose: list[str] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        key, value = stack.pop()
        if type(value) is dict:  # json.loads makes only dicts, lists and scalars
            stack.extend((str(k), v) for k, v in value.items())
        elif type(value) is list:
            stack.extend((key or "item", v) for v in value)
        elif value is None or isinstance(value, bool):
            continue
        else:
            item = str(value)
            if key and is_pick(item):
                fields.setdefault(key, []).append(item)
            else:
                prose.append(item)
    out = [(k, "\n".join(v)) for k, v in sorted(fields.items())]
    if prose:
        out.append(("", "\n".join(reversed(prose))))
    return out


def message_text(content: Any) -> str:
    """The text of a message's content (string, or the text parts of a content list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                for key in ("text", "content", "url", "image_url"):
                    value = part.get(key)
                    if isinstance(value, str):
                        parts.append(value)
                    elif isinstance(value, Mapping) and isinstance(value.get("url"), str):
                        parts.append(value["url"])
        return "\n".join(parts)
    return "" if content is None else str(content)


def _restore(text: str, vault: Mapping[str, str]) -> str:
    if "<" not in text or not vault:
        return text
    for placeholder, value in vault.items():
        if placeholder in text:
            text = text.replace(placeholder, f"{placeholder} {value}")
    return text


@lru_cache(maxsize=256)
def _joined(texts: tuple[str, ...]) -> Index:
    return Index.join([index(t) for t in texts]) if texts else EMPTY


@dataclass
class Provenance:
    """Untrusted texts by source, and what vouches for a value, at one moment of a thread."""

    untrusted: dict[str, Index] = field(default_factory=dict)
    trusted: Index = EMPTY
    vault: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        state: Any,
        messages: Iterable[Any] = (),
        *,
        extra_trusted: Iterable[str] = (),
        delegated: frozenset[str] = frozenset(),
    ) -> Provenance:
        """The provenance of a state: its :data:`TAINT_KEY` record plus the user's messages.

        ``delegated`` are texts that reached this agent as its "user" message but were written
        by a calling agent's model (a ``task`` description): they vouch for nothing.
        """
        record: Mapping[str, Entry] = state_value(state, TAINT_KEY) or {}
        vault: dict[str, str] = {}
        for entries in (state_value(state, PII_VAULT_KEY) or {}).values():
            if isinstance(entries, Mapping):
                vault.update({str(k): str(v) for k, v in entries.items()})
        by_source: dict[str, list[str]] = {}
        trusted: list[str] = list(extra_trusted)
        for item in record.values():
            if not isinstance(item, (list, tuple)) or len(item) != 3:
                continue
            role, source, text = item
            text = _restore(str(text), vault)
            if role == "trusted":
                trusted.append(text)
            else:
                by_source.setdefault(str(source), []).append(text)
        # a human or system message an untrusted tool wrote (a Command's update) is recorded as
        # that tool's: it is not the user's word
        written = {t for texts in by_source.values() for t in texts}
        for message in messages:
            if isinstance(message, (HumanMessage, SystemMessage)):
                text = _restore(message_text(message.content), vault)
                if text.strip() and text not in delegated and text not in written:
                    trusted.append(text)
            elif isinstance(message, BaseMessage):
                continue
        return cls(
            {source: _joined(tuple(texts)) for source, texts in by_source.items()},
            _joined(tuple(trusted)),
            vault,
        )

    def with_trusted(self, text: str) -> Provenance:
        """This provenance with ``text`` also vouching (e.g. the system prompt of this call)."""
        if not text.strip():
            return self
        return Provenance(self.untrusted, Index.join([self.trusted, index(text)]), self.vault)

    def sources_of(self, atom: Atom) -> list[str]:
        """The untrusted sources an atom was seen in, or ``[]`` (never seen / vouched for).

        A source is a tool name (its prose) or ``tool#field`` (a single value in a field of the
        tool's structured result).
        """
        if not self.untrusted or _found(self.trusted, atom):
            return []
        return [source for source, idx in self.untrusted.items() if _found(idx, atom)]

    def copied_from(self, text: str) -> list[str]:
        """The untrusted *prose* sources ``text`` copies a passage of :data:`GRAM` tokens from
        (a passage the user, the system prompt or a trusted result also has does not count)."""
        words = token_form(canonical(text)).split()
        if len(words) < GRAM or not self.untrusted:
            return []
        mine = {" ".join(words[i : i + GRAM]) for i in range(len(words) - GRAM + 1)}
        mine -= grams(self.trusted.tokens)
        if not mine:
            return []
        return [
            source
            for source, idx in self.untrusted.items()
            if "#" not in source and not mine.isdisjoint(grams(idx.tokens))
        ]

    def host_sources(self, atom: Atom) -> list[str]:
        """For a URL: the untrusted sources its *host* was seen in (unless vouched for)."""
        if atom.host is None or not self.untrusted:
            return []
        host = Atom("address", atom.arg, atom.host, atom.host)
        if _found(self.trusted, host):
            return []
        return [source for source, idx in self.untrusted.items() if _found(idx, host)]


def _found(idx: Index, atom: Atom) -> bool:
    if atom.number is not None:
        return idx.has_number(atom.number) or (atom.long and idx.has_squashed(atom.squashed))
    if atom.kind == "address" or (atom.kind == "id" and atom.long):
        return idx.has_squashed(atom.squashed)
    return idx.has_tokens(atom.tokens)


def state_value(state: Any, key: str) -> Any:
    """``state[key]`` of a state given as a mapping or an object (``None`` when absent)."""
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)

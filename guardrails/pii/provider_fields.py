"""What a provider returns beside the answer: its metadata, and the tokens it streams itself.

An answer carries more than its text and tool calls. ``response_metadata`` (and a generation's
``generation_info``, which LangChain merges into it) holds provider fields that may repeat the
answer: OpenAI's ``logprobs`` spell it token by token, Gemini's grounding supports quote its
segments. And a provider's own ``_stream`` fires ``on_llm_new_token`` with each raw chunk when
LangChain hands it the run manager (``stream_events(version="v3")``, a model that streams
inside ``_generate``), before the guarded view releases anything.

So, for the answer of a guarded call:

* every string of its metadata (keys too) is handled like the answer's text
  (``apply_to_output``); numbers (counts, durations, timestamps) are not content;
* an entry that spells the answer piece by piece (a key naming ``logprob``: no single piece
  holds a whole value, so no scan of the pieces can judge them) is judged by the answer it
  spells: kept when handling changed nothing in the answer, dropped (``None``) otherwise; a
  streamed answer's pieces are held until its end and released with the last chunk, on the
  same terms;
* the provider's own token callbacks are swallowed, and the guarded view fires
  ``on_llm_new_token`` itself for each handled chunk it releases.

Exporters (:func:`~guardrails.pii.observers.pii_anonymizer`,
:class:`~guardrails.pii.observers.PIISpanProcessor`) have no answer to compare with: they judge
such an entry by the text its tokens spell (:func:`spelled_text`), and drop it when that text
holds a value.

Example::

    meta, spelled = split_spelled({"logprobs": {...}, "model_name": "gpt-4o"})
    # meta == {"logprobs": None, "model_name": "gpt-4o"}; spelled == {"logprobs": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.pii.scan import Scan
from guardrails.pii.walk import rekeyed

__all__ = [
    "AsyncTokenGate",
    "TokenGate",
    "handle_strings",
    "merge_spelled",
    "spelled_text",
    "spells",
    "split_spelled",
]


def spells(key: Any) -> bool:
    """Whether a metadata entry under ``key`` spells the answer piece by piece."""
    return isinstance(key, str) and "logprob" in key.lower()


def handle_strings(value: Any, scan: Scan) -> Any:
    """``value`` with every string (and every string key) handled by ``scan``; numbers and
    other objects as they are. The same object when nothing changed."""
    if isinstance(value, str):
        return scan.text(value)
    if isinstance(value, Mapping):
        pairs = [
            (k, v, scan.text(k) if isinstance(k, str) else k, handle_strings(v, scan))
            for k, v in value.items()
        ]
        if all(hk is k and hv is v for k, v, hk, hv in pairs):
            return value
        return rekeyed(value, ((k, hk, hv) for k, _, hk, hv in pairs))
    if isinstance(value, list | tuple):
        items = [handle_strings(v, scan) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def split_spelled(meta: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """``meta`` with the entries that spell the answer set to ``None`` (the same object when
    it has none), and those entries apart: the caller decides whether they may go out."""
    if not meta or not any(spells(k) and v is not None for k, v in meta.items()):
        return meta, {}
    spelled = {k: v for k, v in meta.items() if spells(k) and v is not None}
    return {k: (None if k in spelled else v) for k, v in meta.items()}, spelled


def spelled_text(value: Any) -> str:
    """The text an entry spelling an answer spells: the ``token`` strings of every list of
    token records in it, in order (OpenAI's ``logprobs.content``, Gemini's
    ``logprobs_result.chosen_candidates``), alternatives (``top_logprobs``) left out; JSON
    text (a span attribute) is read as the JSON it holds."""
    if isinstance(value, str):  # an exporter's attribute holds it as JSON text
        text: str = value
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return text  # not JSON (or nested past the parser): judged as the text it is
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            if item and all(
                isinstance(r, Mapping) and isinstance(r.get("token"), str) for r in item
            ):
                parts.append("".join(r["token"] for r in item))
                parts.append("\n")
            else:
                stack.extend(reversed(item))
    return "".join(parts)


def merge_spelled(pieces: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The pieces of a streamed answer's spelling entries, merged as LangChain merges the
    chunks' metadata (lists joined, dicts merged key by key)."""
    from langchain_core.messages import AIMessageChunk

    if not pieces:
        return {}
    total = AIMessageChunk(content="", response_metadata=dict(pieces[0]))
    for piece in pieces[1:]:
        total = total + AIMessageChunk(content="", response_metadata=dict(piece))
    return dict(total.response_metadata)


class TokenGate:
    """A run manager for the provider's own ``_stream``: everything passes but its raw
    token callbacks (the guarded view fires them with the handled chunks)."""

    def __init__(self, run_manager: Any) -> None:
        self._run_manager = run_manager

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run_manager, name)

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        return None


class AsyncTokenGate(TokenGate):
    """:class:`TokenGate` for ``_astream`` (its token callback is awaited)."""

    async def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None

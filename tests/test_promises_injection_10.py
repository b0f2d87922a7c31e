"""Promises of the injection guard's reading of message content (issue 29, round 7).

Every content shape LangChain lets a message carry is read without error: strings, text parts,
and parts whose ``url`` / ``image_url`` is a mapping. A mapping without a string ``url`` (an
image part holding only ``detail``, a ``None`` or numeric url) adds no text; it never crashes
the guard and never turns a non-string into text.
"""

from __future__ import annotations

from typing import Any

import pytest

from guardrails.injection.taint import message_text

ODD_URLS: list[Any] = [{}, {"detail": "low"}, {"url": None}, {"url": 7}, {"url": ["a"]}]


@pytest.mark.parametrize("key", ["text", "content", "url", "image_url"])
@pytest.mark.parametrize("odd", ODD_URLS, ids=repr)
def test_a_part_whose_mapping_holds_no_string_url_adds_no_text(key: str, odd: Any) -> None:
    content = [
        "before",
        {"type": "image_url", key: odd},
        {"type": "text", "text": "after https://planted.example/login"},
    ]
    assert message_text(content) == "before\nafter https://planted.example/login"


@pytest.mark.parametrize("key", ["text", "content", "url", "image_url"])
def test_a_part_whose_mapping_holds_a_string_url_is_read(key: str) -> None:
    content = [{"type": "image_url", key: {"url": "https://planted.example/x.png"}}]
    assert message_text(content) == "https://planted.example/x.png"

"""PII promises of encoded payloads (issue 29, area ``pii_flow``; docs/pii.md, "Layers of
encoding"): whether bytes are text is decided by their content, and a UTF-16 / UTF-32 reading
without a byte-order mark counts as text only when it reads as text (three in ten ASCII
characters, or 32 printable ones). Bytes that read as text nowhere are binary: counted as
unscannable, and refused under ``refuse_unscannable=True``, never waved through as "text".
Through a real ``create_agent``, sync and async.
"""

from __future__ import annotations

import base64

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.testing import ScriptedChatModel
from tests.support import invoke

JANE = "jane.doe@example.com"
#: 6 ASCII characters in 23 (26 %) and fewer than 32: as UTF-16 it does not read as text, and
#: its zero bytes rule out Windows-1252
WIDE_FEW_ASCII = ("AbCdEf" + "\u4e2d\u6587\u5b57\u4f53\u6d4b\u8bd5" * 3)[:23]


def _payloads(raw: bytes) -> dict[str, str]:
    blob = base64.b64encode(raw).decode()
    return {
        "data_url": f"data:application/octet-stream;base64,{blob}",
        "blob": blob,
    }


@pytest.mark.parametrize("where", ["data_url", "blob"])
def test_a_wide_reading_with_too_few_ascii_characters_is_binary(where: str, mode: str) -> None:
    raw = WIDE_FEW_ASCII.encode("utf-16-le")
    text = _payloads(raw)[where]
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model, middleware=[PIIMiddleware("email", strategy="block", refuse_unscannable=True)]
    )
    with pytest.raises(PIIDetectionError, match="unscannable"):
        invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    assert model.calls == 0


@pytest.mark.parametrize("where", ["data_url", "blob"])
def test_a_wide_reading_of_a_text_is_opened_and_handled(where: str, mode: str) -> None:
    """The same layer carrying an address among enough ASCII: opened, handled, put back."""
    inner = f"mail {JANE} \u4e2d\u6587\u5b57\u4f53"
    raw = inner.encode("utf-16-le")
    text = _payloads(raw)[where]
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    invoke(agent, {"messages": [HumanMessage(text)]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    token = sent.rsplit(",", 1)[-1]
    decoded = base64.b64decode(token).decode("utf-16-le")
    assert decoded == "mail [REDACTED_EMAIL] \u4e2d\u6587\u5b57\u4f53"


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"), (b"\xef\xbb\xbf", "utf-8")],
)
def test_a_text_behind_a_byte_order_mark_is_opened_and_put_back_with_it(
    bom: bytes, codec: str, mode: str
) -> None:
    inner = f"\u4e2d\u6587 mail {JANE}"
    blob = base64.b64encode(bom + inner.encode(codec)).decode()
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email", refuse_unscannable=True)])
    invoke(agent, {"messages": [HumanMessage(blob)]}, mode)
    raw = base64.b64decode(str(model.requests[0]["messages"][-1].content))
    assert raw.startswith(bom)
    assert raw[len(bom) :].decode(codec) == "\u4e2d\u6587 mail [REDACTED_EMAIL]"


def test_an_unpadded_base64url_token_is_put_back_unpadded_in_its_own_alphabet(mode: str) -> None:
    """A token as a URL or a JWT carries it (``-`` and ``_``, no ``=``) goes back the same way."""
    inner = f"mail {JANE} >?>"
    token = base64.urlsafe_b64encode(inner.encode()).decode().rstrip("=")
    assert "-" in token and len(token) % 4
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(f"token={token}")]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    assert sent.startswith("token=")
    out = sent.removeprefix("token=")
    handled = "mail [REDACTED_EMAIL] >?>"
    assert out == base64.urlsafe_b64encode(handled.encode()).decode().rstrip("=")
    assert "=" not in out and "/" not in out and "+" not in out


@pytest.mark.parametrize("pad", [1, 2])
def test_an_unpadded_data_url_is_opened_and_handled(pad: int, mode: str) -> None:
    """A ``data:`` URL whose base64 payload lost its ``=`` padding is still text: opened,
    handled, never waved through as undecodable."""
    inner = f"mail {JANE}" + "!" * (2 - pad)
    body = base64.b64encode(inner.encode()).decode()
    assert body.count("=") == pad
    url = "data:text/plain;base64," + body.rstrip("=")
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(url)]}, mode)
    sent = str(model.requests[0]["messages"][-1].content)
    assert sent.startswith("data:text/plain;base64,")
    payload = sent.split(",", 1)[1]
    decoded = base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert decoded == "mail [REDACTED_EMAIL]" + "!" * (2 - pad)

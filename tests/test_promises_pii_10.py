"""PII promises, round 6 of issue 29 (mutation survivors of the ``pii_flow`` and ``pii`` areas).

* **Text or binary, at every threshold** (docs/pii.md, "Layers of encoding"): the bytes under a
  layer are text when some Unicode or Windows-1252 reading of them reads as text, else binary,
  and binary is unscannable (refused under ``refuse_unscannable=True``). Each rule of "reads as
  text" has a threshold, and each is tested on both sides, at the exact edge: at most one control
  character in 100 (none in a text shorter than 100); a UTF-16/32 reading without a byte-order
  mark needs three in ten ASCII characters or 32 printable ones; a Windows-1252 reading needs
  seven in ten ASCII characters; a whole string of base64 is counted as a binary payload from 64
  characters on (a shorter one is an id, a key, a digest: sent as it is, never refused); a
  base64 run of 16 characters and a hex string of 16 digits are opened.
* **Case in read-back** (pseudonymize with ``restore_tools``): a restored tool's result that
  holds a letter lowering into two characters (U+0130) still has its case undone, whatever else
  the tool did to the value (spaced out, dashed, reversed).

Through a real ``create_agent`` graph with a scripted model, sync and async.
"""

from __future__ import annotations

import base64
import json
import random
import re
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage

from guardrails import PIIDetectionError, PIIMiddleware
from guardrails.testing import ScriptedChatModel, tool_call
from tests.conftest import AuditCapture
from tests.support import invoke, tool
from tests.test_pii_wire import dumps

EMAIL = "jane.doe@example.com"


def _sent(agent_input: str, mode: str, *types: str, **settings: Any) -> str:
    """What the model receives for ``agent_input`` (refuse_unscannable=True)."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(
        model,
        middleware=[PIIMiddleware(*(types or ("email",)), refuse_unscannable=True, **settings)],
    )
    invoke(agent, {"messages": [HumanMessage(agent_input)]}, mode)
    return str(model.requests[0]["messages"][-1].content)


def _data_url(raw: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


def _payload(sent: str) -> bytes:
    return base64.b64decode(sent.partition(",")[2])


def _assert_binary(raw: bytes, mode: str) -> None:
    with pytest.raises(PIIDetectionError) as caught:
        _sent(_data_url(raw), mode)
    assert caught.value.counts == {"unscannable": 1}


# ------------------------------------------------- control characters: one in 100, none below 100


def _with_controls(size: int, controls: int) -> str:
    """An ASCII text of ``size`` characters holding the email and ``controls`` U+0001."""
    head = f"mail {EMAIL} now "
    body = (head + "please read this note and reply " * 40)[: size - controls]
    return body[:40] + "\x01" * controls + body[40:]


@pytest.mark.parametrize(("size", "controls"), [(100, 1), (200, 2), (1000, 10)])
def test_one_control_character_in_100_is_still_text(size: int, controls: int, mode: str) -> None:
    text = _with_controls(size, controls)
    assert len(text) == size
    sent = _sent(_data_url(text.encode()), mode)
    opened = _payload(sent).decode()
    assert EMAIL not in opened and "[REDACTED_EMAIL]" in opened


@pytest.mark.parametrize(
    ("size", "controls"),
    [(99, 1), (20, 1), (101, 2), (199, 2), (999, 10)],  # odd sizes: no UTF-16/32 reading
)
def test_more_control_characters_than_one_in_100_is_binary(
    size: int, controls: int, mode: str
) -> None:
    text = _with_controls(size, controls)
    assert len(text) == size
    _assert_binary(text.encode(), mode)


#: every reading the bytes may get: with a byte-order mark, without one, and Windows-1252
_CODECS = ["utf-8-sig", "utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]


@pytest.mark.parametrize("codec", _CODECS)
def test_the_control_character_rule_holds_in_every_unicode_reading(codec: str, mode: str) -> None:
    """One control character in 100 is text whatever the encoding (opened, handled, put back
    in the same encoding); two in 199 is binary in every one of them, refused."""
    text = _with_controls(200, 2)
    sent = _sent(_data_url(text.encode(codec)), mode)
    opened = _payload(sent).decode(codec)
    assert EMAIL not in opened and "[REDACTED_EMAIL]" in opened
    _assert_binary(_with_controls(199, 2).encode(codec), mode)


def test_the_control_character_rule_holds_in_a_windows_1252_reading(mode: str) -> None:
    text = _with_controls(200, 2)[:-1] + "\u00e9"  # an accent: no UTF-8 reading
    sent = _sent(_data_url(text.encode("cp1252")), mode)
    opened = _payload(sent).decode("cp1252")
    assert EMAIL not in opened and "[REDACTED_EMAIL]" in opened
    _assert_binary((_with_controls(199, 2)[:-1] + "\u00e9").encode("cp1252"), mode)


@pytest.mark.parametrize("body", ["@@@@not-base64@@@@", "YWJj*ZGVm", "%%%%"])
def test_a_data_url_that_does_not_decode_is_unscannable(body: str, mode: str) -> None:
    """A ``data:`` URL declared base64 whose payload is no base64: nothing can be read in it,
    so it counts as unscannable (refused under ``refuse_unscannable=True``), never as text."""
    with pytest.raises(PIIDetectionError) as caught:
        _sent(f"data:text/plain;base64,{body}", mode)
    assert caught.value.counts == {"unscannable": 1}


# ---------------------------------------------- UTF-16 without a byte-order mark: 3 in 10 ASCII

#: Hangul syllables whose two UTF-16 bytes are both >= 0x80: no UTF-8 reading, no zero byte
_HANGUL = [chr(c) for c in range(0xB880, 0xBC00) if (c & 0xFF) >= 0x80][:64]


def _wide(size: int, ascii_count: int) -> bytes:
    """UTF-16-LE without a byte-order mark: ``ascii_count`` ASCII letters among Hangul."""
    text = "".join(_HANGUL[i % len(_HANGUL)] for i in range(size - ascii_count)) + "a" * ascii_count
    return text.encode("utf-16-le")


@pytest.mark.parametrize(("size", "ascii_count"), [(20, 6), (31, 10), (10, 3), (32, 0), (40, 0)])
def test_a_utf16_reading_with_three_in_ten_ascii_or_32_printable_characters_is_text(
    size: int, ascii_count: int, mode: str
) -> None:
    raw = _wide(size, ascii_count)
    sent = _sent(_data_url(raw), mode)  # not refused
    assert _payload(sent) == raw


@pytest.mark.parametrize(("size", "ascii_count"), [(20, 5), (31, 9), (10, 2), (31, 0), (20, 0)])
def test_a_short_utf16_reading_under_three_in_ten_ascii_is_binary(
    size: int, ascii_count: int, mode: str
) -> None:
    _assert_binary(_wide(size, ascii_count), mode)


# ------------------------------------------------------ Windows-1252: 7 in 10 characters ASCII


def _cp1252(size: int, ascii_count: int) -> bytes:
    """``ascii_count`` ASCII characters (the email among them), then accents: bytes that are
    no UTF-8, hold no zero byte, and have no UTF-16/32 reading (a private-use pair)."""
    head = f"to {EMAIL} from Ren"
    text = (head + " and so on" * 20)[:ascii_count] + "\u00e9" * (size - ascii_count)
    raw = text.encode("cp1252")
    assert len(raw) == size and 0 not in raw
    return raw


@pytest.mark.parametrize(("size", "ascii_count"), [(100, 70), (101, 71), (50, 35), (200, 140)])
def test_a_windows_1252_reading_with_seven_in_ten_ascii_is_text(
    size: int, ascii_count: int, mode: str
) -> None:
    sent = _sent(_data_url(_cp1252(size, ascii_count)), mode)
    opened = _payload(sent).decode("cp1252")
    assert EMAIL not in opened and "[REDACTED_EMAIL]" in opened


@pytest.mark.parametrize(("size", "ascii_count"), [(100, 69), (101, 70), (50, 34), (200, 139)])
def test_a_windows_1252_reading_under_seven_in_ten_ascii_is_binary(
    size: int, ascii_count: int, mode: str
) -> None:
    _assert_binary(_cp1252(size, ascii_count), mode)


# ------------------------------------------------- a whole base64 string: binary from 64 on

#: bytes that read as no text in any encoding (zero bytes and controls everywhere)
_BINARY = random.Random(29).randbytes(160)


def _token(size: int) -> str:
    """A base64 string of ``size`` characters (no padding) of binary bytes, digits and both
    cases in it (as real payloads have)."""
    for offset in range(64):
        token = base64.b64encode(_BINARY[offset : offset + 72]).decode()[:size]
        if (
            any(c.isdigit() for c in token)
            and any(c.isupper() for c in token)
            and any(c.islower() for c in token)
        ):
            return token
    raise AssertionError("no mixed token")


@pytest.mark.parametrize("size", [64, 66, 96])
def test_a_whole_base64_string_of_64_or_more_characters_of_binary_is_unscannable(
    size: int, mode: str
) -> None:
    with pytest.raises(PIIDetectionError) as caught:
        _sent(_token(size), mode)
    assert caught.value.counts == {"unscannable": 1}


@pytest.mark.parametrize("size", [63, 60, 40])
def test_a_shorter_base64_string_of_binary_is_an_id_sent_as_it_is(size: int, mode: str) -> None:
    token = _token(size)
    assert _sent(token, mode) == token


#: 64+ base64 characters that decode to binary but lack digits or one of the cases: names and
#: ids (a class name, a lower- or upper-case id), not payloads
_NOT_PAYLOADS = [
    "ThisIsAVeryLongCamelCaseIdentifierOfAJavaClassNameThatGoesOnAndOnForever",
    "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2g3h4",
    "A1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6Q7R8S9T0U1V2W3X4Y5Z6A7B8C9D0E1F2G3H4",
    # a SHA-256 digest in hex, mixed case: hex digits are base64 characters too
    "9F86d081884C7d659A2fEAa0C55aD015A3bF4f1B2b0B822Cd15D6c15B0f00A08",
]


@pytest.mark.parametrize(
    "token", _NOT_PAYLOADS, ids=["no digit", "no upper", "no lower", "hex digest"]
)
def test_a_long_base64_word_without_digits_and_both_cases_is_not_a_binary_payload(
    token: str, mode: str
) -> None:
    """docs/pii.md: a whole string of 64+ base64 characters *with digits and both cases* that
    decodes to binary is unscannable; without one of the three it is a name or an id, and hex
    digits (a digest, in any case) are a hex dump, not a payload."""
    assert _sent(token, mode) == token


#: paths mix the two base64 alphabets ("/" of the standard one, "-" and "_" of base64url): a
#: string in neither alphabet is no base64, however long
_PATHS = [
    "/srv/Data-2024/Users/AnaMaria_Q4/Reports/Summary-Final_v2/Part-3/Draft7",
    "/srv/Data-2024/Users/AnaMaria_Q4/Reports/Summary-Final_v2/Part-3/Draft7x",
    "api/v2/Tenants/Acme-Corp_EU/Projects/Q4-Budget_2024/Files/Item-77/Rev3xy",
]


@pytest.mark.parametrize("path", _PATHS)
def test_a_long_path_mixing_both_base64_alphabets_is_not_a_binary_payload(
    path: str, mode: str
) -> None:
    assert _sent(path, mode) == path


# ---------------------------------------------- a base64 run of 16, a hex string of 16 digits

BADGE = r"QX\d{6}"  # a custom type short enough to fit in 8 and 12 bytes


def test_a_base64_run_of_16_characters_is_opened(mode: str) -> None:
    run = base64.b64encode(b"id: QX123456").decode()
    assert len(run) == 16
    sent = _sent(f"see {run} here", mode, "badge", detector=BADGE)
    opened = base64.b64decode(sent.split()[1] + "==").decode()
    assert "QX123456" not in opened and "[REDACTED_BADGE]" in opened


def test_a_whole_text_that_is_a_base64_run_of_16_characters_is_opened(mode: str) -> None:
    run = base64.b64encode(b"id: QX123456").decode()
    sent = _sent(run, mode, "badge", detector=BADGE)
    assert base64.b64decode(sent + "=" * (-len(sent) % 4)).decode() == "id: [REDACTED_BADGE]"


def test_a_hex_string_of_16_digits_is_opened(mode: str) -> None:
    token = b"QX123456".hex()
    assert len(token) == 16
    sent = _sent(token, mode, "badge", detector=BADGE)
    assert bytes.fromhex(sent).decode() == "[REDACTED_BADGE]"


@pytest.mark.timeout(20)
def test_base64_runs_finds_the_runs_of_a_text_given_alone() -> None:
    """``payloads.base64_runs(text)`` (public, ``spans`` optional): the runs of a text whose
    bytes are text, found in one call, on a text longer than one search window too."""
    from guardrails.pii import payloads

    run = base64.b64encode(f"mail {EMAIL} now".encode()).decode()
    for text in (f"see {run} here", "x " * payloads.WINDOW + run):
        found = payloads.base64_runs(text)
        assert [(text[a:b], layer.text) for a, b, layer in found] == [(run, f"mail {EMAIL} now")]


def test_open_blob_reads_hex_from_16_digits_on() -> None:
    """``payloads.open_blob`` (public): a token of hex digits is read as hex from ``BLOB_MIN``
    (16) digits on; a shorter one is no hex layer (``6a616e65`` is a word of an id, not
    "jane"), and an odd count of digits is no hex either."""
    from guardrails.pii import payloads

    assert payloads.BLOB_MIN == 16
    layer = payloads.open_blob(b"jane@exa".hex())
    assert layer is not None and (layer.kind, layer.text) == ("hex", "jane@exa")
    for token in (b"jane@ex".hex(), b"JANE-12".hex(), b"jane".hex(), b"jane@exa".hex() + "f"):
        found = payloads.open_blob(token)
        assert found is None or found.kind != "hex", token


@pytest.mark.parametrize(
    "inner", [f"[draft] mail {EMAIL} now", f"{{draft}} mail {EMAIL}", f"[1] {EMAIL} (see 2)"]
)
def test_bracketed_text_at_the_depth_limit_is_text_not_a_layer(inner: str, mode: str) -> None:
    """At the depth limit (4 layers) only what would be opened as a layer is unscannable: a
    text that starts with a bracket but is no JSON document (it does not end with one) is
    scanned and handled, not refused. Control: a JSON document there is refused."""
    payload = inner
    for _ in range(4):
        payload = base64.b64encode(payload.encode()).decode()
    sent = _sent(payload, mode)
    opened = sent
    for _ in range(4):
        opened = base64.b64decode(opened).decode()
    assert EMAIL not in opened and "[REDACTED_EMAIL]" in opened
    document = json.dumps({"note": inner})
    for _ in range(4):
        document = base64.b64encode(document.encode()).decode()
    with pytest.raises(PIIDetectionError) as caught:
        _sent(document, mode)
    assert caught.value.counts == {"unscannable": 1}


# ------------------------------------------ read-back: case beside a letter that lowers into two

_DOTTED_I = "\u0130"  # "İ".lower() is two characters: "i" and a combining dot


def _transforms() -> dict[str, Any]:
    return {
        "upper case, spaced out": lambda v: " ".join(v.upper()),
        "upper case, dashed": lambda v: "-".join(v.upper()),
        "reversed upper case, spaced out": lambda v: " ".join(v[::-1].upper()),
        "swapped case, spaced out": lambda v: " ".join(v.swapcase()),
    }


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("name", list(_transforms()))
def test_read_back_undoes_case_beside_a_letter_that_lowers_into_two(
    name: str, where: str, mode: str
) -> None:
    transform = _transforms()[name]

    def place(core: str) -> str:
        if where == "before":
            return f"{_DOTTED_I}stanbul: {core}"
        return f"{core} ({_DOTTED_I}zmir)"

    @tool
    def transform_tool(text: str) -> str:
        """Transform a text."""
        return place(transform(text))

    def first(messages: list[Any]) -> AIMessage:  # the model writes the placeholder it was shown
        sent = messages[-1].content
        placeholder = sent[sent.index("<") : sent.index(">") + 1]
        return AIMessage("", tool_calls=[tool_call("transform_tool", {"text": placeholder})])

    model = ScriptedChatModel(responses=[first, AIMessage("done")])
    agent = create_agent(
        model,
        tools=[transform_tool],
        middleware=[
            PIIMiddleware("email", strategy="pseudonymize", restore_tools=["transform_tool"])
        ],
    )
    invoke(agent, {"messages": [HumanMessage(f"transform {EMAIL}")]}, mode)
    second = dumps(model.requests[1]["messages"])
    leaked = transform(EMAIL)
    assert leaked not in second, f"{name}: the value came back to the model"


SURNAME = "Gro\u00dfmann"  # "ß": upper case "SS" (two letters), capital form "ẞ"
_SHARP = {
    "upper case, spaced out": lambda v: " ".join(v.upper()),
    "upper case, dashed": lambda v: "-".join(v.upper()),
    "reversed upper case, spaced out": lambda v: " ".join(v[::-1].upper()),
    "capital sharp s, spaced out": lambda v: " ".join(v.replace("\u00df", "\u1e9e").upper()),
    "swapped case": lambda v: " ".join(v.swapcase()),
}


@pytest.mark.parametrize("name", list(_SHARP))
def test_read_back_undoes_case_of_a_letter_whose_cases_differ_in_length(
    name: str, mode: str
) -> None:
    """``Großmann`` upper-cased is ``GROSSMANN``: the read-back of a restored tool's result
    matches it all the same, and replaces only the value (the text around it, a ``ß`` of its
    own before it included, is kept)."""
    transform = _SHARP[name]

    @tool
    def transform_tool(text: str) -> str:
        """Transform a text."""
        return f"Stra\u00dfe \u00fc {transform(text)} (done)"

    def first(messages: list[Any]) -> AIMessage:
        sent = messages[-1].content
        placeholder = sent[sent.index("<") : sent.index(">") + 1]
        return AIMessage("", tool_calls=[tool_call("transform_tool", {"text": placeholder})])

    model = ScriptedChatModel(responses=[first, AIMessage("done")])
    agent = create_agent(
        model,
        tools=[transform_tool],
        middleware=[
            PIIMiddleware(
                "surname",
                detector=r"Gro(?:\u00df|ss)mann",
                strategy="pseudonymize",
                restore_tools=["transform_tool"],
            )
        ],
    )
    invoke(agent, {"messages": [HumanMessage(f"transform {SURNAME}")]}, mode)
    result = model.requests[1]["messages"][-1].content
    assert transform(SURNAME) not in result, f"{name}: the value came back to the model"
    assert result.startswith("Stra\u00dfe \u00fc <SURNAME_") and result.endswith("> (done)"), result


# ------------------------------- pseudonyms minted on the tool side: never one already in sight


class _Recipient(AgentMiddleware):  # type: ignore[type-arg]
    """A middleware listed before the PII guardrail that sets a tool call's recipient (a real
    address the model never wrote): the tool side is the first to see the value."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to

    def _changed(self, request: Any) -> Any:
        return request.override(tool_call={**request.tool_call, "args": {"to": self.to}})

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        return handler(self._changed(request))

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await handler(self._changed(request))


@pytest.mark.parametrize("shown", ["<EMAIL_1>", "<EMAIL_1> and <EMAIL_4>"])
def test_a_pseudonym_minted_for_a_tool_call_is_never_one_the_conversation_shows(
    shown: str, mode: str
) -> None:
    """A placeholder names one value. The conversation already shows ``<EMAIL_1>`` (typed by
    the user here; an expired vault entry looks the same), with no mapping behind it: the
    address a tool call carries gets a placeholder of its own, never that one again."""
    received: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send the template."""
        received.append(to)
        return "sent"

    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[tool_call("send_email", {"to": "the team"})]),
            AIMessage("done"),
        ]
    )
    agent = create_agent(
        model,
        tools=[send_email],
        middleware=[
            _Recipient("carol.smith@example.com"),
            PIIMiddleware("email", strategy="pseudonymize"),
        ],
    )
    invoke(agent, {"messages": [HumanMessage(f"Fill the {shown} marker of the template.")]}, mode)
    assert len(received) == 1 and "carol" not in received[0]
    assert re.fullmatch(r"<EMAIL_\d+>", received[0]) and received[0] not in shown


# ------------------------------------------------------------- the audit trail of a restore


@pytest.mark.parametrize("types", [("email",), ("email", "phone")])
def test_a_restore_into_a_tool_is_audited_by_pii_type(
    types: tuple[str, ...], mode: str, audit: AuditCapture
) -> None:
    """docs/audit.md: a real value restored into a tool named in ``restore_tools`` is audited
    (``pii.restored``, ``where="tool_args"``) with its count per PII type, as every other
    event counts entities: the type's name, never a placeholder's number."""
    received: list[str] = []

    @tool
    def send_email(to: str, note: str) -> str:
        """Send a note."""
        received.append(to + " " + note)
        return "sent"

    def first(messages: list[Any]) -> AIMessage:
        found = re.findall(r"<[A-Z]+_\d+>", str(messages[-1].content))
        args = {"to": found[0], "note": " ".join(found[1:]) or "hello"}
        return AIMessage("", tool_calls=[tool_call("send_email", args)])

    model = ScriptedChatModel(responses=[first, AIMessage("done")])
    agent = create_agent(
        model,
        tools=[send_email],
        middleware=[
            PIIMiddleware(list(types), strategy="pseudonymize", restore_tools=["send_email"])
        ],
    )
    phone = " and call +1 650 253 0000" if "phone" in types else ""
    invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL}{phone}")]}, mode)
    assert EMAIL in received[0]
    (event,) = audit.of("pii.restored")
    expected = {"email": 1, "phone": 1} if "phone" in types else {"email": 1}
    assert event["entities"] == expected and event["tool"] == "send_email"


# ------------------------------------------------ the request as handled: every message once


@pytest.mark.parametrize("system", [None, "You are a mailer."])
def test_a_handled_request_keeps_its_messages_and_system_prompt_as_they_were(
    system: str | None, mode: str
) -> None:
    """Handling changes the texts of a request, never its shape: each message once, in its
    place, and a system prompt only when the agent has one."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, system_prompt=system, middleware=[PIIMiddleware("email")])
    invoke(agent, {"messages": [HumanMessage(f"mail {EMAIL} now")]}, mode)
    sent = model.requests[0]["messages"]
    kinds = [type(m).__name__ for m in sent]
    assert kinds == (["SystemMessage"] if system else []) + ["HumanMessage"], kinds
    assert sent[-1].content == "mail [REDACTED_EMAIL] now"
    if system:
        assert sent[0].content == system


@pytest.mark.parametrize("keys", [("note", "extra"), ("a", "b", "c")])
def test_every_field_of_additional_kwargs_that_holds_a_value_is_handled(
    keys: tuple[str, ...], mode: str
) -> None:
    """A message's ``additional_kwargs`` are handled field by field: every field holding a
    value, not only the last one changed."""
    model = ScriptedChatModel(default="ok")
    agent = create_agent(model, middleware=[PIIMiddleware("email")])
    extra = {k: f"{k}: {k}.{EMAIL}" for k in keys}
    invoke(agent, {"messages": [HumanMessage("hi", additional_kwargs=extra)]}, mode)
    sent = model.requests[0]["messages"][-1].additional_kwargs
    assert sent == {k: f"{k}: [REDACTED_EMAIL]" for k in keys}, sent

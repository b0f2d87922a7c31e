"""Addresses: email (the public suffix list and intranet top-level domains), IPv4 and IPv6, MAC,
URLs and Bitcoin addresses (Base58Check and bech32 checksums)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from guardrails.errors import GuardrailConfigError
from guardrails.pii.context import Span, _plain, _regex_finder, _Scan
from guardrails.pii.finders.spaceless import SPACELESS, not_after_first, not_before
from guardrails.pii.normalize import ascii_digits

#: Top-level domains accepted in emails besides the public suffix list (intranet names).
DEFAULT_EMAIL_TLDS: frozenset[str] = frozenset(
    {
        "internal",
        "corp",
        "local",
        "localdomain",
        "lan",
        "home",
        "intranet",
        "private",
        "priv",
        "test",
        "example",
        "invalid",
        "localhost",
        "svc",
        "cluster",
        "ad",
        "office",
        "int",
        "dev",
        "prod",
        "staging",
        "qa",
        "infra",
    }
)

_LOCAL = r"[\w.+'\-]"
# An address written right against a script without spaces (メールはtaro@example.jpです) matches
# with the neighbouring letters; the finder cuts them off (_spaceless_cut). An address written
# in those scripts (用户@例子.中国) is kept whole.
_EMAIL_BODY = (
    rf"({_LOCAL}+)([ \t]?\n[ \t]?| )?@([ \t]?\n[ \t]?| )?"
    r"((?:[\w\-]+\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9\-]{1,59}))" + not_before(r"\w\-")
)
_EMAIL = re.compile(rf"(?<!{_LOCAL}){_EMAIL_BODY}", re.IGNORECASE)
#: an address starting right where letters cut off the one before end (``a@x.com一b@y.org``)
_EMAIL_HERE = re.compile(_EMAIL_BODY, re.IGNORECASE)
_SPACELESS_CHAR = re.compile(f"[{SPACELESS}]")


def _spaceless_cut(local: str, domain: str) -> tuple[int, int]:
    """How many characters to drop from the start of ``local`` and from the end of ``domain``:
    letters of a script without spaces glued to an address in another script."""
    head = 0
    if _SPACELESS_CHAR.search(local):
        last = max(m.end() for m in _SPACELESS_CHAR.finditer(local))
        if last < len(local):  # written-in-CJK parts before an ASCII local part
            head = last
    tail = 0
    label = domain.rsplit(".", 1)[-1]
    first = _SPACELESS_CHAR.search(label)
    if first is not None and first.start() >= 2 and label[: first.start()].isascii():
        tail = len(label) - first.start()  # "jpです": the top-level domain is "jp"
    return head, tail


@functools.lru_cache(maxsize=1)
def _tld() -> Any:
    import tldextract

    # the bundled public suffix snapshot only: never fetch the list over the network
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    extract("example.com")  # load the snapshot now, not on the first message
    return extract


@functools.lru_cache(maxsize=8192)
def _public_suffix(domain: str) -> bool:
    return bool(_tld()(domain).suffix)


@functools.lru_cache(maxsize=1)
def suffix_labels() -> frozenset[str]:
    """The top-level labels that are a rule of the bundled public suffix list by themselves
    (``com``, ``uk``, ``dev``, ...): a domain ending in one has a public suffix, so the full
    look-up (about 40 us) is needed only for the others (tests/test_pii_fast_patterns.py checks
    each label against the look-up)."""
    return frozenset(r for r in _tld().tlds if "." not in r and not r.startswith(("*", "!")))


def _email_finder(tlds: frozenset[str] | None) -> Callable[[_Scan], list[Span]]:
    def find(scan: _Scan) -> list[Span]:
        out: list[Span] = []
        text = scan.text
        pos = 0
        cut = False
        while True:
            m = (cut and _EMAIL_HERE.match(text, pos)) or _EMAIL.search(text, pos)
            cut = False
            if m is None:
                break
            start = m.start(1)
            local = m.group(1)
            domain = m.group(4)
            end = pos = m.end()
            if not local.isascii() or not domain.isascii():
                head, tail = _spaceless_cut(local, domain)
                local, start = local[head:], start + head
                if tail:
                    # the letters cut off may begin the next address (a@x.com一b@y.org):
                    # the search goes on from the cut
                    domain, end = domain[:-tail], end - tail
                    pos, cut = end, True
            trimmed = local.lstrip(".'-+")
            start += len(local) - len(trimmed)
            if not trimmed or trimmed.endswith("."):
                continue
            left, right = m.group(2), m.group(3)
            if left == " " and not right and scan.original_char(m.start(2)) == " ":
                continue  # "ping @example.com": a handle after a word, not an address
            tld = domain.rsplit(".", 1)[-1].lower()
            ok = (
                tlds is None
                or tld in tlds
                or tld in suffix_labels()
                or _public_suffix(domain.lower())
            )
            if ok:
                out.append((start, end, 0.9))
        return out

    return find


def _email_tlds(value: object) -> frozenset[str] | None:
    if value is None:
        return DEFAULT_EMAIL_TLDS
    if value == "any":
        return None
    if value == "public":
        return frozenset()
    if (
        isinstance(value, str)
        or not isinstance(value, Iterable)
        or not all(isinstance(v, str) for v in value)
    ):
        raise GuardrailConfigError(
            "email_tlds must be 'public' (the public suffix list only), 'any' (every alphabetic "
            f"top-level domain) or a list of extra top-level domains, got {value!r}"
        )
    # a list ADDS to the defaults (as documented): naming your own domain never silently
    # drops the internal ones (`.internal`, `.corp`, ...); "public" is the one way to drop them
    return DEFAULT_EMAIL_TLDS | frozenset(v.lower().lstrip(".") for v in value)


_IPV4 = re.compile(
    ascii_digits(
        r"(?<![\d.])(?:0{0,2}(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}0{0,2}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
        r"(?!\d|\.\d)"
    )
)
#: where an IPv4 address can start: the start of a run of digits and dots (the look-behind of
#: _IPV4 is "not after a digit or a dot" and every character of an address is one), 7 long at
#: least ("1.2.3.4"); _IPV4 is tried only there
_IPV4_RUN = re.compile(ascii_digits(r"\d(?<![\d.]\d)[\d.]{6,}"))
_VERSION_BEFORE = re.compile(r"(?:(?<![a-z])(?:version|ver|release|rel)\.?\s*|(?<![a-z])v)$", re.I)
# not_after(\w:.) (?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:) [0-9A-Fa-f:.]{2,45}, written first
# character first (a hex digit or ":") so the regex engine skips to the characters that can
# start an address (tests/test_pii_fast_patterns.py holds it to that plain form)
_IPV6 = re.compile(
    r"[0-9A-Fa-f:]"
    + not_after_first(r"\w:.")
    + r"(?:(?<=:)(?=[0-9A-Fa-f]{0,4}:)|(?<=[0-9A-Fa-f])(?=[0-9A-Fa-f]{0,3}:[0-9A-Fa-f]{0,4}:))"
    + r"[0-9A-Fa-f:.]{1,44}"
)


#: what the look-ahead of _IPV6 needs within four characters of an address's start: two colons
#: with at most four hex digits between them
_COLON_PAIR = re.compile(r":[0-9A-Fa-f]{0,4}:")


def _ipv6_candidates(text: str) -> Iterator[re.Match[str]]:
    """``_IPV6.finditer(text)``, searching only from four characters before each colon pair
    (the look-ahead of _IPV6 puts one within four characters of every match's start), so the
    regex engine does not try the pattern at every hex letter of the prose in between."""
    pos = 0
    while True:
        hint = _COLON_PAIR.search(text, pos)
        if hint is None:
            return
        m = _IPV6.search(text, max(pos, hint.start() - 4))
        if m is None:
            return
        yield m
        pos = m.end()


def _ips(scan: _Scan) -> list[Span]:
    text = scan.text
    out: list[Span] = []
    # an IPv4 address holds three dots, an IPv6 one two colons (the look-ahead of _IPV6)
    for run in _IPV4_RUN.finditer(text) if text.count(".") >= 3 else ():
        m = _IPV4.match(text, run.start())
        if m is None:
            continue
        if _VERSION_BEFORE.search(text[max(0, m.start() - 10) : m.start()]):
            continue  # "version 1.2.3.4", "v1.2.3.4"
        out.append((m.start(), m.end(), 0.9))
    if text.count(":") >= 2:
        for m in _ipv6_candidates(text):
            value = m.group(0)
            end = m.end()
            while value.endswith(".") or (value.endswith(":") and not value.endswith("::")):
                value = value[:-1]
                end -= 1
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue
            colons = value.count(":")
            if colons < 2 or not any(c.isalnum() for c in value):
                continue
            if "::" not in value and colons != 7 and not (colons == 6 and "." in value):
                continue  # "10:30:00": eight groups, or six and an IPv4 tail, or "::" (RFC 4291)
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            out.append((m.start(), end, 0.9))
    return out


def _url_ok(value: str) -> bool:
    authority = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value, flags=re.I)
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    # the host comes after the user information (user:password@), before the port
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):  # an IPv6 literal: http://[2001:db8::1]:8080/
        return "]" in host
    host = host.split(":", 1)[0]
    return bool(host) and ("." in host or host == "localhost")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _crypto_ok(value: str) -> bool:
    """A Bitcoin address: Base58Check (P2PKH / P2SH) or a bech32 / bech32m checksum."""
    if value.lower().startswith("bc1"):
        return _bech32_ok(value.lower())
    number = 0
    for c in value:
        number = number * 58 + _B58.index(c)
    raw = number.to_bytes(25, "big") if number.bit_length() <= 200 else b""
    if len(raw) != 25:
        return False
    check = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4]
    return check == raw[-4:]


def _bech32_ok(value: str) -> bool:
    hrp, _, data = value.rpartition("1")
    if hrp != "bc" or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values += [_BECH32.index(c) for c in data]
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk in (1, 0x2BC830A3)


# Each pattern starts with its first character (a class the regex engine skips to) and checks
# what came before it afterwards (not_after_first); tests/test_pii_fast_patterns.py holds each to
# its plain form: not_after(\w:-) [0-9A-Fa-f]{2}..., not_after(@\w.) (?i:https?://|ftp://|www\.)...,
# (?<![A-Za-z0-9])(?:bc1...|[13]...).
_MAC = re.compile(
    r"[0-9A-Fa-f]"
    + not_after_first(r"\w:-")
    + r"[0-9A-Fa-f]([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    + not_before(r"\w:-")
)
_macs = _plain(_regex_finder(_MAC))
# under re.I only "h", "f", "w" and their capitals fold to h / f / w (checked in the tests)
_URL = re.compile(
    r"[hHfFwW]"
    + not_after_first(r"@\w.")
    + r"(?i:(?<=[hH])ttps?://|(?<=[fF])tp://|(?<=[wW])ww\.)[^\s<>\"'`"
    + SPACELESS
    + r"]+[^\s<>\"'`.,;:!?)\]"
    + SPACELESS
    + "]"
)
_urls = _plain(_regex_finder(_URL, check=_url_ok))
# a bech32 address is written all in lower case or all in upper case (BIP 173: QR codes use
# upper case); mixed case is no address
_CRYPTO = re.compile(
    r"[13bB](?<![A-Za-z0-9][\s\S])"
    r"(?:(?<=b)c1[a-z0-9]{25,59}|(?<=B)C1[A-Z0-9]{25,59}|(?<=[13])[a-km-zA-HJ-NP-Z1-9]{25,34})"
    r"(?![A-Za-z0-9])"
)
_cryptos = _plain(_regex_finder(_CRYPTO, check=_crypto_ok))

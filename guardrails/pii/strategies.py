"""What ``PIIMiddleware`` does with a value it found: one small class per strategy.

Each strategy has ``validate(settings)`` (refuse settings that make no sense with it, at
construction) and ``operate(match, pseudo)`` (the text that replaces one match). A new
strategy is one class here and one entry in :data:`STRATEGIES`.

``mask`` writes LangChain's format by default (``user@****.com``, ``****-****-****-1111``,
``*.*.*.100``, ``**:**:**:**:**:5e``, ``[MASKED_URL]``, ``****1234``); ``mask_style="shape"``
keeps the value's shape instead (every letter and digit starred except the last quarter, at
most four, so ``10.0.0.1`` becomes ``**.*.*.1``). A secret type keeps only its recognisable
prefix, in both styles (``sk-proj-****``, ``ghp_****``, ``****``).

Example::

    op = build_strategy("hash", hash_key=b"k")
    apply_strategy("mail a@b.co", detect("mail a@b.co", ["email"]), "hash", b"k")
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from guardrails.errors import GuardrailConfigError
from guardrails.pii.detect import PIIMatch
from guardrails.pii.finders.secrets import SECRET_TYPES, secret_prefix
from guardrails.pii.pseudonym import Pseudonymizer

__all__ = [
    "MASK_STYLES",
    "STRATEGIES",
    "Block",
    "Hash",
    "Mask",
    "Pseudonymize",
    "Redact",
    "Strategy",
    "apply_strategy",
    "build_strategy",
    "splice",
]

MASK_STYLES = ("langchain", "shape")
#: Settings that only mean something with ``strategy="pseudonymize"``.
_PSEUDO_ONLY = ("restore_tools", "restore_output", "vault")


def splice(text: str, matches: Sequence[PIIMatch], replace: Callable[[PIIMatch], str]) -> str:
    """``text`` with each match replaced by ``replace(match)``."""
    out: list[str] = []
    cursor = 0
    for match in sorted(matches, key=lambda m: m["start"]):
        if match["start"] < cursor:  # overlapping match: already covered
            continue
        out.append(text[cursor : match["start"]])
        out.append(replace(match))
        cursor = match["end"]
    out.append(text[cursor:])
    return "".join(out)


class Strategy:
    """Base: ``name``, ``rewrites`` (False: the strategy refuses instead of rewriting)."""

    name: ClassVar[str] = ""
    rewrites: ClassVar[bool] = True
    #: True when ``operate`` needs the thread's :class:`Pseudonymizer`.
    needs_mapping: ClassVar[bool] = False

    def validate(self, settings: Mapping[str, Any]) -> None:
        """Refuse settings that only another strategy uses."""
        for setting in _PSEUDO_ONLY:
            value = settings.get(setting)
            if value is not None and value is not False:
                raise GuardrailConfigError(
                    f"{setting}= needs strategy='pseudonymize' (got strategy={self.name!r})"
                )

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        raise NotImplementedError

    def apply(
        self, text: str, matches: Sequence[PIIMatch], pseudo: Pseudonymizer | None = None
    ) -> str:
        """``text`` with every match replaced by :meth:`operate`."""
        return splice(text, matches, lambda m: self.operate(m, pseudo))


class Redact(Strategy):
    """``[REDACTED_EMAIL]``."""

    name = "redact"

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        return f"[REDACTED_{match['type'].upper()}]"


def _mask_secret(value: str) -> str:
    """A secret keeps its recognisable prefix (``sk-proj-****``, ``ghp_****``, a PEM header)
    and nothing of the secret part: no last characters, not even its length."""
    prefix = secret_prefix(value)
    if prefix.startswith("-----BEGIN"):
        return prefix + "****" + prefix.replace("BEGIN", "END", 1)
    return prefix + "****"


def _mask_langchain(value: str, kind: str) -> str:
    """LangChain 1.5's ``mask`` output, type by type."""
    if kind == "email":
        local, at, domain = value.partition("@")
        if not at:
            return "****"
        parts = domain.split(".")
        return f"{local}@****.{parts[-1]}" if len(parts) > 1 else f"{local}@****"
    if kind == "credit_card":
        digits = "".join(c for c in value if c.isdigit())
        sep = "-" if "-" in value else " " if " " in value else ""
        if sep:
            return f"****{sep}****{sep}****{sep}{digits[-4:]}"
        return f"************{digits[-4:]}"
    if kind == "ip":
        octets = value.split(".")
        return f"*.*.*.{octets[-1]}" if len(octets) == 4 else "****"
    if kind == "mac_address":
        sep = ":" if ":" in value else "-"
        return sep.join(["**"] * 5) + f"{sep}{value[-2:]}"
    if kind == "url":
        return "[MASKED_URL]"
    return f"****{value[-4:]}" if len(value) > 4 else "****"


def _mask_shape(value: str) -> str:
    """Every letter and digit starred except the last quarter of them (at most four)."""
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(alnum[len(alnum) - min(4, len(alnum) // 4) :]) if len(alnum) >= 4 else set()
    return "".join(c if (i in keep or not c.isalnum()) else "*" for i, c in enumerate(value))


class Mask(Strategy):
    """Partial masking; ``style`` ``"langchain"`` (default) or ``"shape"``."""

    name = "mask"

    def __init__(self, style: str = "langchain") -> None:
        if style not in MASK_STYLES:
            raise GuardrailConfigError(
                f"mask_style must be one of {list(MASK_STYLES)}, got {style!r}"
            )
        self.style = style

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        if match["type"] in SECRET_TYPES:  # whatever the style: no part of the secret stays
            return _mask_secret(match["value"])
        if self.style == "shape":
            return _mask_shape(match["value"])
        return _mask_langchain(match["value"], match["type"])


class Hash(Strategy):
    """``<email_hash:8 hex>``: HMAC-SHA256 with ``key``, plain SHA-256 without (warned)."""

    name = "hash"

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key

    def validate(self, settings: Mapping[str, Any]) -> None:
        super().validate(settings)
        if not self.key:
            warnings.warn(
                "PIIMiddleware(strategy='hash') without hash_key: an unkeyed SHA-256 of a value "
                "from a small space (an SSN, a phone number) is reversed by hashing every "
                "candidate; pass hash_key= to make the hash a keyed HMAC",
                UserWarning,
                stacklevel=4,
            )

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        value = match["value"].encode()
        if self.key:
            digest = hmac.new(self.key, value, hashlib.sha256).hexdigest()
        else:
            digest = hashlib.sha256(value).hexdigest()
        return f"<{match['type']}_hash:{digest[:8]}>"


class Block(Strategy):
    """Refuse: the middleware raises :class:`~guardrails.errors.PIIDetectionError`."""

    name = "block"
    rewrites = False

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        raise ValueError("strategy 'block' does not rewrite text")


class Pseudonymize(Strategy):
    """``<EMAIL_1>``: stable within the thread, reversible through the mapping."""

    name = "pseudonymize"
    needs_mapping = True

    def validate(self, settings: Mapping[str, Any]) -> None:
        return None

    def operate(self, match: PIIMatch, pseudo: Pseudonymizer | None = None) -> str:
        if pseudo is None:  # pragma: no cover - every pseudonymize scan carries one
            raise RuntimeError("pseudonymize needs the thread's mapping")
        return pseudo.placeholder(match["type"], match["value"])


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Redact, Mask, Hash, Block, Pseudonymize)
}


def build_strategy(
    name: Any, *, hash_key: bytes | None = None, mask_style: str = "langchain"
) -> Strategy:
    """The strategy object for a name (``GuardrailConfigError`` naming the allowed ones)."""
    if not isinstance(name, str) or name not in STRATEGIES:
        raise GuardrailConfigError(f"strategy must be one of {list(STRATEGIES)}, got {name!r}")
    if name == "mask":
        return Mask(mask_style)
    if name == "hash":
        return Hash(hash_key)
    return STRATEGIES[name]()


def apply_strategy(
    text: str,
    matches: Sequence[PIIMatch],
    strategy: str,
    hash_key: bytes | None = None,
    *,
    mask_style: str = "langchain",
) -> str:
    """Replace each match in ``text`` by the strategy's output.

    Example::

        apply_strategy("card 4111 1111 1111 1111", matches, "mask")  # "card **** **** **** 1111"
    """
    op = build_strategy(strategy, hash_key=hash_key, mask_style=mask_style)
    if not op.rewrites or op.needs_mapping:
        raise ValueError(f"strategy {strategy!r} does not rewrite text")
    return op.apply(text, matches)


def check_secret_settings(
    pii_types: str | Sequence[str],
    strategy: str,
    hash_key: bytes | None,
    restore_tools: Sequence[str] | None,
) -> Sequence[str] | None:
    """Settings a secret type needs (``PIIMiddleware`` calls this at construction).

    ``hash`` needs ``hash_key`` (an unkeyed hash of a password is reversed with a word list);
    ``pseudonymize`` restores real values into no tool unless ``restore_tools`` names them
    (returned as ``[]`` when it was ``None``): a credential reaches a tool only when the user
    declared that tool.
    """
    types = [pii_types] if isinstance(pii_types, str) else list(pii_types)
    if not any(t in SECRET_TYPES for t in types):
        return restore_tools
    if strategy == "hash" and not hash_key:
        raise GuardrailConfigError(
            "strategy='hash' with a secret type needs hash_key= (an unkeyed SHA-256 of a "
            "password or a short token is reversed by hashing a word list)"
        )
    if strategy == "pseudonymize" and restore_tools is None:
        return []
    return restore_tools

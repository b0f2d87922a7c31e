"""Phone-number validation per region, fast enough to try every configured region on a candidate.

``phonenumbers.parse`` costs about 60 us per region tried; the national check here reads the same
metadata (national prefix, transform rule, number patterns and lengths per number type) once per
region, compiled, and costs a few microseconds. International numbers (``+44 ...``) still go
through ``phonenumbers.parse``.

Example::

    rules = PhoneRules(("GB", "FR"))
    rules.national("02079460958")  # 0: valid in the first region listed
    rules.international("442079460958")  # True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_REGIONS", "PhoneRules", "validate_regions"]

#: The regions whose national formats are recognised when ``regions=`` is not given: North
#: America, the British Isles, western and central Europe, India, east Asia, Oceania, Latin
#: America's largest markets, Israel, South Africa, Singapore. Numbers written with ``+`` or
#: ``00`` and a country code are recognised for every country whatever this list says.
DEFAULT_REGIONS: tuple[str, ...] = (
    "US",
    "CA",
    "GB",
    "IE",
    "DE",
    "AT",
    "CH",
    "FR",
    "BE",
    "NL",
    "ES",
    "IT",
    "PT",
    "PL",
    "SE",
    "IN",
    "JP",
    "CN",
    "KR",
    "AU",
    "NZ",
    "BR",
    "MX",
    "IL",
    "ZA",
    "SG",
)

_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True)
class _Region:
    code: str
    country_code: int
    prefix: re.Pattern[str] | None
    transform: str | None
    general: re.Pattern[str]
    types: tuple[tuple[frozenset[int], re.Pattern[str]], ...]
    #: every length a number type allows (``None`` when a type does not say)
    lengths: frozenset[int] | None = None

    def _viable(self, number: str) -> bool:
        return self.general.fullmatch(number) is not None

    def strip_prefix(self, number: str) -> str:
        """The national significant number, the way phonenumbers strips the trunk prefix."""
        if self.prefix is None:
            return number
        m = self.prefix.match(number)
        if m is None:
            return number
        viable = self._viable(number)
        groups = m.groups()
        if not self.transform or not groups or groups[-1] is None:
            stripped = number[m.end() :]
        else:
            stripped = self.prefix.sub(self.transform, number, count=1)
        if viable and not self._viable(stripped):
            return number
        return stripped

    def valid(self, national: str) -> bool:
        n = len(national)
        if self.lengths is not None and n not in self.lengths:
            return False  # no number type of the region has this length
        if not self._viable(national):
            return False
        return any(
            (not lengths or n in lengths) and p.fullmatch(national) for lengths, p in self.types
        )


@functools.cache
def _region(code: str) -> _Region | None:
    from phonenumbers import PhoneMetadata

    md = PhoneMetadata.metadata_for_region(code)
    if md is None or md.general_desc is None or not md.general_desc.national_number_pattern:
        return None
    types = []
    for name in _TYPES:
        desc = getattr(md, name, None)
        if desc is not None and desc.national_number_pattern:
            lengths = frozenset(x for x in (desc.possible_length or ()) if x > 0)
            types.append((lengths, re.compile(desc.national_number_pattern)))
    return _Region(
        code=code,
        country_code=md.country_code or 0,
        prefix=re.compile(md.national_prefix_for_parsing)
        if md.national_prefix_for_parsing
        else None,
        transform=md.national_prefix_transform_rule or None,
        general=re.compile(md.general_desc.national_number_pattern),
        types=tuple(types),
        lengths=None
        if not types or any(not lengths for lengths, _ in types)
        else frozenset().union(*(lengths for lengths, _ in types)),
    )


def validate_regions(regions: object) -> tuple[str, ...]:
    """``regions=`` as a tuple of region codes; a clear error for anything else."""
    from phonenumbers import SUPPORTED_REGIONS

    from guardrails.errors import GuardrailConfigError

    if regions is None:
        return DEFAULT_REGIONS
    if (
        isinstance(regions, str)
        or not isinstance(regions, Iterable)
        or not all(isinstance(r, str) for r in regions)
    ):
        raise GuardrailConfigError(
            f"regions must be a list of ISO 3166 region codes such as ['GB', 'FR'], got {regions!r}"
        )
    out = tuple(dict.fromkeys(r.upper() for r in regions))
    unknown = [r for r in out if r not in SUPPORTED_REGIONS]
    if unknown or not out:
        raise GuardrailConfigError(
            f"regions: unknown region code(s) {unknown or list(out)}; use ISO 3166 codes that "
            "phonenumbers supports (e.g. 'US', 'GB', 'DE', 'FR', 'IN', 'JP')"
        )
    return out


class PhoneRules:
    """National and international phone validation for a fixed list of regions."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        import phonenumbers

        self.regions = regions
        self._regions = tuple(r for r in (_region(code) for code in regions) if r is not None)
        self._by_cc: dict[str, list[_Region]] = {}
        for r in self._regions:
            self._by_cc.setdefault(str(r.country_code), []).append(r)
        self._national = functools.lru_cache(maxsize=16384)(self._national_uncached)
        self._intl = functools.lru_cache(maxsize=16384)(self._international_uncached)
        # load phonenumbers' own lazily-loaded parts now, not on the first message
        phonenumbers.is_valid_number(phonenumbers.parse("+442079460958"))

    def national(self, digits: str) -> int | None:
        """The rank (in ``regions``) of the first region where ``digits``, as written
        nationally, is a valid number."""
        return self._national(digits)

    def _national_uncached(self, digits: str) -> int | None:
        for rank, r in enumerate(self._regions):
            if r.valid(r.strip_prefix(digits)):
                return rank
        return None

    def with_country_code(self, first: str, rest: str) -> bool:
        """``44 20 7946 0958``: the first group is a configured region's country code and the
        rest is valid there."""
        return any(r.valid(r.strip_prefix(rest)) for r in self._by_cc.get(first, ()))

    def international(self, digits: str) -> bool:
        """``digits`` after ``+`` or ``00``: valid for the country code it starts with."""
        return self._intl(digits)

    def _international_uncached(self, digits: str) -> bool:
        import phonenumbers

        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return False
        return bool(phonenumbers.is_valid_number(number))

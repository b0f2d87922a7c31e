"""Phone-number validation per region, fast enough to try every configured region on a candidate.

``phonenumbers.parse`` costs about 60 us per region tried (and recompiles its patterns once
they fall out of the ``re`` module's cache); the checks here read the same metadata (national
prefix, transform rule, number patterns and lengths per number type, leading digits) once per
region, compiled, and cost a few microseconds. International numbers (``+44 ...``) follow
phonenumbers' own parse and validation steps (:func:`international_valid`);
tests/test_pii_phones.py holds the two to the same answers.

Example::

    rules = PhoneRules(("GB", "FR"))
    rules.national("02079460958")  # 0: valid in the first region listed
    rules.international("442079460958")  # True
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guardrails.pii.normalize import ascii_digits

__all__ = ["DEFAULT_REGIONS", "PhoneRules", "international_valid", "validate_regions"]

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
    general: re.Pattern[str] | None
    types: tuple[tuple[frozenset[int], re.Pattern[str]], ...]
    #: every length a number type allows (``None`` when a type does not say)
    lengths: frozenset[int] | None = None
    #: the general description's possible lengths, sorted (empty: it does not say)
    possible: tuple[int, ...] = ()
    #: lengths possible for local dialling only
    local_only: frozenset[int] = frozenset()
    #: the leading digits that pick this region among those sharing its country code
    leading: re.Pattern[str] | None = None

    def _viable(self, number: str) -> bool:
        return self.general is not None and self.general.fullmatch(number) is not None

    def strip_prefix(self, number: str) -> str:
        """The national significant number, the way phonenumbers strips the trunk prefix."""
        if self.prefix is None or not number:
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

    def keeps_stripped(self, n: int) -> bool:
        """phonenumbers' ``_test_number_length`` of a stripped number of length ``n`` is not
        TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY or INVALID_LENGTH (so parsing keeps it stripped)."""
        possible = self.possible
        if n in self.local_only or not possible:
            return False
        if n == possible[0]:
            return True
        if possible[0] > n:
            return False
        return possible[-1] < n or n in possible[1:]

    @functools.cached_property
    def stripped_lengths(self) -> tuple[int, int] | None:
        """The fewest and the most characters :meth:`strip_prefix` takes off a number: the
        widths of the trunk prefix pattern (``None`` when they are unknown, or a transform rule
        may write other characters in their place)."""
        if self.prefix is None:
            return (0, 0)
        if self.transform:
            return None
        try:
            _, high = importlib.import_module("re._parser").parse(self.prefix.pattern).getwidth()
        except Exception:  # pragma: no cover - an unreadable pattern: no length gate
            return None
        return (0, high) if high < 64 else None

    def admits(self, n: int) -> bool:
        """Whether a number of ``n`` digits can be valid here once its trunk prefix is stripped
        (a length gate: ``False`` means ``valid(strip_prefix(number))`` is ``False``)."""
        widths = self.stripped_lengths
        if widths is None or n > 17:
            return True
        lengths = self._by_length
        return any(n - k in lengths for k in range(widths[0], widths[1] + 1))

    @functools.cached_property
    def _by_length(self) -> dict[int, tuple[re.Pattern[str], ...]]:
        """Per length a valid number can have: the patterns of the number types that allow it
        (a length no type allows, or the general description does not, is absent)."""
        out: dict[int, tuple[re.Pattern[str], ...]] = {}
        for n in range(18):
            if self.lengths is not None and n not in self.lengths:
                continue  # no number type of the region has this length
            if self.possible and n not in self.possible:
                continue  # the general description's lengths
            patterns = tuple(p for lengths, p in self.types if not lengths or n in lengths)
            if patterns:
                out[n] = patterns
        return out

    def _valid_by_types(self, national: str) -> bool:
        n = len(national)
        if self.lengths is not None and n not in self.lengths:
            return False
        if self.possible and n not in self.possible:
            return False
        return self._viable(national) and any(
            (not lengths or n in lengths) and p.fullmatch(national) for lengths, p in self.types
        )

    def valid(self, national: str) -> bool:
        """phonenumbers' ``_number_type_helper(national) != UNKNOWN``."""
        n = len(national)
        if n > 17:  # past the longest national number: the table does not go there
            return self._valid_by_types(national)
        patterns = self._by_length.get(n)
        if patterns is None or not self._viable(national):
            return False
        return any(p.fullmatch(national) for p in patterns)


def _compile(md: Any, code: str) -> _Region:
    # the patterns read strings of ASCII digits only: ``\d`` as ``[0-9]`` matches the same, faster
    types = []
    for name in _TYPES:
        desc = getattr(md, name, None)
        if desc is not None and desc.national_number_pattern:
            lengths = frozenset(x for x in (desc.possible_length or ()) if x > 0)
            types.append((lengths, re.compile(ascii_digits(desc.national_number_pattern))))
    general = md.general_desc
    return _Region(
        code=code,
        country_code=md.country_code or 0,
        prefix=re.compile(ascii_digits(md.national_prefix_for_parsing))
        if md.national_prefix_for_parsing
        else None,
        transform=md.national_prefix_transform_rule or None,
        general=re.compile(ascii_digits(general.national_number_pattern))
        if general is not None and general.national_number_pattern
        else None,
        types=tuple(types),
        lengths=None
        if not types or any(not lengths for lengths, _ in types)
        else frozenset().union(*(lengths for lengths, _ in types)),
        possible=tuple(general.possible_length or ()) if general is not None else (),
        local_only=frozenset(general.possible_length_local_only or ())
        if general is not None
        else frozenset(),
        leading=re.compile(ascii_digits(md.leading_digits))
        if md.leading_digits is not None
        else None,
    )


@functools.cache
def _compiled(code: str, country_code: int = 0) -> _Region | None:
    """The compiled metadata of a region (``001`` with ``country_code``: a non-geographic
    calling code), or ``None`` when phonenumbers has none."""
    from phonenumbers import PhoneMetadata

    md = PhoneMetadata.metadata_for_region_or_calling_code(country_code, code)
    return None if md is None else _compile(md, code)


def _region(code: str) -> _Region | None:
    region = _compiled(code, 0)
    return None if region is None or region.general is None else region


def _calling_code_region(country_code: int, code: str) -> _Region | None:
    """A region of a calling code as phonenumbers reads it (``001``: a non-geographic code)."""
    return _compiled(code, country_code if code == "001" else 0)


def international_valid(digits: str) -> bool:
    """``phonenumbers.is_valid_number(phonenumbers.parse("+" + digits))`` (``False`` where
    parsing fails) for a string of ASCII digits, on the same metadata, compiled once per region:
    the country code (1 to 3 digits), the main region's trunk prefix stripped when the rest keeps
    a possible length, then the region the number belongs to (by its leading digits, or the
    first whose patterns accept it) and that region's number patterns."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    if len(digits) <= 2 or len(digits) >= 250 or digits[0] == "0":
        return False  # too short after the "+"; no country code starts with 0
    for width in (1, 2, 3):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:width]))
        if regions is not None:
            break
    else:
        return False  # no such country code
    country_code = int(digits[:width])
    national = digits[width:]
    if len(national) < 2:
        return False
    main = _calling_code_region(country_code, regions[0])
    if main is None:  # pragma: no cover - every calling code has metadata
        return False
    stripped = main.strip_prefix(national)
    if main.keeps_stripped(len(stripped)):
        national = stripped
    if not 2 <= len(national) <= 17:
        return False
    if len(regions) == 1:
        return main.valid(national)
    for code in regions:
        region = _calling_code_region(country_code, code)
        if region is None:
            continue
        if region.leading is not None:
            if region.leading.match(national):
                return region.valid(national)
        elif region.valid(national):
            return True
    return False


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
        self.regions = regions
        #: what a phone candidate of a shape reads as, rules aside
        #: (guardrails.pii.finders.phone._plan): kept as long as these rules are
        self.shapes: dict[str, Any] = {}
        self._regions = tuple(r for r in (_region(code) for code in regions) if r is not None)
        self._by_cc: dict[str, list[_Region]] = {}
        for r in self._regions:
            self._by_cc.setdefault(str(r.country_code), []).append(r)
        #: per number length: the regions (with their rank) where a number that long can be
        #: valid, in the order listed (the rest cannot: :meth:`_Region.admits`)
        self._ranked = tuple(enumerate(self._regions))
        self._by_length = {
            n: tuple((rank, r) for rank, r in self._ranked if r.admits(n)) for n in range(18)
        }
        self._national = functools.lru_cache(maxsize=16384)(self._national_uncached)
        self._intl = functools.lru_cache(maxsize=16384)(international_valid)
        # compile the metadata of the most common calling code now, not on the first message
        self._intl("442079460958")

    def national(self, digits: str) -> int | None:
        """The rank (in ``regions``) of the first region where ``digits``, as written
        nationally, is a valid number."""
        return self._national(digits)

    def _national_uncached(self, digits: str) -> int | None:
        for rank, r in self._by_length.get(len(digits), self._ranked):
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

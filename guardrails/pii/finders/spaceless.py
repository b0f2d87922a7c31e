"""Scripts written without spaces between words, for the finders' word boundaries.

Chinese and Japanese (Han, Hiragana, Katakana), Thai, Lao, Khmer and Myanmar put no space between
words, and Korean glues its particles to the word before (``kim@example.kr입니다``). Their letters
are ``\\w`` to Python's ``re``, so a boundary written as "not after a word character" misses a value
written right against them (``電話番号は03-3224-9999です``). The helpers here write those
boundaries so that a letter of these scripts counts as a boundary, like a space.

Example::

    import re
    from guardrails.pii.finders.spaceless import not_after, not_before

    digits = re.compile(not_after(r"\\w") + r"\\d{6,}" + not_before(r"\\w"))
    digits.search("電話0312345678です")  # found
    digits.search("id0312345678")        # not found: glued to a Latin word
"""

from __future__ import annotations

__all__ = ["SPACELESS", "not_after", "not_after_first", "not_before", "word_char"]

#: Character ranges (for a regex class) of the scripts written without spaces between words.
SPACELESS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u31ff"  # Bopomofo, Hangul compatibility Jamo, Kanbun, Katakana extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003134f"  # CJK extensions B to G
)


def not_after(chars: str) -> str:
    """A look-behind: not right after one of ``chars`` (a regex class body such as ``\\w.+``),
    unless that character is a letter of a script written without spaces."""
    return rf"(?:(?<![{chars}])|(?<=[{SPACELESS}]))"


def not_after_first(chars: str) -> str:
    """:func:`not_after` placed right after the first character of a match: the character
    before that one is not one of ``chars`` (unless it is a letter of a script written without
    spaces). ``C`` + ``not_after_first(X)`` matches exactly where ``not_after(X)`` + ``C`` does,
    and a pattern that starts with a character class lets the regex engine skip to the
    characters that can start a match instead of trying every position."""
    return rf"(?:(?<![{chars}][\s\S])|(?<=[{SPACELESS}][\s\S]))"


def not_before(chars: str) -> str:
    """A look-ahead: not right before one of ``chars``, unless it is a letter of a script written
    without spaces."""
    return rf"(?:(?![{chars}])|(?=[{SPACELESS}]))"


def word_char() -> str:
    """A class: a word character (``\\w``) that is not a letter of a script written without
    spaces."""
    return rf"[^\W{SPACELESS}]"

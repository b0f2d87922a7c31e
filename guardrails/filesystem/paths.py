"""Paths as the rules see them: normalized, refused when they cannot be checked safely.

Two forms of one path: the *backend path* (``.``/``..`` resolved, repeated and trailing slashes
removed, code points as the model wrote them, so a file named in NFD is still found) and the
*key* the rules match (the backend path in Unicode NFC, so ``café`` typed either way gets the same
decision).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["PathRejectedError", "backend_path", "key", "normalize_path"]

#: C0 and C1 controls, DEL, backslash, and the Unicode line and paragraph separators.
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\\\u2028\u2029]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_WILDCARDS = frozenset("*?[{\\")
#: Longest path judged; longer ones are refused in time linear in their length.
MAX_PATH = 4096


class PathRejectedError(ValueError):
    """A path that cannot be checked safely (control characters, backslashes, escaping the root)."""


def backend_path(path: str) -> str:
    """The path the backend receives: structure normalized, code points kept; or raise.

    Example::

        backend_path("/public/../secret.txt")  # "/secret.txt"
    """
    if not isinstance(path, str) or not path:
        raise PathRejectedError("the path is empty or not a string")
    if len(path) > MAX_PATH:
        raise PathRejectedError(f"the path is longer than {MAX_PATH} characters")
    if (  # fast path: an already normalized ASCII path
        path[0] == "/"
        and path.isascii()
        and "//" not in path
        and "/./" not in path
        and "/../" not in path
        and (len(path) == 1 or not path.endswith(("/", "/.", "/..")))
        and _BAD_CHARS.search(path) is None
    ):
        return path
    if _BAD_CHARS.search(path):
        raise PathRejectedError("backslashes, NUL and control characters are not allowed")
    if path.startswith("~") or _DRIVE.match(path):
        raise PathRejectedError("only absolute virtual paths ('/...') are allowed")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise PathRejectedError("the path escapes the root")
            parts.pop()
            continue
        parts.append(segment)
    return "/" + "/".join(parts)


def key(path: str) -> str:
    """The form of a backend path the rules match (Unicode NFC)."""
    return path if path.isascii() else unicodedata.normalize("NFC", path)


def normalize_path(path: str) -> str:
    """Normalize an agent-supplied path the way the rules see it (NFC), or raise.

    Example::

        normalize_path("/public/../secret.txt")  # "/secret.txt"
        normalize_path("/a//b/./c/")             # "/a/b/c"
    """
    return key(backend_path(path))


def anchor(pattern: str) -> str:
    """The literal folder a pattern starts with (``/a/b`` for ``/a/b/*.md``; ``/`` if none)."""
    literal: list[str] = []
    for segment in pattern.split("/")[1:]:
        if any(c in _WILDCARDS for c in segment):
            break
        literal.append(segment)
    return "/" + "/".join(literal)


def glob_root(pattern: str) -> str:
    """The folder an absolute glob pattern names (``/workspace`` for ``/workspace/*.txt``)."""
    literal: list[str] = []
    for segment in pattern.split("/")[1:-1]:
        if any(c in _WILDCARDS for c in segment):
            break
        literal.append(segment)
    return "/" + "/".join(literal)


def within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it."""
    return folder == "/" or path == folder or path.startswith(folder + "/")

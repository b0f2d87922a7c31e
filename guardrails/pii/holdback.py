"""Where a stream may cut the text it has received so far.

A stream releases text as it arrives and holds back the last :data:`LOOKBACK` characters, so
that a value split across tokens is seen whole. What it releases is handled; what it holds
stays **raw** until more text arrives. The cut never falls inside a value: a value that
starts before the cut and reaches into the held tail may still be growing (``jane@example.co``
of ``jane@example.com``, ``https://example.com`` of a longer URL, the first digits of a phone
number), and handling the part that has arrived would release the rest of it unhandled. So the
cut moves back to the start of any value the scans find across it, and to the start of the
run of non-space characters it falls in (an address, a URL, an escaped or encoded layer the
scan opens only whole), when that run is not longer than :data:`RUN_LIMIT`.

Example::

    cut = release_point(raw, [scan])
    released, held = scan.text(raw[:cut]), raw[cut:]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardrails.pii.scan import Scan

__all__ = ["LOOKBACK", "RUN_LIMIT", "release_point"]

#: Characters of streamed text held back so a value split across tokens is seen whole.
LOOKBACK = 128
#: A run of non-space characters up to this long is never cut (a longer one is cut as text).
RUN_LIMIT = 1_024
_SPACES = (" ", "\n", "\t", "\r")


def release_point(raw: str, scans: Sequence[Scan], lookback: int = LOOKBACK) -> int:
    """The end of the part of ``raw`` a stream may release now (``0``: nothing yet)."""
    cut = len(raw) - lookback
    if cut <= 0:
        return 0
    if not raw[cut - 1].isspace() and not raw[cut].isspace():
        floor = max(0, cut - RUN_LIMIT)
        window = raw[floor:cut]
        space = max(window.rfind(s) for s in _SPACES)
        if space >= 0:
            cut = floor + space + 1
        elif floor == 0:
            cut = 0
    if not cut:
        return 0
    matches = [(m["start"], m["end"]) for scan in scans for m in scan.find(raw)]
    moved = True
    while moved and cut:
        moved = False
        for start, end in matches:
            if start < cut < end:
                cut, moved = start, True
    return cut

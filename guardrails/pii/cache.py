"""The detector's result cache: a least-recently-used map bounded in bytes, keyed by content.

Texts up to 256 characters are their own key; longer ones are keyed by a 16-byte BLAKE2b digest,
so the cache holds no long raw text.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardrails.pii.detect import PIIMatch


def _cache_key(text: str) -> str | bytes:
    # long texts are kept as a 16-byte digest, not as text: the cache holds no raw document
    if len(text) <= 256:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _block(size: int) -> int:
    """The bytes the allocator hands out for an object of ``size`` bytes (pymalloc and the
    64-bit mallocs round requests up to a multiple of 16)."""
    return (size + 15) & ~15


_sizeof = sys.getsizeof
#: An int past the small-int cache (a match's offsets past 256, an entry's size).
_INT = _block(_sizeof(1 << 20))
#: One entry's share of the map itself, measured (``bench pii_cache``): the hash table's entry
#: and index (the table is kept between 1/3 and 2/3 full, so 1.5 entries per entry), the
#: ordered map's node and its fast-node slot; plus the pair ``(matches, size)`` it stores.
SLOT_BYTES = 112 + _block(_sizeof((0, 0))) + _INT


def entry_bytes(key: str | bytes, value: tuple[PIIMatch, ...]) -> int:
    """The bytes one entry keeps alive: its slot in the map, the key object (the text itself up
    to 256 characters, at 1, 2 or 4 bytes a character, or a 16-byte digest) and, per match, the
    match dict, its value string and offsets past the small-int cache, measured with
    :func:`sys.getsizeof` and rounded as the allocator rounds. ``bench pii_cache`` checks the
    sum against tracemalloc and the process's RSS at the plateau."""
    size = SLOT_BYTES + _block(_sizeof(key))
    if value:
        size += _block(_sizeof(value))
        for m in value:
            size += _block(_sizeof(m)) + _block(_sizeof(m["value"]))
            if m["start"] > 256:
                size += _INT
            if m["end"] > 256:
                size += _INT
    return size


class _ByteLRU:
    """A least-recently-used map bounded by the bytes its entries keep alive
    (:func:`entry_bytes`: the map's own slot, the key, the matches), not by a count."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[str | bytes, tuple[tuple[PIIMatch, ...], int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | bytes) -> tuple[PIIMatch, ...] | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            self._data.move_to_end(key)
            return hit[0]

    def put(self, key: str | bytes, value: tuple[PIIMatch, ...]) -> None:
        size = entry_bytes(key, value)
        if size > self.max_bytes // 16:
            return  # one huge result would evict everything else
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._data[key] = (value, size)  # the size as counted (a match edited later...)
            self.bytes += size
            while self.bytes > self.max_bytes and self._data:
                _, (_, dropped) = self._data.popitem(last=False)
                self.bytes -= dropped

"""The detector's result cache: a least-recently-used map bounded in bytes, keyed by content.

Texts up to 256 characters are their own key; longer ones are keyed by a 16-byte BLAKE2b digest,
so the cache holds no long raw text.
"""

from __future__ import annotations

import hashlib
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


class _ByteLRU:
    """A least-recently-used map bounded by the bytes its keys and values take."""

    ENTRY_OVERHEAD = 120  # the dict slot, the tuple and the key object's header

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
        size = (
            self.ENTRY_OVERHEAD
            + len(key)
            + sum(self.ENTRY_OVERHEAD + 2 * len(m["value"]) for m in value)
        )
        if size > self.max_bytes // 16:
            return  # one huge result would evict everything else
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._data[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._data:
                _, (_, dropped) = self._data.popitem(last=False)
                self.bytes -= dropped

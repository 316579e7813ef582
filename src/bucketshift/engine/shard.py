"""Static shards: `--shard K/N` takes the objects whose key hashes to K modulo N.

For users who split a migration by hand across machines that share no state: N runs, each
given its own K, together touch every object exactly once, and none needs to know of the
others.  The partition is rclone's `--hash-filter K/N`, so a split can be checked with rclone:
the source key (as it is in its bucket, no bucket name) in Unicode NFC, lower-cased, hashed
with MD5; the first 8 bytes of the digest read as a little-endian unsigned 64-bit integer,
modulo N, is the key's shard.  hashlib, not `hash()`: Python randomizes `hash()` per process,
and two machines must agree on every key.

Lower-casing puts keys that differ only in case in one shard, as rclone does (Python's and Go's
lower-casing agree on every key but a handful of special letters such as U+0130).  Unlike
rclone, a K outside 0..N-1 is refused rather than wrapped (rclone reads `3/3` as `0/3`): a
hand-made split with a typo must not silently run one shard twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from bucketshift.errors import UsageError

__all__ = ["Shard", "parse_shard", "shard_of"]

_FORM = re.compile(r"\s*(\d{1,18})\s*/\s*(\d{1,18})\s*", re.ASCII)


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) a source key belongs to among `count`."""
    normalized = unicodedata.normalize("NFC", key).lower()
    digest = hashlib.md5(normalized.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "little") % count


@dataclass(frozen=True)
class Shard:
    """One of `count` disjoint parts of every bucket's keys (0-based `index`)."""

    index: int
    count: int

    def in_shard(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`K/N` with integers N >= 1 and 0 <= K < N; anything else is one UsageError naming the fix."""
    found = _FORM.fullmatch(text)
    index, count = (int(found.group(1)), int(found.group(2))) if found else (None, None)
    if index is None or count is None or count < 1 or index >= count:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise UsageError(
            f"--shard {shown!r}: give K/N, two whole numbers with N at least 1 and K from 0 to N-1 "
            "(e.g. 0/3, 1/3 and 2/3 for three machines)"
        )
    return Shard(index, count)

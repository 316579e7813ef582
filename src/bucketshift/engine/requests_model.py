"""How many requests a copy makes, counted from its decisions before it runs (pure, no I/O).

The rules follow the engine as it is (a clean run: no retries, no resumed reads, no write whose
condition fails on the way):

- Listing: each `list_page` call is one request (`ListPage`), and a Storage API listing asks
  for the bucket once before its first page (`GET /bucket/{id}`, so a typo is an error).  A
  listing from the project's `storage.objects` is SQL, not HTTP: counted apart.  A copy whose
  source has a database first reconciles both listings (`operations/reconcile.py`).
- Each object copied is read once, whole (`SourceRead`: one GET; a Range request only to resume
  a broken read).  A source whose reads and listing both lack the user metadata (Supabase listed
  through its API) is asked for it once per object copied (`GET object/info`).
- A body up to the destination's `multipart_threshold` is one PUT; a larger one is a multipart
  upload: create, one request per part of `part_size_for(size)` bytes, complete.  A write over a
  version on a store without conditional writes (Supabase) looks first (one HEAD).
- A destination object the listing cannot place (`Decision.LOOK`) costs one HEAD; the first
  object copied in each mapping costs one HEAD with checksums (does the store keep them?).
- Objects already done, adopted, kept, conflicting or placeholders cost no request at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum

__all__ = [
    "Action",
    "ListingKind",
    "Planned",
    "Requests",
    "Side",
    "Traits",
    "copy_seconds",
    "count_mapping",
    "listing_requests",
    "object_requests",
    "parallelism",
    "part_size_for",
]

MiB = 1024 * 1024
MAX_PARTS = 10_000


class ListingKind(StrEnum):
    SUPABASE_API = "supabase-api"
    """One `GET /bucket/{id}` before the first page, then one request per page."""
    DATABASE = "database"
    """SQL pages of `storage.objects` (no HTTP request)."""
    S3 = "s3"
    """One ListObjectsV2 per page."""
    LOCAL = "local"
    """A directory walk: no request."""


class Action(StrEnum):
    """What the copy will do with one listed object, once any HEAD has settled it."""

    COPY = "copy"
    SKIP = "skip"
    """Same, adopted, kept, a conflict, a placeholder: recorded or left, nothing transferred."""


@dataclass(frozen=True)
class Traits:
    """What decides the requests of one source -> destination pair (read off the stores and plan)."""

    metadata_per_object: bool = False
    """The source's reads and listing both lack user metadata: one `head` per object copied."""
    multipart: bool = True
    multipart_threshold: int = 16 * MiB
    part_size: int = 8 * MiB
    dest_conditional_writes: bool = True
    """The destination enforces If-Match itself; where not, a write over a version looks first."""
    dest_checksum_probe: bool = True
    """The destination's writes carry checksums: the first copy of a mapping is HEADed to see they stay."""


@dataclass(frozen=True)
class Planned:
    """One listed object as the copy will meet it."""

    size: int
    action: Action
    looked: bool = False
    """Settled by a destination HEAD (the listing showed something it could not place)."""
    if_match: bool = False
    """Written over the version bucketshift recorded (a change or a retry), not create-only."""


@dataclass(frozen=True)
class Requests:
    """Requests by side and kind; `+` adds two tallies."""

    source_gets: int = 0
    source_heads: int = 0
    source_lists: int = 0
    source_list_queries: int = 0
    dest_lists: int = 0
    dest_puts: int = 0
    multipart_uploads: int = 0
    multipart_parts: int = 0
    dest_heads: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def multipart_requests(self) -> int:
        """Create, parts and complete: every request a multipart upload costs."""
        return 2 * self.multipart_uploads + self.multipart_parts

    @property
    def dest_put_class(self) -> int:
        """S3's PUT, COPY, POST, LIST tier: single PUTs, every multipart request and the listing."""
        return self.dest_puts + self.multipart_requests + self.dest_lists

    @property
    def dest_get_class(self) -> int:
        """S3's GET, SELECT and other tier: HEADs."""
        return self.dest_heads

    @property
    def heads(self) -> int:
        return self.source_heads + self.dest_heads


def part_size_for(size: int, part_size: int) -> int:
    """The part size a multipart upload of `size` bytes uses: `part_size`, or more where S3's
    10,000-part limit needs it (as `S3Store.part_size_for`)."""
    needed = math.ceil(size / MAX_PARTS)
    return max(part_size, math.ceil(needed / MiB) * MiB)


def listing_requests(pages: int, kind: ListingKind) -> Requests:
    """The source requests of one listing that took `pages` calls of `list_page`."""
    if kind == ListingKind.SUPABASE_API:
        return Requests(source_lists=pages + 1)
    if kind == ListingKind.S3:
        return Requests(source_lists=pages)
    if kind == ListingKind.DATABASE:
        return Requests(source_list_queries=pages)
    return Requests()


def object_requests(planned: Planned, traits: Traits) -> Requests:
    """The requests one object costs (without the once-per-mapping checksum probe)."""
    looked = Requests(dest_heads=1) if planned.looked else Requests()
    if planned.action != Action.COPY:
        return looked
    read = Requests(source_gets=1, source_heads=1 if traits.metadata_per_object else 0)
    if traits.multipart and planned.size > traits.multipart_threshold:
        parts = math.ceil(planned.size / part_size_for(planned.size, traits.part_size))
        write = Requests(multipart_uploads=1, multipart_parts=parts)
    else:
        look_first = planned.if_match and not traits.dest_conditional_writes
        write = Requests(dest_puts=1, dest_heads=1 if look_first else 0)
    return looked + read + write


def count_mapping(
    planned: Iterable[Planned],
    traits: Traits,
    *,
    source_listings: Iterable[tuple[int, ListingKind]] = (),
    dest_list_pages: int = 0,
) -> Requests:
    """Every request one mapping's copy makes: its listings (`(pages, kind)` each), the destination
    listing's pages, and each object's requests."""
    total = Requests(dest_lists=dest_list_pages)
    for pages, kind in source_listings:
        total += listing_requests(pages, kind)
    copied = False
    for item in planned:
        total += object_requests(item, traits)
        copied = copied or item.action == Action.COPY
    if copied and traits.dest_checksum_probe:
        total += Requests(dest_heads=1)
    return total


@dataclass(frozen=True)
class Side:
    """One endpoint as the time probe saw it."""

    requests: int
    """Requests the copy will send it (listing left out: a few pages beside thousands of objects)."""
    request_seconds: float
    """One request's round trip, measured alone."""
    speedup: float
    """How much faster `probed` such requests went sent at once than one after the other."""
    probed: int
    bytes_per_second: float
    """The rate a body moved at (0: not measured)."""


def parallelism(speedup: float, probed: int, concurrency: int) -> float:
    """The parallelism a copy at `concurrency` gets from an endpoint whose `probed` requests sent at
    once went `speedup` times faster: an endpoint that kept up with all of them (4 of 5 or better)
    is taken to keep up with `concurrency`; one that did not has shown its limit."""
    if probed > 1 and speedup >= 0.8 * probed:
        return float(concurrency)
    return min(float(concurrency), max(1.0, speedup))


def copy_seconds(source: Side, dest: Side, bytes_: int, concurrency: int) -> float:
    """A copy's time: each side's round trips spread over the parallelism it showed, plus the bytes at
    the rate it showed.  The two sides' times are added, not overlapped: an upper bound where both
    share one machine's CPU with the copier (the bench), within 2x of the truth where they do not."""

    def side(s: Side) -> float:
        trips = s.requests * s.request_seconds / parallelism(s.speedup, s.probed, concurrency)
        return trips + (bytes_ / s.bytes_per_second if s.bytes_per_second > 0 else 0.0)

    return side(source) + side(dest)

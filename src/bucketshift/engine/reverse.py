"""The way back: the forward engine run with the stores swapped (S3 the source, Supabase the destination).

A rollback copies back to Supabase what the application wrote at S3 after the cut-over, and
nothing else.  It reuses the forward pipeline (`transfer`, `classify`, `ObjectCopier`) under a
mapping of its own (`ReverseSpec`, named `supabase-bucket<-s3-bucket`, so its rows never mix with
the forward ones), and teaches it what the forward copy established with one pure decision,
`seed`: each object the forward copy wrote, and that is still as it wrote it, is recorded for the
way back as a copy already made, from the S3 version the forward copy wrote (its ETag) to the
Supabase version it read (its ETag).  The engine's own `classify` then decides every case:

================================  ==========================  =====================================
S3 object                         Supabase object             what the way back does
================================  ==========================  =====================================
as the forward copy wrote it      the version copied from     nothing (SAME)
as the forward copy wrote it      gone                        copied back, create-only (MISSING)
as the forward copy wrote it      changed there since         conflict, left alone
changed since (the app wrote it)  the version copied from     copied back over it (CHANGED, If-Match)
changed since                     gone                        copied back, create-only
changed since, or new             holds the same bytes        recorded, not copied (ADOPT)
changed since, or new             other bytes                 conflict, left alone
new (unknown to the manifest)     nothing                     copied back, create-only (NEW)
================================  ==========================  =====================================

A Supabase object someone changed after the copy is therefore never overwritten: only the
version the forward copy read may be replaced, and only by the application's newer one; the
user settles a conflict with the engine's own policies (overwrite or keep).  Forward rows that
establish nothing (a conflict, a version kept at the destination, a failed or unfinished copy)
are not seeded, so their objects are judged by content.

Supabase Storage has no conditional write: the store's `If-Match` is a look just before the
write (see `SupabaseStore.put`), and its upload answer carries no ETag, so a row the way back
writes has none; a later run finds such an object by its MD5 or by bucketshift's mark in its
metadata (ADOPT), never by a remembered ETag.  `verify_back` then reads every object copied back
at Supabase and compares its size and sha256 with the bytes read from S3.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.listing import list_all
from bucketshift.engine.manifest import KEPT, ManifestStore, ObjectRecord, State
from bucketshift.engine.verify import Mismatch, read_sha256
from bucketshift.errors import AccessDenied, BucketNotFound, BucketshiftError, NotFound
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ObjectInfo, ObjectStore

__all__ = [
    "SEEDED",
    "BackCheck",
    "ReverseSpec",
    "at_supabase",
    "listing",
    "reverse_spec",
    "seed",
    "seed_manifest",
    "verify_back",
]

CHECK_BATCH = 1000
"""Objects `verify_back` has in flight or waiting at once (its gate bounds the reads)."""
SEEDED = "in-sync-at-cutover"
"""`resolution` of a row the way back holds from the forward copy, not from a write of its own."""


@dataclass(frozen=True)
class ReverseSpec(MappingSpec):
    """One S3 bucket (`source_bucket`) back to its Supabase bucket (`dest_bucket`).

    `strip` is the forward mapping's prefix: only S3 keys under it came from Supabase, and the
    Supabase key is the S3 key without it.  `forward` names the forward mapping's manifest rows."""

    strip: str = ""
    forward: str = ""

    @property
    def name(self) -> str:
        return f"{self.dest_bucket}<-{self.source_bucket}"

    def dest_key(self, key: str) -> str:
        return key[len(self.strip) :] if key.startswith(self.strip) else key


def reverse_spec(spec: MappingSpec) -> ReverseSpec:
    """The way back of one forward mapping (its prefix is listed at S3 and stripped at Supabase)."""
    return ReverseSpec(spec.dest_bucket, spec.source_bucket, "", spec.access, strip=spec.prefix, forward=spec.name)


@dataclass(frozen=True)
class Seed:
    """A row for the way back: S3 version `s3_etag` (at `s3_key`) is Supabase version `supabase_etag`."""

    s3_key: str
    supabase_key: str
    size: int
    sha256: str | None
    crc64nvme: str | None
    s3_etag: str
    s3_modified: str | None
    supabase_etag: str


def seed(forward: ObjectRecord) -> Seed | None:
    """What a forward row establishes for the way back, or None when it establishes nothing.

    Only a row that says "these bytes were read from Supabase version E1 and written to S3 as
    version E2" does: copied or verified (or taken back by verify, which keeps what was written),
    not a version kept at the destination (the app's, never read from Supabase), with both ETags
    and its size known."""
    if forward.state not in (State.COPIED, State.VERIFIED, State.PENDING) or forward.kept:
        return None
    if not forward.dest_etag or not forward.source_etag or forward.size is None or not forward.dest_key:
        return None
    if forward.state == State.PENDING and forward.sha256 is None:
        return None
    return Seed(
        forward.dest_key,
        forward.key,
        forward.size,
        forward.sha256,
        forward.crc64nvme,
        forward.dest_etag,
        forward.dest_modified,
        forward.source_etag,
    )


def seed_manifest(
    source: ManifestStore, target: ManifestStore, spec: ReverseSpec, *, copy_existing: bool = False
) -> int:
    """Write the seeds of `spec`'s forward rows into `target`; returns how many.

    A row the way back already wrote itself (a resumed rollback) is kept as it is; a seed is
    written again from today's forward row.  With `copy_existing` (a dry run's scratch manifest)
    the way back's own rows of `source` are copied into `target` first."""
    own = source.records(spec.name)
    if copy_existing:
        for record in own.values():
            _copy_row(target, record)
    count = 0
    for forward in source.iter_records(spec.forward):
        found = seed(forward)
        if found is None or not found.s3_key.startswith(spec.strip):
            continue
        mine = own.get(found.s3_key)
        if mine is not None and mine.resolution != SEEDED:
            continue
        target.mark_copied(
            spec.name,
            found.s3_key,
            size=found.size,
            sha256=found.sha256,
            crc64nvme=found.crc64nvme,
            source_etag=found.s3_etag,
            source_modified=found.s3_modified,
            dest_key=found.supabase_key,
            dest_etag=found.supabase_etag,
            attempts=0,
            resolution=SEEDED,
        )
        count += 1
    target.flush()
    return count


def _copy_row(target: ManifestStore, record: ObjectRecord) -> None:
    if record.state == State.CONFLICT:
        target.mark_conflict(
            record.mapping,
            record.key,
            record.last_error or "",
            dest_key=record.dest_key or record.key,
            dest_etag=record.dest_etag,
            dest_size=record.dest_size,
            dest_modified=record.dest_modified,
        )
    elif record.done and record.size is not None:
        target.mark_copied(
            record.mapping,
            record.key,
            size=record.size,
            sha256=record.sha256,
            crc64nvme=record.crc64nvme,
            source_etag=record.source_etag,
            source_modified=record.source_modified,
            dest_key=record.dest_key or record.key,
            dest_etag=record.dest_etag,
            dest_modified=record.dest_modified,
            attempts=0,
            resolution=record.resolution,
        )


def listing(
    store: ObjectStore, spec: ReverseSpec, retry: RetryPolicy, seen: set[str] | None = None
) -> AsyncIterator[ObjectInfo]:
    """The S3 bucket's objects under the forward prefix (the only ones that map back), each key
    added to `seen` as it passes."""

    async def walk() -> AsyncIterator[ObjectInfo]:
        async for info in list_all(store, spec.source_bucket, spec.strip, retry):
            if not info.key[len(spec.strip) :]:
                continue
            if seen is not None:
                seen.add(info.key)
            yield info

    return walk()


def at_supabase(manifest: ManifestStore, spec: ReverseSpec) -> set[str]:
    """Supabase keys whose object holds what S3 holds (or the version a user chose to keep there):
    copied back and verified, kept, or in sync since the forward copy and untouched since."""
    out = set()
    for record in manifest.iter_records(spec.name, [State.COPIED, State.VERIFIED]):
        settled = record.state == State.VERIFIED or record.resolution in (SEEDED, KEPT)
        if settled and record.dest_key:
            out.add(record.dest_key)
    return out


@dataclass
class BackCheck:
    """What `verify_back` found for one mapping."""

    spec: ReverseSpec
    checked: int = 0
    verified: int = 0
    missing: list[str] = field(default_factory=list)
    differing: list[Mismatch] = field(default_factory=list)
    hashed_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differing


def _copied_back(record: ObjectRecord) -> bool:
    return record.done and record.resolution not in (SEEDED, KEPT)


async def verify_back(
    s3: ObjectStore,
    supabase: ObjectStore,
    spec: ReverseSpec,
    manifest: ManifestStore,
    *,
    retry: RetryPolicy,
    concurrency: int = 16,
    check: BackCheck | None = None,
) -> BackCheck:
    """Every object the way back wrote (or adopted) is at Supabase with the size and sha256 of the
    bytes read from S3: the Supabase bytes are read and hashed (Supabase keeps no checksum to ask
    for).  Matching rows become `verified`; the rest go back to pending with the reason, so the
    next run copies them again and the URL rewrite leaves their URLs alone."""
    out = check or BackCheck(spec)
    gate = asyncio.Semaphore(concurrency)
    verified: list[str] = []
    taken_back: list[tuple[str, str]] = []

    async def one(record: ObjectRecord) -> None:
        async with gate:
            out.checked += 1
            key = record.dest_key or spec.dest_key(record.key)
            try:
                (size, sha), _ = await with_retries(lambda: read_sha256(supabase, spec.dest_bucket, key, out), retry)
                expected = record.sha256
                if expected is None:
                    (_, expected), _ = await with_retries(
                        lambda: read_sha256(s3, spec.source_bucket, record.key, out), retry
                    )
            except (AccessDenied, BucketNotFound):
                raise
            except NotFound:
                out.missing.append(key)
                taken_back.append((record.key, "missing at Supabase (rollback verify)"))
                return
            except BucketshiftError as error:
                out.differing.append(Mismatch(key, f"could not be read to compare: {error}"))
                return
            if size != (record.size if record.size is not None else size) or sha != expected:
                out.differing.append(Mismatch(key, "sha256 of the Supabase bytes differs from the bytes read from S3"))
                taken_back.append((record.key, "differs at Supabase (rollback verify)"))
                return
            out.verified += 1
            verified.append(record.key)

    rows = [record for record in manifest.records(spec.name).values() if _copied_back(record)]
    for start in range(0, len(rows), CHECK_BATCH):
        await asyncio.gather(*(one(record) for record in rows[start : start + CHECK_BATCH]))
    manifest.mark_verified(spec.name, verified)
    manifest.take_back(spec.name, taken_back)
    return out

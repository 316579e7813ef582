"""Verification: every source object is at the destination holding the source's bytes.

Quick mode reads, for every object, the checksum the destination itself stored (HeadObject with
checksum mode on S3) and compares it with the manifest's checksum of the bytes read from the
source (which the copy checked against the source's own MD5 where it has one): the destination
vouches for what it holds, not for what bucketshift remembers writing.  Where a store keeps no
checksum the fallback (its ETag and the sha256 bucketshift wrote in the metadata) is counted and
said, never silent.  Deep mode reads the destination bytes again and hashes them.  An object the
manifest does not know is compared by content (both sides read and hashed).

A state is a claim verify re-checks: a row whose object is missing or differs loses `verified`
(back to pending, with the reason), so the next copy repairs it and rewrite-urls leaves it alone.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from bucketshift.engine.diff import MappingSpec, is_placeholder, source_unchanged
from bucketshift.engine.listing import destination_index, list_all
from bucketshift.engine.manifest import ManifestStore, ObjectRecord, State
from bucketshift.engine.shard import Shard
from bucketshift.errors import AccessDenied, BucketNotFound, BucketshiftError, NotFound
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ObjectInfo, ObjectStore

__all__ = ["HashedBytes", "Mismatch", "VerifyReport", "VerifyStats", "read_sha256", "verify_mapping"]


@dataclass(frozen=True)
class Mismatch:
    key: str
    reason: str


@dataclass
class VerifyStats:
    checked: int = 0
    verified: int = 0
    missing: int = 0
    differing: int = 0
    conflicts: int = 0
    placeholders_skipped: int = 0
    extra_at_destination: int = 0
    hashed_bytes: int = 0
    by_stored_checksum: int = 0
    """Objects whose destination-stored checksum matched the manifest's."""
    without_stored_checksum: int = 0
    """Objects the destination keeps no checksum for, compared by ETag and recorded sha256 instead."""
    taken_back: int = 0
    outside_shard: int = 0
    """Source objects of other shards (`--shard K/N`): not checked, not counted missing."""
    listing_done: bool = False


@dataclass
class VerifyReport:
    spec: MappingSpec
    deep: bool = False
    stats: VerifyStats = field(default_factory=VerifyStats)
    missing: list[str] = field(default_factory=list)
    differing: list[Mismatch] = field(default_factory=list)
    conflicts: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differing and not self.conflicts


class HashedBytes(Protocol):
    hashed_bytes: int


async def read_sha256(store: ObjectStore, bucket: str, key: str, tally: HashedBytes) -> tuple[int, str]:
    """Read the object whole: its size and sha256, the bytes read counted in `tally` as they pass."""
    digest, size = hashlib.sha256(), 0
    async with store.open(bucket, key) as reader:
        async for chunk in reader:
            digest.update(chunk)
            size += len(chunk)
            tally.hashed_bytes += len(chunk)
    return size, digest.hexdigest()


class _Differs(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Verifier:
    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        spec: MappingSpec,
        manifest: ManifestStore,
        report: VerifyReport,
        *,
        keep_placeholders: bool,
        concurrency: int,
        retry: RetryPolicy,
        shard: Shard | None = None,
    ) -> None:
        self.source, self.dest, self.spec, self.manifest = source, dest, spec, manifest
        self.report, self.stats = report, report.stats
        self.shard = shard
        self.keep_placeholders = keep_placeholders
        self.gate = asyncio.Semaphore(concurrency)
        self.retry = retry
        self.verified: list[str] = []
        self.taken_back: list[tuple[str, str]] = []

    async def run(self) -> None:
        records = self.manifest.records(self.spec.name)
        dest_index = await destination_index(
            self.dest, self.spec.dest_bucket, self.spec.prefix, self.retry, purpose="nothing can verify"
        )
        seen: set[str] = set()
        pending: set[asyncio.Task[None]] = set()
        try:
            async for info in list_all(self.source, self.spec.source_bucket, "", self.retry):
                if self.shard is not None and not self.shard.in_shard(info.key):
                    self.stats.outside_shard += 1
                    continue
                if is_placeholder(info.key) and not self.keep_placeholders:
                    self.stats.placeholders_skipped += 1
                    continue
                record = records.get(info.key)
                dest_key = record.dest_key if record is not None and record.dest_key else self.spec.dest_key(info.key)
                seen.add(dest_key)
                await self.gate.acquire()
                task = asyncio.create_task(self._check(info, record, dest_key, dest_index.get(dest_key)))
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(lambda _: self.gate.release())
            self.stats.listing_done = True
            if pending:
                await asyncio.gather(*pending)
        finally:
            for task in pending:
                task.cancel()
        self.stats.extra_at_destination = sum(1 for key in set(dest_index) - seen if self._ours(key))
        self.manifest.mark_verified(self.spec.name, self.verified)
        self.manifest.take_back(self.spec.name, self.taken_back)
        self.stats.taken_back = len(self.taken_back)
        if self.stats.without_stored_checksum:
            self.report.notes.append(
                f"destination bucket {self.spec.dest_bucket} keeps no checksum for "
                f"{self.stats.without_stored_checksum} objects: those were compared by ETag and the sha256 "
                "bucketshift recorded, not by the stored bytes; run verify --deep to read them"
            )

    def _ours(self, dest_key: str) -> bool:
        """Whether a destination object falls to this run: every one without a shard, else its shard's."""
        if self.shard is None:
            return True
        prefix = self.spec.prefix
        return self.shard.in_shard(dest_key[len(prefix) :] if dest_key.startswith(prefix) else dest_key)

    def _take_back(self, record: ObjectRecord | None, key: str, reason: str) -> None:
        if record is not None and record.state in (State.COPIED, State.VERIFIED):
            self.taken_back.append((key, reason))

    async def _check(
        self, info: ObjectInfo, record: ObjectRecord | None, dest_key: str, dest: ObjectInfo | None
    ) -> None:
        self.stats.checked += 1
        key = info.key
        if record is not None and record.state == State.CONFLICT:
            self.stats.conflicts += 1
            self.report.conflicts.append(Mismatch(key, record.last_error or "the application changed it"))
            return
        try:
            if dest is None:
                raise NotFound(f"{dest_key} is not at the destination")
            await self._content_matches(info, record, dest_key, dest)
        except (AccessDenied, BucketNotFound):
            raise
        except NotFound:
            self.stats.missing += 1
            self.report.missing.append(key)
            self._take_back(record, key, "missing at the destination (verify)")
            return
        except _Differs as differs:
            self.stats.differing += 1
            self.report.differing.append(Mismatch(key, differs.reason))
            self._take_back(record, key, f"{differs.reason} (verify)")
            return
        except BucketshiftError as error:
            self.stats.differing += 1
            self.report.differing.append(Mismatch(key, f"could not be read to compare: {error}"))
            return
        self.stats.verified += 1
        if record is not None:
            self.verified.append(key)

    async def _content_matches(
        self, info: ObjectInfo, record: ObjectRecord | None, dest_key: str, dest: ObjectInfo
    ) -> None:
        """Return when the destination holds the source's bytes; raise `_Differs` with the reason."""
        bucket = self.spec.dest_bucket
        if record is None or not record.done:
            (_, source_sha), _ = await with_retries(
                lambda: read_sha256(self.source, self.spec.source_bucket, info.key, self.stats), self.retry
            )
            (_, dest_sha), _ = await with_retries(
                lambda: read_sha256(self.dest, bucket, dest_key, self.stats), self.retry
            )
            if source_sha != dest_sha:
                raise _Differs("content differs (sha256 of source and destination bytes)")
            return
        if not source_unchanged(info, record):
            raise _Differs("changed at the source since it was copied (run sync)")
        if record.kept:
            if dest.etag != record.dest_etag or dest.size != record.dest_size:
                raise _Differs("the destination's version kept at the conflict has changed since")
            return
        if dest.size != record.size:
            raise _Differs(f"size {dest.size} at destination, {record.size} copied")
        if self.report.deep:
            (size, sha), _ = await with_retries(
                lambda: read_sha256(self.dest, bucket, dest_key, self.stats), self.retry
            )
            if sha != record.sha256 or size != record.size:
                raise _Differs("sha256 of the destination bytes differs from the bytes copied")
            return
        head, _ = await with_retries(lambda: self.dest.head_checksums(bucket, dest_key), self.retry)
        self._compare_stored(info, record, head)

    def _compare_stored(self, info: ObjectInfo, record: ObjectRecord, head: ObjectInfo) -> None:
        """The checksum the destination keeps against the one recorded from the source's bytes."""
        if head.sha256 and record.sha256:
            checked = head.sha256 == record.sha256
        elif head.crc64nvme and record.crc64nvme:
            checked = head.crc64nvme == record.crc64nvme
        elif head.md5 and info.md5:
            checked = head.md5 == info.md5
        else:
            self.stats.without_stored_checksum += 1
            origin = head.copied_from
            if head.etag != record.dest_etag:
                raise _Differs("rewritten at the destination since the copy (ETag changed)")
            if origin is not None and origin.sha256 and record.sha256 and origin.sha256 != record.sha256:
                raise _Differs("the sha256 written with the object differs from the bytes copied")
            return
        if not checked:
            raise _Differs("the checksum the destination stored differs from the bytes copied")
        self.stats.by_stored_checksum += 1


async def verify_mapping(
    source: ObjectStore,
    dest: ObjectStore,
    spec: MappingSpec,
    manifest: ManifestStore,
    *,
    deep: bool = False,
    keep_placeholders: bool = False,
    concurrency: int = 32,
    retry: RetryPolicy | None = None,
    report: VerifyReport | None = None,
    shard: Shard | None = None,
) -> VerifyReport:
    """Compare one mapping's source with its destination; marks matching objects verified and takes
    `verified` back from the rest.  With a `shard`, only that shard's objects are checked."""
    out = report or VerifyReport(spec, deep=deep)
    out.deep = deep
    await _Verifier(
        source,
        dest,
        spec,
        manifest,
        out,
        keep_placeholders=keep_placeholders,
        concurrency=concurrency,
        retry=retry or RetryPolicy(),
        shard=shard,
    ).run()
    return out

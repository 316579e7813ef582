"""Verification: every source object is at the destination with the same size and sha256.

Quick mode trusts a chain of evidence kept by the copy: the sha256 of the bytes read from
the source and sent (in the manifest), and the destination's ETag as it answered that write;
a destination listing whose ETag and size still match proves the object is the one written.
Deep mode reads the destination bytes again and hashes them.  An object the manifest does
not know is compared by content (both sides read and hashed).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from bucketshift.engine.diff import MappingSpec, is_placeholder
from bucketshift.engine.listing import destination_index, list_all
from bucketshift.engine.manifest import Manifest, ObjectRecord, State
from bucketshift.engine.retry import RetryPolicy, with_retries
from bucketshift.errors import AccessDenied, BucketNotFound, BucketshiftError, NotFound
from bucketshift.stores.base import ObjectInfo, ObjectStore

__all__ = ["Mismatch", "VerifyReport", "VerifyStats", "verify_mapping"]


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
    placeholders_skipped: int = 0
    extra_at_destination: int = 0
    hashed_bytes: int = 0
    listing_done: bool = False


@dataclass
class VerifyReport:
    spec: MappingSpec
    deep: bool = False
    stats: VerifyStats = field(default_factory=VerifyStats)
    missing: list[str] = field(default_factory=list)
    differing: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differing


async def _hash(store: ObjectStore, bucket: str, key: str, stats: VerifyStats) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    async with store.open(bucket, key) as reader:
        async for chunk in reader:
            digest.update(chunk)
            size += len(chunk)
            stats.hashed_bytes += len(chunk)
    return size, digest.hexdigest()


class _Verifier:
    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        spec: MappingSpec,
        manifest: Manifest,
        report: VerifyReport,
        *,
        keep_placeholders: bool,
        concurrency: int,
        retry: RetryPolicy,
    ) -> None:
        self.source, self.dest, self.spec, self.manifest = source, dest, spec, manifest
        self.report, self.stats = report, report.stats
        self.keep_placeholders = keep_placeholders
        self.gate = asyncio.Semaphore(concurrency)
        self.retry = retry
        self.verified: list[str] = []

    async def run(self) -> None:
        records = self.manifest.records(self.spec.name)
        dest_index = await destination_index(
            self.dest, self.spec.dest_bucket, self.spec.prefix, self.retry, purpose="nothing can verify"
        )
        seen: set[str] = set()
        pending: set[asyncio.Task[None]] = set()
        try:
            async for info in list_all(self.source, self.spec.source_bucket, "", self.retry):
                if is_placeholder(info.key) and not self.keep_placeholders:
                    self.stats.placeholders_skipped += 1
                    continue
                dest_key = self.spec.dest_key(info.key)
                seen.add(dest_key)
                await self.gate.acquire()
                task = asyncio.create_task(self._check(info, records.get(info.key), dest_index.get(dest_key)))
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(lambda _: self.gate.release())
            self.stats.listing_done = True
            if pending:
                await asyncio.gather(*pending)
        finally:
            for task in pending:
                task.cancel()
        self.stats.extra_at_destination = len(set(dest_index) - seen)
        self.manifest.mark_verified(self.spec.name, self.verified)

    def _differs(self, key: str, reason: str) -> None:
        self.stats.differing += 1
        self.report.differing.append(Mismatch(key, reason))

    async def _check(self, info: ObjectInfo, record: ObjectRecord | None, dest: ObjectInfo | None) -> None:
        self.stats.checked += 1
        key = info.key
        if dest is None:
            self.stats.missing += 1
            self.report.missing.append(key)
            return
        if dest.size != info.size:
            self._differs(key, f"size {dest.size} at destination, {info.size} at source")
            return
        try:
            ok, reason = await self._content_matches(info, record, dest)
        except (AccessDenied, BucketNotFound):
            raise
        except NotFound:
            self.stats.missing += 1
            self.report.missing.append(key)
            return
        except BucketshiftError as error:
            self._differs(key, f"could not be read to compare: {error}")
            return
        if not ok:
            self._differs(key, reason)
            return
        self.stats.verified += 1
        if record is not None:
            self.verified.append(key)

    async def _content_matches(
        self, info: ObjectInfo, record: ObjectRecord | None, dest: ObjectInfo
    ) -> tuple[bool, str]:
        copied = record is not None and record.state in (State.COPIED, State.VERIFIED) and record.sha256
        if not copied or record is None:
            (_, source_sha), _ = await with_retries(
                lambda: _hash(self.source, self.spec.source_bucket, info.key, self.stats), self.retry
            )
            (_, dest_sha), _ = await with_retries(
                lambda: _hash(self.dest, self.spec.dest_bucket, dest.key, self.stats), self.retry
            )
            return source_sha == dest_sha, "content differs (sha256 of source and destination bytes)"
        if record.size != info.size or (info.etag and record.source_etag and info.etag != record.source_etag):
            return False, "changed at the source since it was copied (run sync)"
        if self.report.deep:
            (size, sha), _ = await with_retries(
                lambda: _hash(self.dest, self.spec.dest_bucket, dest.key, self.stats), self.retry
            )
            return sha == record.sha256 and size == record.size, "sha256 of the destination bytes differs"
        if dest.sha256:
            return dest.sha256 == record.sha256, "destination sha256 differs from the bytes copied"
        if dest.etag and record.dest_etag:
            return dest.etag == record.dest_etag, "destination was rewritten since the copy (ETag changed)"
        head, _ = await with_retries(lambda: self.dest.head(self.spec.dest_bucket, dest.key), self.retry)
        if head.sha256:
            return head.sha256 == record.sha256, "destination sha256 differs from the bytes copied"
        (size, sha), _ = await with_retries(
            lambda: _hash(self.dest, self.spec.dest_bucket, dest.key, self.stats), self.retry
        )
        return sha == record.sha256, "sha256 of the destination bytes differs"


async def verify_mapping(
    source: ObjectStore,
    dest: ObjectStore,
    spec: MappingSpec,
    manifest: Manifest,
    *,
    deep: bool = False,
    keep_placeholders: bool = False,
    concurrency: int = 32,
    retry: RetryPolicy | None = None,
    report: VerifyReport | None = None,
) -> VerifyReport:
    """Compare one mapping's source with its destination; marks matching objects verified."""
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
    ).run()
    return out

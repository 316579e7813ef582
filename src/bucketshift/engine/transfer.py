"""The transfer pipeline: a lister feeds a bounded queue, N workers stream objects through.

Memory stays bounded whatever the object sizes: at most `2 x concurrency` descriptions are
queued and every body is a stream.  Each object is journaled in the manifest as intent
(`copying`) before its write and as done (`copied`, with the sha256 of the bytes sent) after.
Per-object failures are recorded and the run goes on; errors that no retry can cure for any
object (AccessDenied, a missing bucket) stop the whole run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bucketshift.engine.diff import MappingSpec, classify, source_version
from bucketshift.engine.listing import destination_index, list_all
from bucketshift.engine.manifest import Manifest
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.retry import RetryPolicy, with_retries
from bucketshift.errors import AccessDenied, BucketNotFound, BucketshiftError, Retryable
from bucketshift.stores.base import ObjectInfo, ObjectReader, ObjectStore

__all__ = ["Failure", "MappingReport", "MappingStats", "TransferOptions", "transfer"]

FATAL = (AccessDenied, BucketNotFound)


@dataclass
class TransferOptions:
    concurrency: int = 64
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests: TokenBucket | None = None
    bandwidth: TokenBucket | None = None
    dry_run: bool = False
    keep_placeholders: bool = False
    check_destination: bool = True
    preserve_metadata: bool = True


@dataclass
class MappingStats:
    """Live counters for one mapping; the CLI reads them to draw progress."""

    listed: int = 0
    listed_bytes: int = 0
    listing_done: bool = False
    to_copy: int = 0
    to_copy_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    bytes_moved: int = 0
    failed: int = 0
    retries: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    decision_bytes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    key: str
    error: str
    kind: str


@dataclass
class MappingReport:
    spec: MappingSpec
    stats: MappingStats = field(default_factory=MappingStats)
    failures: list[Failure] = field(default_factory=list)


class _Fatal(Exception):
    def __init__(self, error: BucketshiftError) -> None:
        super().__init__(str(error))
        self.error = error


class _MappingRun:
    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        spec: MappingSpec,
        manifest: Manifest,
        options: TransferOptions,
        report: MappingReport,
        listing: AsyncIterator[ObjectInfo] | None,
    ) -> None:
        self.source, self.dest, self.spec, self.manifest = source, dest, spec, manifest
        self.options, self.report, self.stats = options, report, report.stats
        self.listing = listing
        self.need_head = (
            options.preserve_metadata and not source.read_includes_metadata and not source.listing_includes_metadata
        )

    async def run(self) -> None:
        queue: asyncio.Queue[ObjectInfo | None] = asyncio.Queue(maxsize=max(2, self.options.concurrency * 2))
        workers = 0 if self.options.dry_run else self.options.concurrency
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._list(queue, workers))
                for _ in range(workers):
                    group.create_task(self._work(queue))
        except* _Fatal as caught:
            raise caught.exceptions[0].error from None  # type: ignore[attr-defined]

    async def _list(self, queue: asyncio.Queue[ObjectInfo | None], workers: int) -> None:
        try:
            records = self.manifest.records(self.spec.name)
            dest_index: dict[str, ObjectInfo] | None = None
            if self.options.check_destination:
                dest_index = await destination_index(
                    self.dest,
                    self.spec.dest_bucket,
                    self.spec.prefix,
                    self.options.retry,
                    purpose="create it first (bucketshift provision)",
                )
            listing = self.listing or list_all(
                self.source, self.spec.source_bucket, "", self.options.retry, on_retry=self._listing_retried
            )
            async for info in listing:
                self.stats.listed += 1
                self.stats.listed_bytes += info.size
                found = None if dest_index is None else dest_index.get(self.spec.dest_key(info.key))
                decision = classify(
                    info,
                    records.get(info.key),
                    dest_size=None if found is None else found.size,
                    dest_checked=dest_index is not None,
                    keep_placeholders=self.options.keep_placeholders,
                )
                self.stats.decisions[decision] = self.stats.decisions.get(decision, 0) + 1
                self.stats.decision_bytes[decision] = self.stats.decision_bytes.get(decision, 0) + info.size
                if decision.copies:
                    self.stats.to_copy += 1
                    self.stats.to_copy_bytes += info.size
                    if workers:
                        await queue.put(info)
        except FATAL as error:
            raise _Fatal(error) from None
        finally:
            self.stats.listing_done = True
        for _ in range(workers):
            await queue.put(None)

    def _listing_retried(self, attempt: int, error: Retryable, wait: float) -> None:
        self.stats.retries += 1

    async def _work(self, queue: asyncio.Queue[ObjectInfo | None]) -> None:
        while (info := await queue.get()) is not None:
            await self._copy_one(info)

    async def _copy_one(self, info: ObjectInfo) -> None:
        spec, key = self.spec, info.key
        modified = source_version(info)
        self.manifest.mark_copying(spec.name, key, source_etag=info.etag, source_modified=modified)
        sent = 0
        attempts = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n

        async def attempt() -> ObjectInfo:
            nonlocal sent, attempts
            attempts += 1
            self.stats.bytes_moved -= sent
            sent = 0
            described = await self._describe(info)
            if self.options.requests is not None:
                await self.options.requests.acquire()
            async with self.source.open(spec.source_bucket, key) as reader:
                got = reader.info
                return await self.dest.put(
                    spec.dest_bucket,
                    spec.dest_key(key),
                    self._paced(reader, count),
                    size=got.size if got.size or info.size == 0 else info.size,
                    content_type=got.content_type or described.content_type,
                    cache_control=got.cache_control or described.cache_control,
                    metadata=described.metadata or got.metadata,
                )

        def retried(attempt_no: int, error: Retryable, wait: float) -> None:
            self.stats.retries += 1

        try:
            result, _ = await with_retries(attempt, self.options.retry, on_retry=retried)
        except FATAL as error:
            raise _Fatal(error) from None
        except BucketshiftError as error:
            self.manifest.mark_failed(spec.name, key, str(error), attempts)
            self.stats.bytes_moved -= sent
            self.stats.failed += 1
            self.report.failures.append(Failure(key, str(error), type(error).__name__))
            return
        self.manifest.mark_copied(
            spec.name,
            key,
            size=result.size,
            sha256=result.sha256 or "",
            source_etag=info.etag,
            source_modified=modified,
            dest_key=spec.dest_key(key),
            dest_etag=result.etag,
            attempts=attempts,
        )
        self.stats.copied += 1
        self.stats.copied_bytes += result.size

    async def _describe(self, info: ObjectInfo) -> ObjectInfo:
        """Stores whose reads omit user metadata (Supabase) are asked for it once per object."""
        if not self.need_head:
            return info
        if self.options.requests is not None:
            await self.options.requests.acquire()
        return await self.source.head(self.spec.source_bucket, info.key)

    async def _paced(self, reader: ObjectReader, count: Callable[[int], None]) -> AsyncIterator[bytes]:
        async for chunk in reader:
            if self.options.bandwidth is not None:
                await self.options.bandwidth.acquire(len(chunk))
            count(len(chunk))
            self.stats.bytes_moved += len(chunk)
            yield chunk


async def transfer(
    source: ObjectStore,
    dest: ObjectStore,
    specs: list[MappingSpec],
    manifest: Manifest,
    options: TransferOptions,
    *,
    reports: list[MappingReport] | None = None,
    listings: dict[str, AsyncIterator[ObjectInfo]] | None = None,
) -> list[MappingReport]:
    """Copy (or, with `dry_run`, only plan) every mapping in turn; returns one report each.

    `reports` may be passed in pre-made so a caller can watch their live stats.
    """
    out = reports if reports is not None else [MappingReport(spec) for spec in specs]
    for report in out:
        listing = (listings or {}).get(report.spec.name)
        await _MappingRun(source, dest, report.spec, manifest, options, report, listing).run()
    return out

"""The transfer pipeline: a lister feeds a bounded queue, N workers act on each object.

The lister classifies every source object against its manifest row and (for copy) the
destination listing (`diff.classify`); workers then copy (`objects.ObjectCopier`), adopt what the
destination already holds, or leave the application's objects alone and report them as
conflicts.  Memory stays bounded whatever the object sizes: at most `2 x concurrency`
descriptions are queued and the bodies in memory are held to the budget.  Each copy is journaled
in the manifest as intent (`copying`) before its write and as done (`copied`) after.
Per-object failures are recorded and the run goes on; errors that no retry can cure for any
object (AccessDenied, a missing bucket) stop the whole run at once, as themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import ConflictPolicy, Decision, MappingSpec, classify, judge, source_version, write_for
from bucketshift.engine.listing import destination_index, list_all
from bucketshift.engine.manifest import ManifestStore, ObjectRecord
from bucketshift.engine.objects import Copied, ObjectCopier, Tallies
from bucketshift.engine.pacing import Pacer
from bucketshift.engine.shard import Shard
from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotFound,
    BucketshiftError,
    NotFound,
    PreconditionFailed,
    Retryable,
)
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ObjectInfo, ObjectStore

__all__ = [
    "FATAL",
    "Conflict",
    "Failure",
    "Fatal",
    "Feed",
    "Item",
    "MappingReport",
    "MappingRun",
    "MappingStats",
    "TransferOptions",
    "transfer",
]

FATAL = (AccessDenied, BucketNotFound)


@dataclass
class TransferOptions:
    concurrency: int = 64
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests: Pacer | None = None
    bandwidth: Pacer | None = None
    dry_run: bool = False
    keep_placeholders: bool = False
    check_destination: bool = True
    preserve_metadata: bool = True
    on_conflict: ConflictPolicy = "report"
    budget: MemoryBudget = field(default_factory=lambda: MemoryBudget(64 * 1024 * 1024))
    """Bytes of bodies in memory at once, shared by every worker and mapping of the run."""
    shard: Shard | None = None
    """Only the objects of this shard are decided on, read, written and recorded (`--shard K/N`)."""


@dataclass
class MappingStats:
    """Live counters for one mapping; the CLI reads them to draw progress."""

    listed: int = 0
    """Objects listed that this run handles (those of its shard, when it has one)."""
    listed_bytes: int = 0
    outside_shard: int = 0
    """Objects listed that belong to other shards: not looked at any further."""
    listing_done: bool = False
    to_copy: int = 0
    to_copy_bytes: int = 0
    queued: int = 0
    """Objects handed to the workers: to copy, to adopt, to look at, conflicts to record."""
    copied: int = 0
    copied_bytes: int = 0
    adopted: int = 0
    conflicts: int = 0
    kept: int = 0
    failed: int = 0
    looked: int = 0
    tallies: Tallies = field(default_factory=Tallies)
    decisions: dict[str, int] = field(default_factory=dict)
    decision_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_moved(self) -> int:
        return self.tallies.bytes_moved

    @property
    def retries(self) -> int:
        return self.tallies.retries

    @property
    def settled(self) -> int:
        """Objects the workers are done with, whatever the outcome (for progress)."""
        return self.copied + self.adopted + self.conflicts + self.kept + self.failed


@dataclass(frozen=True)
class Failure:
    key: str
    error: str
    kind: str


@dataclass(frozen=True)
class Conflict:
    """An object the application wrote at the destination, left as it is."""

    key: str
    dest_key: str
    source_size: int
    source_modified: datetime | None
    dest_size: int | None
    dest_modified: datetime | None
    reason: str


@dataclass
class MappingReport:
    spec: MappingSpec
    stats: MappingStats = field(default_factory=MappingStats)
    failures: list[Failure] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metadata_path: str = ""
    """How the source's user metadata is read: in the listing, or one request per object."""


class Fatal(Exception):
    def __init__(self, error: BucketshiftError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Item:
    """One object for a worker: what the listing said of it and what to do."""

    info: ObjectInfo
    record: ObjectRecord | None
    dest: ObjectInfo | None
    decision: Decision
    queued: bool = False
    """Claimed from a shared run's queue: settled there (`MappingRun.on_settled`) once acted on."""


Feed = Callable[["asyncio.Queue[Item | None]", int], Awaitable[None]]
"""What hands a mapping's objects to its workers, then one None per worker: the listing, or a
shared run's queue (`shared_transfer`)."""


def _changed_reason(record: ObjectRecord | None) -> str:
    if record is not None and record.kept:
        return "changed at the source since the destination's version was kept"
    if record is not None and record.done:
        return "changed at the destination since bucketshift wrote it"
    return "at the destination, not written by bucketshift, and its bytes differ from the source's"


class MappingRun:
    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        spec: MappingSpec,
        manifest: ManifestStore,
        options: TransferOptions,
        report: MappingReport,
        listing: object | None,
        budget: MemoryBudget,
    ) -> None:
        self.source, self.dest, self.spec, self.manifest = source, dest, spec, manifest
        self.options, self.report, self.stats = options, report, report.stats
        self.listing = listing
        self.need_head = (
            options.preserve_metadata and not source.read_includes_metadata and not source.listing_includes_metadata
        )
        report.metadata_path = (
            "from the source's object/info, one request per object beside the read"
            if self.need_head
            else "in the listing, no request per object beside the read"
        )
        self.copier = ObjectCopier(
            source,
            dest,
            spec,
            retry=options.retry,
            budget=budget,
            tallies=self.stats.tallies,
            requests=options.requests,
            bandwidth=options.bandwidth,
            describe=self._describe if self.need_head else None,
        )
        self.probed = False
        self.on_settled: Callable[[str], None] | None = None
        """Called with the key of each queued item once acted on."""

    async def run(self, feed: Feed | None = None) -> None:
        queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=max(2, self.options.concurrency * 2))
        workers = 0 if self.options.dry_run else self.options.concurrency
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task((feed or self._list)(queue, workers))
                for _ in range(workers):
                    group.create_task(self._work(queue))
        except* Fatal as caught:
            raise caught.exceptions[0].error from None  # type: ignore[attr-defined]
        except* BucketshiftError as caught:
            raise caught.exceptions[0] from None
        note = getattr(self.dest, "checksum_note", None)
        if note and note not in self.report.notes:
            self.report.notes.append(note)
        if self.stats.tallies.etag_not_md5:
            self.report.notes.append(
                f"{self.stats.tallies.etag_not_md5} source objects have an ETag that is not the MD5 of their bytes "
                "(read twice, the same bytes each time): their reads were checked by the destination's checksum only"
                + ("" if self.stats.tallies.md5_trusted else "; the check was left off for the rest of the bucket")
            )

    async def _list(self, queue: asyncio.Queue[Item | None], workers: int) -> None:
        try:
            records = self.manifest.records(self.spec.name)
            dest_index = await self.index_destination()
            listing = self.listing or list_all(
                self.source, self.spec.source_bucket, "", self.options.retry, on_retry=self.listing_retried
            )
            async for info in listing:  # type: ignore[attr-defined]
                record = records.get(info.key)
                decision = self.decide(info, record, dest_index)
                if decision is not None and workers:
                    self.stats.queued += 1
                    await queue.put(Item(info, record, self.found(info, dest_index), decision))
        except FATAL as error:
            raise Fatal(error) from None
        finally:
            self.stats.listing_done = True
        for _ in range(workers):
            await queue.put(None)

    async def index_destination(self) -> dict[str, ObjectInfo] | None:
        """The destination's objects by key (copy), or None (sync decides on the manifest alone)."""
        if not self.options.check_destination:
            return None
        return await destination_index(
            self.dest,
            self.spec.dest_bucket,
            self.spec.prefix,
            self.options.retry,
            purpose="create it first (bucketshift provision)",
        )

    def found(self, info: ObjectInfo, dest_index: dict[str, ObjectInfo] | None) -> ObjectInfo | None:
        return None if dest_index is None else dest_index.get(self.spec.dest_key(info.key))

    def decide(
        self, info: ObjectInfo, record: ObjectRecord | None, dest_index: dict[str, ObjectInfo] | None
    ) -> Decision | None:
        """One listed object, counted: what its worker must do, or None (outside the shard, the
        same on both sides, a placeholder; or a dry run, which only counts and previews)."""
        shard = self.options.shard
        if shard is not None and not shard.in_shard(info.key):
            self.stats.outside_shard += 1
            return None
        self.stats.listed += 1
        self.stats.listed_bytes += info.size
        found = self.found(info, dest_index)
        decision = classify(
            info,
            record,
            dest=found,
            dest_checked=dest_index is not None,
            keep_placeholders=self.options.keep_placeholders,
            on_conflict=self.options.on_conflict,
        )
        self._count(decision, info.size)
        if decision in (Decision.SAME, Decision.PLACEHOLDER):
            return None
        if decision.copies:
            self.stats.to_copy += 1
            self.stats.to_copy_bytes += info.size
        if self.options.dry_run:
            self._preview(info, record, found, decision)
            return None
        return decision

    def _count(self, decision: Decision, size: int) -> None:
        self.stats.decisions[decision] = self.stats.decisions.get(decision, 0) + 1
        self.stats.decision_bytes[decision] = self.stats.decision_bytes.get(decision, 0) + size

    def _preview(
        self, info: ObjectInfo, record: ObjectRecord | None, found: ObjectInfo | None, decision: Decision
    ) -> None:
        """A dry run names the conflicts the listing already shows (a LOOK would need a request)."""
        if decision == Decision.CONFLICT:
            self._conflict(info, record, found, write=False)

    def listing_retried(self, attempt: int, error: Retryable, wait: float) -> None:
        self.stats.tallies.retries += 1

    async def _work(self, queue: asyncio.Queue[Item | None]) -> None:
        while (item := await queue.get()) is not None:
            try:
                await self._act(item)
            except FATAL as error:
                raise Fatal(error) from None
            if item.queued and self.on_settled is not None:
                self.on_settled(item.info.key)

    async def _look(self, key: str) -> ObjectInfo | None:
        """The destination object's HEAD (with its metadata), or None where nothing is."""
        self.stats.looked += 1
        try:
            found, _ = await with_retries(
                lambda: self.dest.head(self.spec.dest_bucket, self.spec.dest_key(key)), self.options.retry
            )
        except NotFound as error:
            if isinstance(error, BucketNotFound):
                raise
            return None
        return found

    async def _act(self, item: Item) -> None:
        info, record, dest, decision = item.info, item.record, item.dest, item.decision
        try:
            if decision == Decision.LOOK:
                dest = await self._look(info.key)
                decision = judge(info, record, dest, self.options.on_conflict)
            await self._settle(info, record, dest, decision, second_look=False)
        except FATAL:
            raise
        except BucketshiftError as error:
            self._failed(info.key, error, 1)

    async def _settle(
        self,
        info: ObjectInfo,
        record: ObjectRecord | None,
        dest: ObjectInfo | None,
        decision: Decision,
        *,
        second_look: bool,
    ) -> None:
        if decision == Decision.ADOPT and dest is not None:
            self._adopt(info, dest)
        elif decision == Decision.KEEP and dest is not None:
            self._keep(info, dest)
        elif decision == Decision.CONFLICT:
            self._conflict(info, record, dest, write=True)
        elif decision.copies:
            await self._copy(info, record, dest, decision, second_look=second_look)

    async def _copy(
        self,
        info: ObjectInfo,
        record: ObjectRecord | None,
        dest: ObjectInfo | None,
        decision: Decision,
        *,
        second_look: bool,
    ) -> None:
        spec, key = self.spec, info.key
        write = write_for(decision, record, dest, dest_checked=self.options.check_destination or second_look)
        self.manifest.mark_copying(
            spec.name, key, source_etag=info.etag, source_modified=source_version(info), dest_key=spec.dest_key(key)
        )
        try:
            copied = await self.copier.copy(info, write)
        except (PreconditionFailed, AlreadyExists):
            if second_look:
                raise
            # The destination changed between the listing and the write: look again and decide anew.
            found = await self._look(key)
            again = judge(info, record, found, self.options.on_conflict)
            await self._settle(info, record, found, again, second_look=True)
            return
        self._copied(info, copied, decision)
        await self._probe_checksums(spec.dest_key(key))

    def _copied(self, info: ObjectInfo, copied: Copied, decision: Decision) -> None:
        spec, version = self.spec, copied.version
        self.manifest.mark_copied(
            spec.name,
            info.key,
            size=copied.written.size,
            sha256=copied.sha256,
            crc64nvme=copied.crc64nvme,
            source_etag=version.etag,
            source_modified=source_version(version),
            dest_key=spec.dest_key(info.key),
            dest_etag=copied.written.etag,
            attempts=copied.attempts,
            resolution="overwrote-destination" if decision == Decision.OVERWRITE else None,
        )
        self.stats.copied += 1
        self.stats.copied_bytes += copied.written.size

    def _adopt(self, info: ObjectInfo, dest: ObjectInfo) -> None:
        """The destination holds this source version already: recorded, not transferred."""
        origin = dest.copied_from
        self.manifest.mark_copied(
            self.spec.name,
            info.key,
            size=dest.size,
            sha256=dest.sha256 or (origin.sha256 if origin else None),
            crc64nvme=dest.crc64nvme,
            source_etag=info.etag,
            source_modified=source_version(info),
            dest_key=self.spec.dest_key(info.key),
            dest_etag=dest.etag,
            dest_modified=dest.last_modified.isoformat() if dest.last_modified else None,
            attempts=0,
        )
        self.stats.adopted += 1

    def _keep(self, info: ObjectInfo, dest: ObjectInfo) -> None:
        self.manifest.mark_kept(
            self.spec.name,
            info.key,
            source_etag=info.etag,
            source_modified=source_version(info),
            source_size=info.size,
            dest_key=self.spec.dest_key(info.key),
            dest_etag=dest.etag,
            dest_size=dest.size,
            dest_modified=dest.last_modified.isoformat() if dest.last_modified else None,
        )
        self.stats.kept += 1

    def _conflict(self, info: ObjectInfo, record: ObjectRecord | None, dest: ObjectInfo | None, *, write: bool) -> None:
        reason = _changed_reason(record)
        dest_key = self.spec.dest_key(info.key)
        if write:
            self.manifest.mark_conflict(
                self.spec.name,
                info.key,
                reason,
                dest_key=dest_key,
                dest_etag=dest.etag if dest else None,
                dest_size=dest.size if dest else None,
                dest_modified=dest.last_modified.isoformat() if dest and dest.last_modified else None,
            )
        self.stats.conflicts += 1
        found_size, found_time = (dest.size, dest.last_modified) if dest else (None, None)
        self.report.conflicts.append(
            Conflict(info.key, dest_key, info.size, info.last_modified, found_size, found_time, reason)
        )

    def _failed(self, key: str, error: BucketshiftError, attempts: int) -> None:
        self.manifest.mark_failed(self.spec.name, key, str(error), attempts)
        self.stats.failed += 1
        self.report.failures.append(Failure(key, str(error), type(error).__name__))

    async def _probe_checksums(self, dest_key: str) -> None:
        """Once a run: does the destination keep the checksums its writes carried?  Said if not."""
        if self.probed or not self.dest.writes_checksums:
            return
        self.probed = True
        try:
            stored = await self.dest.head_checksums(self.spec.dest_bucket, dest_key)
        except BucketshiftError:
            return
        if stored.sha256 is None and stored.crc64nvme is None and self.dest.writes_checksums:
            self.report.notes.append(
                f"destination bucket {self.spec.dest_bucket} keeps no checksum of the objects written: the store did "
                "not check the bodies; verify compares ETags and recorded checksums instead (use verify --deep)"
            )

    async def _describe(self, info: ObjectInfo) -> ObjectInfo:
        """Stores whose reads omit user metadata (Supabase) are asked for it once per object."""
        if self.options.requests is not None:
            await self.options.requests.acquire()
        self.stats.tallies.source_requests += 1
        found, _ = await with_retries(lambda: self.source.head(self.spec.source_bucket, info.key), self.options.retry)
        return found


async def transfer(
    source: ObjectStore,
    dest: ObjectStore,
    specs: list[MappingSpec],
    manifest: ManifestStore,
    options: TransferOptions,
    *,
    reports: list[MappingReport] | None = None,
    listings: dict[str, object] | None = None,
) -> list[MappingReport]:
    """Copy (or, with `dry_run`, only plan) every mapping in turn; returns one report each.

    `reports` may be passed in pre-made so a caller can watch their live stats.
    """
    out = reports if reports is not None else [MappingReport(spec) for spec in specs]
    for report in out:
        listing = (listings or {}).get(report.spec.name)
        await MappingRun(source, dest, report.spec, manifest, options, report, listing, options.budget).run()
    return out

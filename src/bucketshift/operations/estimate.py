"""`estimate`: what a copy will move, the requests each side will serve, what that costs and how
long it takes, before a byte moves.

The listing is the copy's own (same store, same pages), classified against the manifest and the
destination listing exactly as the copy decides (`diff.classify`, a destination HEAD where the
copy would make one); `engine/requests_model.py` turns the decisions into requests.  Nothing is
written: the manifest is opened as a preview, and the time probe only reads (see `_probe`).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bucketshift.config import Plan, S3Endpoint
from bucketshift.engine.diff import ConflictPolicy, Decision, MappingSpec, classify, judge, write_for
from bucketshift.engine.listing import list_pages
from bucketshift.engine.manifest import ManifestStore
from bucketshift.engine.requests_model import (
    Action,
    ListingKind,
    Planned,
    Requests,
    Side,
    Traits,
    copy_seconds,
    count_mapping,
)
from bucketshift.engine.shard import Shard
from bucketshift.errors import BucketNotFound, NotFound, PreconditionFailed
from bucketshift.operations.context import ListFrom, open_context
from bucketshift.operations.reconcile import can_reconcile
from bucketshift.prices import GB, Prices, prices_for
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ListPage, MultipartUploads, ObjectInfo, ObjectStore

__all__ = ["BucketEstimate", "CostEstimate", "Estimate", "Probe", "TimeEstimate", "estimate"]

PROBE_OBJECTS = 5
PROBE_BYTES = 2 * 1024 * 1024
"""Bytes read of each probed object at most (the rest of the answer is dropped)."""
PROBE_READ_SECONDS = 0.2
"""Seconds one probe read streams at most: 5 objects read twice stay within about 2 s."""
PROBE_KEY = ".bucketshift-probe/"
PROBE_PUTS = 2


@dataclass(frozen=True)
class BucketEstimate:
    mapping: str
    source_bucket: str
    dest_bucket: str
    objects: int
    bytes: int
    objects_to_copy: int
    bytes_to_copy: int
    source_gets: int
    source_lists: int
    source_list_queries: int
    source_heads: int
    dest_lists: int
    dest_puts: int
    multipart_uploads: int
    multipart_parts: int
    dest_heads: int
    heads: int
    stored_bytes: int
    dest_exists: bool
    """False before `provision`: counted as the empty bucket the copy will find once it is made."""
    """What the destination holds for this mapping once copied (placeholders left out)."""
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CostEstimate:
    egress_usd: float
    put_requests_usd: float
    get_requests_usd: float
    storage_month_usd: float
    total_once_usd: float
    """Egress and requests: paid once, by the copy (storage is paid every month after)."""
    prices: Prices
    prices_date: str
    prices_source: str


@dataclass(frozen=True)
class Probe:
    """What the short probe measured: seconds to answer one request sent alone, the speed-up the same
    requests showed when sent at once (`*_parallel`), and the rates bodies moved at."""

    source_probed: int = 0
    source_seconds: float = 0.0
    source_bytes: int = 0
    source_bytes_per_second: float = 0.0
    source_parallel: float = 1.0
    dest_probed: int = 0
    dest_seconds: float = 0.0
    dest_parallel: float = 1.0
    dest_put_bytes: int = 0
    dest_bytes_per_second: float = 0.0
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class TimeEstimate:
    seconds: float | None
    how: str
    probe: Probe | None = None


@dataclass(frozen=True)
class Estimate:
    buckets: list[BucketEstimate]
    requests: dict[str, int]
    cost: CostEstimate
    time: TimeEstimate
    listed_from: str

    @property
    def objects_to_copy(self) -> int:
        return sum(b.objects_to_copy for b in self.buckets)

    @property
    def bytes_to_copy(self) -> int:
        return sum(b.bytes_to_copy for b in self.buckets)


def traits_of(source: ObjectStore, dest: ObjectStore) -> Traits:
    """The request rules of this pair of stores (as the engine reads them off the stores)."""
    multipart = isinstance(dest, MultipartUploads)
    return Traits(
        metadata_per_object=not source.read_includes_metadata and not source.listing_includes_metadata,
        multipart=multipart,
        multipart_threshold=dest.multipart_threshold if multipart else 0,  # type: ignore[attr-defined]
        part_size=dest.part_size if multipart else 0,  # type: ignore[attr-defined]
        dest_conditional_writes=dest.supports_if_match,
        dest_checksum_probe=dest.writes_checksums,
    )


def _listing_kind(store: ObjectStore, *, api: bool = False) -> ListingKind:
    if store.kind == "supabase":
        from_db = not api and getattr(store, "list_from", "api") == "db"
        return ListingKind.DATABASE if from_db else ListingKind.SUPABASE_API
    return ListingKind.S3 if store.kind == "s3" else ListingKind.LOCAL


class _Counted:
    """A page fetcher that counts its calls (each one request, see `ObjectStore.list_page`)."""

    def __init__(self, fetch: Callable[[str, str, str | None], Awaitable[ListPage]]) -> None:
        self.fetch, self.pages = fetch, 0

    async def __call__(self, bucket: str, prefix: str, token: str | None) -> ListPage:
        self.pages += 1
        return await self.fetch(bucket, prefix, token)


async def _drain(pages: AsyncIterator[ObjectInfo]) -> None:
    async for _ in pages:
        pass


@dataclass
class _Mapping:
    spec: MappingSpec
    planned: list[tuple[ObjectInfo, Planned]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    placeholder_bytes: int = 0
    dest_exists: bool = True
    requests: Requests = field(default_factory=Requests)


async def _plan_mapping(
    source: ObjectStore,
    dest: ObjectStore,
    spec: MappingSpec,
    manifest: ManifestStore,
    traits: Traits,
    *,
    retry: RetryPolicy,
    reconcile: bool,
    keep_placeholders: bool,
    on_conflict: ConflictPolicy,
    shard: Shard | None = None,
) -> _Mapping:
    """List both sides as the copy does and decide each object as it would; count the requests."""
    out = _Mapping(spec)
    listings: list[tuple[int, ListingKind]] = []
    if reconcile and can_reconcile(source):
        api = _Counted(source.api_list_page)  # type: ignore[attr-defined]
        rows = _Counted(source.database_list_page)  # type: ignore[attr-defined]
        await _drain(list_pages(api, spec.source_bucket, "", retry))
        await _drain(list_pages(rows, spec.source_bucket, "", retry))
        listings += [(api.pages, ListingKind.SUPABASE_API), (rows.pages, ListingKind.DATABASE)]
    records = manifest.records(spec.name)
    dest_pages = _Counted(dest.list_page)
    try:
        index = {i.key: i async for i in list_pages(dest_pages, spec.dest_bucket, spec.prefix, retry)}
    except BucketNotFound:
        # Not provisioned yet (plan, migrate --dry-run): the copy will list it empty, in one page.
        index, dest_pages.pages, out.dest_exists = {}, 1, False
    listed = _Counted(source.list_page)
    async for info in list_pages(listed, spec.source_bucket, "", retry):
        if shard is not None and not shard.in_shard(info.key):
            continue  # another shard's: listed (every shard lists the whole bucket), never read
        record = records.get(info.key)
        found = index.get(spec.dest_key(info.key))
        decision = classify(
            info, record, dest=found, dest_checked=True, keep_placeholders=keep_placeholders, on_conflict=on_conflict
        )
        looked = decision == Decision.LOOK
        if looked:
            found = await _look(dest, spec, info.key, retry)
            decision = judge(info, record, found, on_conflict)
        out.decisions[decision] = out.decisions.get(decision, 0) + 1
        if decision == Decision.PLACEHOLDER:
            out.placeholder_bytes += info.size
        if decision.copies:
            write = write_for(decision, record, found, dest_checked=True)
            planned = Planned(info.size, Action.COPY, looked=looked, if_match=write.if_match is not None)
        else:
            planned = Planned(info.size, Action.SKIP, looked=looked)
        out.planned.append((info, planned))
    listings.append((listed.pages, _listing_kind(source)))
    out.requests = count_mapping(
        (p for _, p in out.planned), traits, source_listings=listings, dest_list_pages=dest_pages.pages
    )
    return out


async def _look(dest: ObjectStore, spec: MappingSpec, key: str, retry: RetryPolicy) -> ObjectInfo | None:
    """The HEAD the copy makes for an object the listing cannot place (its answer decides)."""
    try:
        found, _ = await with_retries(lambda: dest.head(spec.dest_bucket, spec.dest_key(key)), retry)
    except NotFound as error:
        if isinstance(error, BucketNotFound):
            raise
        return None
    return found


def _bucket(m: _Mapping) -> BucketEstimate:
    r = m.requests
    copies = [p for _, p in m.planned if p.action == Action.COPY]
    return BucketEstimate(
        mapping=m.spec.name,
        source_bucket=m.spec.source_bucket,
        dest_bucket=m.spec.dest_bucket,
        objects=len(m.planned),
        bytes=sum(p.size for _, p in m.planned),
        objects_to_copy=len(copies),
        bytes_to_copy=sum(p.size for p in copies),
        source_gets=r.source_gets,
        source_lists=r.source_lists,
        source_list_queries=r.source_list_queries,
        source_heads=r.source_heads,
        dest_lists=r.dest_lists,
        dest_puts=r.dest_puts,
        multipart_uploads=r.multipart_uploads,
        multipart_parts=r.multipart_parts,
        dest_heads=r.dest_heads,
        heads=r.heads,
        stored_bytes=sum(p.size for _, p in m.planned) - m.placeholder_bytes,
        dest_exists=m.dest_exists,
        decisions={str(k): v for k, v in sorted(m.decisions.items())},
    )


def _cost(buckets: list[BucketEstimate], total: Requests, prices: Prices) -> CostEstimate:
    moved = sum(b.bytes_to_copy for b in buckets)
    stored = sum(b.stored_bytes for b in buckets)
    egress = moved / GB * prices.source_egress_per_gb
    puts = total.dest_put_class / 1000 * prices.put_per_1000
    gets = total.dest_get_class / 1000 * prices.get_per_1000
    storage = stored / GB * prices.storage_per_gb_month
    return CostEstimate(
        egress_usd=round(egress, 6),
        put_requests_usd=round(puts, 6),
        get_requests_usd=round(gets, 6),
        storage_month_usd=round(storage, 6),
        total_once_usd=round(egress + puts + gets, 6),
        prices=prices,
        prices_date=prices.date,
        prices_source=prices.source,
    )


def _totals(total: Requests) -> dict[str, int]:
    return {
        "source_gets": total.source_gets,
        "source_heads": total.source_heads,
        "source_lists": total.source_lists,
        "source_list_queries": total.source_list_queries,
        "dest_lists": total.dest_lists,
        "dest_puts": total.dest_puts,
        "multipart_uploads": total.multipart_uploads,
        "multipart_parts": total.multipart_parts,
        "multipart_requests": total.multipart_requests,
        "dest_heads": total.dest_heads,
        "heads": total.heads,
        "dest_put_class": total.dest_put_class,
        "dest_get_class": total.dest_get_class,
    }


async def estimate(
    plan: Plan,
    *,
    state: str | Path | None = None,
    only: list[str] | None = None,
    list_from: ListFrom = "auto",
    probe: bool = True,
    reconcile: bool = True,
    keep_placeholders: bool = False,
    on_conflict: ConflictPolicy = "report",
    concurrency: int | None = None,
    shard: Shard | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Estimate:
    """The estimate of `bucketshift copy` with the same options; writes nothing anywhere.

    `reconcile`, `keep_placeholders` and `on_conflict` are the copy's options of the same names
    (they change what it lists and decides), `concurrency` overrides `[transfer] concurrency` as
    `copy --concurrency` does; `probe=False` leaves the time out.
    """
    retry = RetryPolicy()
    async with open_context(plan, state=state, only=only, preview=True, list_from=list_from) as ctx:
        traits = traits_of(ctx.source, ctx.dest)
        mappings = []
        for spec in ctx.specs:
            mappings.append(
                await _plan_mapping(
                    ctx.source,
                    ctx.dest,
                    spec,
                    ctx.manifest,
                    traits,
                    retry=retry,
                    reconcile=reconcile,
                    keep_placeholders=keep_placeholders,
                    on_conflict=on_conflict,
                    shard=shard,
                )
            )
        listed_from = _listing_kind(ctx.source).value
        timing = TimeEstimate(None, "not measured (--no-probe)")
        if probe:
            timing = await _time(ctx.source, ctx.dest, mappings, concurrency or plan.transfer.concurrency, clock)
    buckets = [_bucket(m) for m in mappings]
    total = sum((m.requests for m in mappings), Requests())
    region = plan.destination.region if isinstance(plan.destination, S3Endpoint) else None
    cost = _cost(buckets, total, prices_for(region, plan.prices))
    return Estimate(buckets, _totals(total), cost, timing, listed_from)


# time --------------------------------------------------------------------------------------


async def _time(
    source: ObjectStore,
    dest: ObjectStore,
    mappings: list[_Mapping],
    concurrency: int,
    clock: Callable[[], float],
) -> TimeEstimate:
    copies = [(m.spec, info, p) for m in mappings for info, p in m.planned if p.action == Action.COPY]
    total = sum((m.requests for m in mappings), Requests())
    if not copies:
        return TimeEstimate(0.0, "nothing to copy: no time to measure")
    existing = {m.spec.dest_bucket for m in mappings if m.dest_exists}
    measured = await _probe(source, dest, copies, existing, clock)
    moved = sum(p.size for _, _, p in copies)
    down = measured.source_bytes_per_second
    read = Side(total.source_gets + total.source_heads, measured.source_seconds, measured.source_parallel,
                measured.source_probed, down)  # fmt: skip
    write = Side(total.dest_puts + total.multipart_requests + total.dest_heads, measured.dest_seconds,
                 measured.dest_parallel, measured.dest_probed, measured.dest_bytes_per_second or down)  # fmt: skip
    seconds = copy_seconds(read, write, moved, concurrency)
    upload = (
        f"{measured.dest_bytes_per_second / 1e6:.1f} MB/s up (the faster of two "
        f"{measured.dest_put_bytes / 1e6:.1f} MB PUTs made to fail their If-Match, so nothing landed)"
        if measured.dest_bytes_per_second
        else "upload rate not measured (taken as the download rate)"
    )
    m = measured
    trips = "HEADs" if existing else "HeadBucket requests (no destination bucket exists yet)"
    how = (
        f"probe of {m.wall_seconds:.1f} s, {m.source_probed} source objects read (at most "
        f"{PROBE_BYTES // (1024 * 1024)} MiB each) one after another then at once: "
        f"{m.source_seconds * 1000:.1f} ms to answer, {m.source_bytes_per_second / 1e6:.1f} MB/s down, "
        f"{m.source_parallel:.1f}x faster at once; {m.dest_probed} destination {trips} the same way: "
        f"{m.dest_seconds * 1000:.1f} ms, {m.dest_parallel:.1f}x at once; {upload}; modelled at concurrency "
        f"{concurrency}, source and destination times added"
    )
    return TimeEstimate(round(seconds, 3), how, measured)


async def _probe(
    source: ObjectStore,
    dest: ObjectStore,
    copies: list[tuple[MappingSpec, ObjectInfo, Planned]],
    existing: set[str],
    clock: Callable[[], float],
) -> Probe:
    """Time a few real reads at the source and HEADs at the destination, in turn then at once, and
    two PUTs at the destination that cannot land.

    Nothing is written on purpose: the estimate runs in `plan` and `migrate --dry-run`, which promise
    to change nothing, and a probe object written at a live destination (even deleted at once) could
    fire the application's bucket notifications or replication.  The upload rate is measured with a
    PUT under `If-Match` of an ETag no object has, at a fresh `.bucketshift-probe/<uuid>` key: the
    store receives the body and refuses it (412, or 404 for no such key).  A store that wrote it all
    the same (one ignoring If-Match) gets it deleted at once.  Before `provision` no destination
    bucket exists: the round trip is then a HeadBucket, and the upload rate is taken as the download's.
    """
    started = clock()
    chosen = _spread(copies, PROBE_OBJECTS)
    target = min(existing) if existing else chosen[0][0].dest_bucket
    probe_keys = [f"{PROBE_KEY}{uuid.uuid4().hex}" for _ in chosen]
    sample: list[bytes] = []

    async def read(item: tuple[MappingSpec, ObjectInfo, Planned], keep: bool = False) -> tuple[float, float, int]:
        m, info, _ = item
        begun = clock()
        got = 0
        async with source.open(m.source_bucket, info.key) as reader:
            answered = clock()
            async for chunk in reader:  # type: ignore[attr-defined]
                got += len(chunk)
                if keep:
                    sample.append(chunk)
                if got >= PROBE_BYTES or clock() - answered > PROBE_READ_SECONDS:
                    break
        return answered - begun, clock() - answered, got

    async def head(key: str) -> float:
        begun = clock()
        try:
            if existing:
                await dest.head(target, key)
            else:
                await dest.bucket_exists(target)
        except NotFound as error:
            if isinstance(error, BucketNotFound):
                raise
        return clock() - begun

    serial_reads = [await read(item, keep=item is chosen[-1]) for item in chosen]
    await head(probe_keys[0])  # the first answer pays for the connection (and S3's one bucket check)
    serial_heads = [await head(key) for key in probe_keys]
    begun = clock()
    await asyncio.gather(*(read(item) for item in chosen))
    reads_at_once = clock() - begun
    begun = clock()
    await asyncio.gather(*(head(key) for key in probe_keys))
    heads_at_once = clock() - begun
    body = b"".join(sample)
    put_seconds = None
    for _ in range(PROBE_PUTS if existing else 0):  # the faster of two: one slow answer is noise, not the rate
        took = await _refused_put(dest, target, f"{PROBE_KEY}{uuid.uuid4().hex}", body, clock)
        put_seconds = took if put_seconds is None or (took is not None and took < put_seconds) else put_seconds
    dest_latency = statistics.median(serial_heads)
    streamed = sum(r[1] for r in serial_reads)
    got = sum(r[2] for r in serial_reads)
    uploading = (put_seconds or 0.0) - dest_latency
    return Probe(
        source_probed=len(chosen),
        source_seconds=statistics.median(r[0] for r in serial_reads),
        source_bytes=got,
        source_bytes_per_second=got / streamed if streamed > 0 else 0.0,
        source_parallel=sum(r[0] + r[1] for r in serial_reads) / reads_at_once if reads_at_once > 0 else 1.0,
        dest_probed=len(probe_keys),
        dest_seconds=dest_latency,
        dest_parallel=sum(serial_heads) / heads_at_once if heads_at_once > 0 else 1.0,
        dest_put_bytes=len(body) if put_seconds is not None else 0,
        dest_bytes_per_second=len(body) / uploading if put_seconds is not None and uploading > 0 and body else 0.0,
        wall_seconds=clock() - started,
    )


async def _refused_put(
    dest: ObjectStore, bucket: str, key: str, body: bytes, clock: Callable[[], float]
) -> float | None:
    """Seconds a PUT of `body` took to be refused for its If-Match; None where it cannot be measured."""
    if not body or not dest.supports_if_match:
        return None
    begun = clock()
    try:
        await dest.put(bucket, key, body, size=len(body), if_match=_NO_SUCH_ETAG)
    except (PreconditionFailed, NotFound) as error:
        if isinstance(error, BucketNotFound):
            raise
        return clock() - begun
    await dest.delete(bucket, key)
    return None


_NO_SUCH_ETAG = "bucketshift-probe-no-object-has-this-etag"


def _spread(
    items: list[tuple[MappingSpec, ObjectInfo, Planned]], n: int
) -> list[tuple[MappingSpec, ObjectInfo, Planned]]:
    """Up to `n` objects spread over the sizes (smallest to largest), so one giant does not decide."""
    ordered = sorted(items, key=lambda item: item[2].size)
    if len(ordered) <= n:
        return ordered
    step = (len(ordered) - 1) / (n - 1)
    return [ordered[round(i * step)] for i in range(n)]

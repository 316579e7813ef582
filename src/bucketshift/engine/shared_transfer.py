"""The transfer as one worker of a shared run: the same decisions and actions as one process
(`transfer.MappingRun`), fed from the run's PostgreSQL queue instead of this process's listing.

Each mapping in turn: whenever it has room for a batch, the worker claims a batch of queued
objects for its workers; when the shared queue runs short (a claim comes back with less than a
batch) it lists the next page, if no other worker is listing it.  So the listing stays about a
page ahead of the copying, as one process's listing stays a bounded queue ahead, and a bucket of
millions is not queued whole before the first copy.  A row claimed before (its worker died
with it) is looked at first at the destination: an object written just before the kill carries
its source version there, so it is adopted, not read again.  The mapping is done for this
worker when nothing is left to list or claim and no live worker holds a row (a row whose
holder stops renewing is claimed when its lease runs out).  A lease renewer renews everything
held, every quarter lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bucketshift.engine.diff import Decision, MappingSpec
from bucketshift.engine.manifest_postgres import PostgresManifest
from bucketshift.engine.shared_run import Claimed, Queued, SharedRun, Unit
from bucketshift.engine.transfer import FATAL, Fatal, Item, MappingReport, MappingRun, TransferOptions
from bucketshift.errors import BucketshiftError
from bucketshift.retry import with_retries
from bucketshift.stores.base import ListPage, ObjectInfo, ObjectStore

__all__ = ["POLL_SECONDS", "transfer_shared"]

POLL_SECONDS = 0.2
"""How often a worker with nothing to claim asks again while others still hold rows."""
ROOM_SECONDS = 0.01
"""How often a worker whose own queue holds a batch looks for room (no round trip)."""

T = TypeVar("T")


async def _db(call: Callable[..., T], *args: Any) -> T:
    """A blocking round trip to the state, off the event loop."""
    return await asyncio.to_thread(call, *args)


class _SharedFeed:
    """Feeds one mapping's workers from the shared run."""

    def __init__(self, run: MappingRun, shared: SharedRun, manifest: PostgresManifest) -> None:
        self.run, self.shared, self.manifest = run, shared, manifest
        self.mapping = run.spec.name
        self.dest_index: dict[str, ObjectInfo] | None = None
        self.indexed = False

    async def feed(self, queue: asyncio.Queue[Item | None], workers: int) -> None:
        batch = max(1, self.run.options.concurrency)
        listing = True  # until this worker sees the listing finished: then it stops asking for pages
        try:
            while True:
                if queue.qsize() >= batch:
                    await asyncio.sleep(ROOM_SECONDS)
                    continue
                claimed = await _db(self.shared.claim, self.mapping, batch)
                for one in claimed:
                    self.run.stats.queued += 1
                    await queue.put(self._item(one))
                if len(claimed) == batch:
                    continue
                if listing:
                    unit = await _db(self.shared.claim_unit, self.mapping)
                    if unit is not None:
                        await self._list(unit)
                        continue
                if claimed:
                    continue
                progress = await _db(self.shared.progress, self.mapping)
                listing = progress.open_units > 0
                if progress.finished:
                    break
                await asyncio.sleep(POLL_SECONDS)
        except FATAL as error:
            raise Fatal(error) from None
        finally:
            self.run.stats.listing_done = True
        for _ in range(workers):
            await queue.put(None)

    def _item(self, claimed: Claimed) -> Item:
        decision = Decision(claimed.decision)
        if claimed.claims > 1 and decision.copies:
            decision = Decision.LOOK
        return Item(claimed.info, claimed.record, claimed.dest, decision, queued=True)

    async def _list(self, unit: Unit) -> None:
        run = self.run
        if not self.indexed:
            self.dest_index = await run.index_destination()
            self.indexed = True

        def fetch() -> Awaitable[ListPage]:
            return run.source.list_page(run.spec.source_bucket, "", unit.token)

        page, _ = await with_retries(fetch, run.options.retry, on_retry=run.listing_retried)
        records = await _db(self.manifest.records_for, self.mapping, [info.key for info in page.objects])
        queued = []
        for info in page.objects:
            decision = run.decide(info, records.get(info.key), self.dest_index)
            if decision is not None:
                queued.append(Queued(info, decision.value, run.found(info, self.dest_index)))
        await _db(self.shared.finish_unit, unit, queued, page.next_token, len(page.objects))


async def _renew(shared: SharedRun, failures: list[BucketshiftError]) -> None:
    """Every quarter lease; a failed renewal is kept and tried again (the claims may lapse, and
    another worker take them: the writes' conditions keep that safe)."""
    while True:
        await asyncio.sleep(shared.lease / 4)
        try:
            await _db(shared.renew)
        except BucketshiftError as error:
            failures.append(error)


async def transfer_shared(
    source: ObjectStore,
    dest: ObjectStore,
    specs: list[MappingSpec],
    manifest: PostgresManifest,
    options: TransferOptions,
    shared: SharedRun,
    *,
    reports: list[MappingReport] | None = None,
) -> list[MappingReport]:
    """This worker's part of every mapping of the shared run it joined; one report each (what
    this worker did).  Stopping early (an error, a cancel) gives back what it holds."""
    out = reports if reports is not None else [MappingReport(spec) for spec in specs]
    failures: list[BucketshiftError] = []
    renewer = asyncio.create_task(_renew(shared, failures))
    try:
        for report in out:
            run = MappingRun(source, dest, report.spec, manifest, options, report, None, options.budget)
            mapping = report.spec.name
            run.on_settled = lambda key, mapping=mapping: manifest.settle_queued(mapping, key)  # type: ignore[misc]
            await run.run(feed=_SharedFeed(run, shared, manifest).feed)
        manifest.flush()
    except BaseException:
        with contextlib.suppress(BucketshiftError):
            manifest.flush()
        with contextlib.suppress(BucketshiftError):
            await _db(shared.release)
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    return out

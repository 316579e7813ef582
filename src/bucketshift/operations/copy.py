"""`copy` and `sync`: move what is missing or changed, resumably, with a dry run.

With a PostgreSQL `--state`, every process runs as a worker of the one run open there
(`engine.shared_run`): start N of them, anywhere, and they split the work.  A dry run never
joins; it previews from the state as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bucketshift.config import Plan
from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.engine.manifest import ManifestStore
from bucketshift.engine.manifest_postgres import PostgresManifest
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.pacing_shared import SharedTokenBucket
from bucketshift.engine.reconcile import ReconcileReport
from bucketshift.engine.shard import Shard
from bucketshift.engine.shared_run import DEFAULT_LEASE_SECONDS, Joined, SharedRun
from bucketshift.engine.shared_transfer import transfer_shared
from bucketshift.engine.state import is_dsn
from bucketshift.engine.transfer import MappingReport, TransferOptions, transfer
from bucketshift.errors import BucketshiftError
from bucketshift.operations.context import Context, ListFrom, mapping_specs, open_context, state_of, state_where
from bucketshift.operations.reconcile import reconcile_buckets
from bucketshift.retry import RetryPolicy

__all__ = ["CopyRequest", "CopyRun"]

Mode = Literal["copy", "sync"]


@dataclass(frozen=True)
class CopyRequest:
    mode: Mode = "copy"
    dry_run: bool = False
    concurrency: int | None = None
    keep_placeholders: bool = False
    max_requests_per_second: float | None = None
    bandwidth: float | None = None
    state: str | Path | None = None
    buckets: list[str] | None = None
    max_attempts: int = 8
    list_from: ListFrom = "auto"
    reconcile: bool = True
    on_conflict: ConflictPolicy = "report"
    shard: Shard | None = None
    """Only this shard's objects (`--shard K/N`), for a migration split by hand across machines."""
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    """A worker of a shared run: how long its claims hold without renewal (a killed worker's
    objects wait this long for another)."""

    def fingerprint(self, mappings: list[str]) -> str:
        """What workers of one shared run must agree on: they decide and act the same way."""
        return json.dumps(
            {
                "mode": self.mode,
                "mappings": mappings,
                "shard": None if self.shard is None else str(self.shard),
                "keep_placeholders": self.keep_placeholders,
                "on_conflict": self.on_conflict,
                "list_from": self.list_from,
                "max_requests_per_second": self.max_requests_per_second,
                "bandwidth": self.bandwidth,
            },
            sort_keys=True,
        )


@dataclass
class CopyRun:
    """One copy or sync: `reports` are live while `run` works, so a caller can draw progress."""

    plan: Plan
    request: CopyRequest
    reports: list[MappingReport] = field(default_factory=list)
    reconciled: list[ReconcileReport] = field(default_factory=list)
    joined: Joined | None = None
    """As a worker of a shared run: the run it joined (or opened)."""
    worker: str | None = None
    run_summary: dict[str, dict[str, int]] | None = None
    """The shared run's summary (every worker's counts), when this worker was the last to leave."""
    coordination_round_trips: int = 0
    """Calls this worker made to coordinate (claims, leases, joining), beside the manifest's writes."""

    def __post_init__(self) -> None:
        self.reports = [MappingReport(spec) for spec in mapping_specs(self.plan, self.request.buckets)]
        self.budget = MemoryBudget(self.plan.transfer.memory_budget)

    @property
    def memory_peak(self) -> int:
        """The most bytes of object bodies held at once (bounded by `[transfer] memory_budget`)."""
        return self.budget.peak

    @property
    def manifest_path(self) -> str | Path:
        """The SQLite file, or the PostgreSQL DSN (never shown: `manifest_where` is)."""
        return state_of(self.plan, self.request.state)

    @property
    def manifest_where(self) -> str:
        return state_where(self.plan, self.request.state)

    @property
    def shared(self) -> bool:
        """Whether this run is one worker of a run shared through a PostgreSQL state."""
        return is_dsn(self.request.state) and not self.request.dry_run

    @property
    def failed(self) -> int:
        return sum(r.stats.failed for r in self.reports)

    @property
    def conflicts(self) -> int:
        return sum(r.stats.conflicts for r in self.reports)

    def options(self) -> TransferOptions:
        request = self.request
        concurrency = request.concurrency or self.plan.transfer.concurrency
        rps = request.max_requests_per_second
        return TransferOptions(
            concurrency=concurrency,
            retry=RetryPolicy(max_attempts=request.max_attempts),
            requests=TokenBucket(rps, burst=max(1.0, rps / 10)) if rps else None,
            bandwidth=TokenBucket(request.bandwidth, burst=request.bandwidth / 4) if request.bandwidth else None,
            dry_run=request.dry_run,
            keep_placeholders=request.keep_placeholders,
            check_destination=request.mode == "copy",
            on_conflict=request.on_conflict,
            budget=self.budget,
            shard=request.shard,
        )

    async def run(self) -> list[MappingReport]:
        async with open_context(
            self.plan,
            state=self.request.state,
            only=self.request.buckets,
            preview=self.request.dry_run,
            list_from=self.request.list_from,
        ) as ctx:
            options = self.options()
            if self.shared:
                assert isinstance(ctx.manifest, PostgresManifest)
                await self._work_shared(ctx.manifest, ctx, options)
                return self.reports
            if self.request.reconcile:
                self.reconciled = await reconcile_buckets(ctx.source, ctx.specs, options.retry)
            run_id = None if self.request.dry_run else ctx.manifest.start_run(self.request.mode)
            await transfer(ctx.source, ctx.dest, ctx.specs, ctx.manifest, options, reports=self.reports)
            if run_id is not None:
                _finish(ctx.manifest, run_id, self.reports)
        return self.reports

    async def _work_shared(self, manifest: PostgresManifest, ctx: Context, options: TransferOptions) -> None:
        """Join the run open in the state (or open it), do a share of it, leave."""
        shared = SharedRun(manifest.dsn, schema=manifest.schema, lease_seconds=self.request.lease_seconds)
        try:
            names = [spec.name for spec in ctx.specs]
            self.worker = shared.id
            self.joined = await asyncio.to_thread(
                shared.join, self.request.mode, self.request.fingerprint(names), names
            )
            if self.request.reconcile and self.joined.opened:
                self.reconciled = await reconcile_buckets(ctx.source, ctx.specs, options.retry)
            limits = _run_wide(options, manifest, self.joined.shared_run)
            try:
                await transfer_shared(ctx.source, ctx.dest, ctx.specs, manifest, options, shared, reports=self.reports)
            except BaseException:
                with contextlib.suppress(BucketshiftError):  # the error that stopped the work is the one to say
                    await asyncio.to_thread(shared.leave, _summary(self.reports))
                raise
            finally:
                for limit in limits:
                    limit.close()
            total = await asyncio.to_thread(shared.leave, _summary(self.reports))
            self.run_summary = None if total is None else dict(total)
        finally:
            self.coordination_round_trips = shared.round_trips
            shared.close()


def _run_wide(options: TransferOptions, manifest: PostgresManifest, shared_run: int) -> list[SharedTokenBucket]:
    """The pacing limits as one bucket per run in the state (the rate and burst each limit has
    alone), so `--max-requests-per-second` and `--bandwidth` bound all workers together."""
    made = []
    for name in ("requests", "bandwidth"):
        local = getattr(options, name)
        if local is not None:
            limit = SharedTokenBucket(
                manifest.dsn, manifest.schema, shared_run, name, rate=local.rate, burst=local.burst
            )
            setattr(options, name, limit)
            made.append(limit)
    return made


def _summary(reports: list[MappingReport]) -> dict[str, dict[str, int]]:
    return {
        r.spec.name: {
            "copied": r.stats.copied,
            "adopted": r.stats.adopted,
            "conflicts": r.stats.conflicts,
            "kept": r.stats.kept,
            "failed": r.stats.failed,
        }
        for r in reports
    }


def _finish(manifest: ManifestStore, run_id: int, reports: list[MappingReport]) -> None:
    manifest.finish_run(run_id, json.dumps(_summary(reports)))

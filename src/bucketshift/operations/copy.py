"""`copy` and `sync`: move what is missing or changed, resumably, with a dry run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bucketshift.config import Plan
from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.engine.manifest import ManifestStore
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.reconcile import ReconcileReport
from bucketshift.engine.shard import Shard
from bucketshift.engine.transfer import MappingReport, TransferOptions, transfer
from bucketshift.operations.context import ListFrom, mapping_specs, open_context, state_of, state_where
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


@dataclass
class CopyRun:
    """One copy or sync: `reports` are live while `run` works, so a caller can draw progress."""

    plan: Plan
    request: CopyRequest
    reports: list[MappingReport] = field(default_factory=list)
    reconciled: list[ReconcileReport] = field(default_factory=list)

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
            if self.request.reconcile:
                self.reconciled = await reconcile_buckets(ctx.source, ctx.specs, options.retry)
            run_id = None if self.request.dry_run else ctx.manifest.start_run(self.request.mode)
            await transfer(ctx.source, ctx.dest, ctx.specs, ctx.manifest, options, reports=self.reports)
            if run_id is not None:
                _finish(ctx.manifest, run_id, self.reports)
        return self.reports


def _finish(manifest: ManifestStore, run_id: int, reports: list[MappingReport]) -> None:
    summary = {
        r.spec.name: {
            "copied": r.stats.copied,
            "adopted": r.stats.adopted,
            "conflicts": r.stats.conflicts,
            "kept": r.stats.kept,
            "failed": r.stats.failed,
        }
        for r in reports
    }
    manifest.finish_run(run_id, json.dumps(summary))

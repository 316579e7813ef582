"""`copy` and `sync`: move what is missing or changed, resumably, with a dry run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bucketshift.config import Plan
from bucketshift.engine.manifest import Manifest
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.reconcile import ReconcileReport
from bucketshift.engine.retry import RetryPolicy
from bucketshift.engine.transfer import MappingReport, TransferOptions, transfer
from bucketshift.operations.context import manifest_path, mapping_specs, open_context
from bucketshift.operations.reconcile import reconcile_buckets

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
    state: Path | None = None
    buckets: list[str] | None = None
    max_attempts: int = 8
    list_from_db: bool = False
    reconcile: bool = True


@dataclass
class CopyRun:
    """One copy or sync: `reports` are live while `run` works, so a caller can draw progress."""

    plan: Plan
    request: CopyRequest
    reports: list[MappingReport] = field(default_factory=list)
    reconciled: list[ReconcileReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reports = [MappingReport(spec) for spec in mapping_specs(self.plan, self.request.buckets)]

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.plan, self.request.state)

    @property
    def failed(self) -> int:
        return sum(r.stats.failed for r in self.reports)

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
        )

    async def run(self) -> list[MappingReport]:
        async with open_context(
            self.plan,
            state=self.request.state,
            only=self.request.buckets,
            preview=self.request.dry_run,
            list_from_db=self.request.list_from_db,
        ) as ctx:
            options = self.options()
            if self.request.reconcile:
                self.reconciled = await reconcile_buckets(ctx.source, ctx.specs, options.retry)
            run_id = None if self.request.dry_run else ctx.manifest.start_run(self.request.mode)
            await transfer(ctx.source, ctx.dest, ctx.specs, ctx.manifest, options, reports=self.reports)
            if run_id is not None:
                _finish(ctx.manifest, run_id, self.reports)
        return self.reports


def _finish(manifest: Manifest, run_id: int, reports: list[MappingReport]) -> None:
    summary = {r.spec.name: {"copied": r.stats.copied, "failed": r.stats.failed} for r in reports}
    manifest.finish_run(run_id, json.dumps(summary))

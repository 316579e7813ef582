"""`verify`: every source object is at the destination with the same size and sha256."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bucketshift.config import Plan
from bucketshift.engine.shard import Shard
from bucketshift.engine.verify import VerifyReport, verify_mapping
from bucketshift.operations.context import ListFrom, mapping_specs, open_context

__all__ = ["VerifyRequest", "VerifyRun"]


@dataclass(frozen=True)
class VerifyRequest:
    deep: bool = False
    keep_placeholders: bool = False
    concurrency: int | None = None
    state: str | Path | None = None
    buckets: list[str] | None = None
    list_from: ListFrom = "auto"
    shard: Shard | None = None
    """Only this shard's objects are checked (`--shard K/N`); the others' are neither missing nor extra."""


@dataclass
class VerifyRun:
    plan: Plan
    request: VerifyRequest
    reports: list[VerifyReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        specs = mapping_specs(self.plan, self.request.buckets)
        self.reports = [VerifyReport(spec, deep=self.request.deep) for spec in specs]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    async def run(self) -> list[VerifyReport]:
        concurrency = min(self.request.concurrency or self.plan.transfer.concurrency, 64)
        async with open_context(
            self.plan, state=self.request.state, only=self.request.buckets, list_from=self.request.list_from
        ) as ctx:
            for report in self.reports:
                await verify_mapping(
                    ctx.source,
                    ctx.dest,
                    report.spec,
                    ctx.manifest,
                    deep=self.request.deep,
                    keep_placeholders=self.request.keep_placeholders,
                    concurrency=concurrency,
                    report=report,
                    shard=self.request.shard,
                )
        return self.reports

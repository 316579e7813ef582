"""Reconciling two listings of one bucket (the Storage API's and `storage.objects`'s) by key and size.

A difference means one of the two ways of seeing the bucket misses something; the copy must
not start believing either blindly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bucketshift.stores.base import ObjectInfo

__all__ = ["ReconcileReport", "reconcile"]

SAMPLE = 50


@dataclass
class ReconcileReport:
    bucket: str
    listed: int = 0
    in_database: int = 0
    only_listed: int = 0
    only_in_database: int = 0
    size_differs: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.only_listed or self.only_in_database or self.size_differs)


async def reconcile(
    bucket: str, listed: AsyncIterator[ObjectInfo], database: AsyncIterator[ObjectInfo]
) -> ReconcileReport:
    """Compare the two listings; keeps up to SAMPLE example keys of each kind of difference."""
    report = ReconcileReport(bucket)
    sizes: dict[str, int] = {}
    async for info in listed:
        report.listed += 1
        sizes[info.key] = info.size
    async for info in database:
        report.in_database += 1
        size = sizes.pop(info.key, None)
        if size is None:
            report.only_in_database += 1
            _sample(report, f"only in storage.objects: {info.key}")
        elif size != info.size:
            report.size_differs += 1
            _sample(report, f"size {size} listed, {info.size} in storage.objects: {info.key}")
    report.only_listed = len(sizes)
    for key in sorted(sizes)[:SAMPLE]:
        _sample(report, f"listed but not in storage.objects: {key}")
    return report


def _sample(report: ReconcileReport, text: str) -> None:
    if len(report.samples) < SAMPLE:
        report.samples.append(text)

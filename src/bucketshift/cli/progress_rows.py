"""The progress rows of each long verb, from its live counters: one builder per kind of work, used
alike by the verb alone and by `migrate`, whose steps are those verbs."""

from __future__ import annotations

from bucketshift.cli.progress import Row
from bucketshift.operations.copy import CopyRun
from bucketshift.operations.rewrite import RewriteRun
from bucketshift.operations.verify import VerifyRun

__all__ = ["rewrite_rows", "transfer_rows", "verify_rows"]


def transfer_rows(run: CopyRun) -> list[Row]:
    rows = []
    for r in run.reports:
        s = r.stats
        note = "" if s.listing_done else f"listing ({s.listed} seen)"
        total = s.queued if s.listing_done else None
        rows.append(Row(r.spec.source_bucket, s.settled, total, s.bytes_moved, s.failed + s.conflicts, note))
    return rows


def verify_rows(run: VerifyRun) -> list[Row]:
    rows = []
    for r in run.reports:
        s = r.stats
        rows.append(Row(r.spec.source_bucket, s.checked, s.checked if s.listing_done else None, s.hashed_bytes,
                        s.missing + s.differing))  # fmt: skip
    return rows


def rewrite_rows(run: RewriteRun) -> list[Row]:
    return [Row(name, s.done, s.total, 0, 0, unit="rows") for name, s in list(run.steps.items())]

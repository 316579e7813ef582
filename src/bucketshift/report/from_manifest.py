"""The report's sections that the manifest alone can tell: totals, throughput and failures.

Every number is counted from the manifest's rows, so the page agrees with the manifest (and
with `bucketshift status`) by construction; nothing is taken from a run's memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import Manifest, ManifestStore, ObjectRecord, State
from bucketshift.engine.reverse import SEEDED
from bucketshift.report.model import BucketTotals, FailureRow, Tally, ThroughputPoint, ThroughputSeries

__all__ = ["ManifestSections", "category", "from_manifest", "throughput_series"]

MAX_POINTS = 60
"""Intervals of the throughput chart at most: a step is the smallest of `_STEPS` that fits."""
_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


@dataclass(frozen=True)
class ManifestSections:
    buckets: tuple[BucketTotals, ...]
    throughput: ThroughputSeries
    failures: tuple[FailureRow, ...]


def category(record: ObjectRecord) -> str:
    """Where one row counts in `BucketTotals` (besides planned, and verified for verified rows).

    A way-back row seeded from the forward copy (`SEEDED`: in sync at cut-over) moved no byte back:
    it counts as skipped, like an adopted one."""
    if record.state in (State.COPIED, State.VERIFIED):
        adopted = record.resolution in (None, SEEDED) and record.attempts == 0
        return "skipped" if record.kept or adopted else "copied"
    if record.state == State.FAILED:
        return "failed"
    if record.state == State.CONFLICT:
        return "conflicts"
    return "pending"


def _add(tallies: dict[str, Tally], name: str, size: int | None) -> None:
    old = tallies.get(name, Tally())
    tallies[name] = Tally(old.objects + 1, old.bytes + (size or 0))


def _totals(spec: MappingSpec, records: Iterable[ObjectRecord]) -> tuple[BucketTotals, list[ObjectRecord]]:
    """The totals of one mapping, and its rows that count as copied (for the throughput)."""
    tallies: dict[str, Tally] = {}
    copied: list[ObjectRecord] = []
    unsized = 0
    for record in records:
        unsized += record.size is None
        _add(tallies, "planned", record.size)
        where = category(record)
        _add(tallies, where, record.size)
        if record.state == State.VERIFIED:
            _add(tallies, "verified", record.size)
        if where == "copied":
            copied.append(record)
    get = tallies.get
    totals = BucketTotals(
        bucket=spec.source_bucket,
        destination=spec.dest_bucket,
        planned=get("planned", Tally()),
        copied=get("copied", Tally()),
        skipped=get("skipped", Tally()),
        verified=get("verified", Tally()),
        failed=get("failed", Tally()),
        conflicts=get("conflicts", Tally()),
        pending=get("pending", Tally()),
        unsized=unsized,
    )
    return totals, copied


def _failure(spec: MappingSpec, record: ObjectRecord) -> FailureRow | None:
    """A row worth a line: failed, a conflict, or taken back by verify (pending with a reason)."""
    if record.state in (State.FAILED, State.CONFLICT) or (record.state == State.PENDING and record.last_error):
        reason = record.last_error or "no reason recorded"
        return FailureRow(spec.source_bucket, record.key, reason, record.attempts, record.state.value)
    return None


def throughput_series(finished: Sequence[tuple[datetime, int]], *, max_points: int = MAX_POINTS) -> ThroughputSeries:
    """(finishing time, bytes) of each copy, summed into equal intervals from the first to the last."""
    if not finished:
        return ThroughputSeries(None, 1.0, ())
    start = min(when for when, _ in finished)
    span = max((when - start).total_seconds() for when, _ in finished)
    step = next((s for s in _STEPS if span / s < max_points), float(math.ceil(span / max_points)))
    count = int(span // step) + 1
    sizes, objects = [0] * count, [0] * count
    for when, size in finished:
        index = min(int((when - start).total_seconds() // step), count - 1)
        sizes[index] += size
        objects[index] += 1
    points = tuple(ThroughputPoint(round(i * step, 6), sizes[i], objects[i]) for i in range(count))
    return ThroughputSeries(start, float(step), points)


def from_manifest(state: Path | ManifestStore, specs: Sequence[MappingSpec]) -> ManifestSections:
    """Totals per mapping, the throughput of everything copied, and every failure, from one manifest
    (a SQLite file, opened here for reading only, or a store the caller opened)."""
    if isinstance(state, Path):
        with Manifest(state, read_only=True) as manifest:
            return from_manifest(manifest, specs)
    buckets: list[BucketTotals] = []
    failures: list[FailureRow] = []
    finished: list[tuple[datetime, int]] = []
    for spec in specs:
        records = list(state.iter_records(spec.name))
        totals, copied = _totals(spec, records)
        buckets.append(totals)
        failures += [row for record in records if (row := _failure(spec, record)) is not None]
        times = state.copy_times(spec.name) if copied else {}
        for record in copied:
            when = times.get(record.key)
            if when is not None:
                finished.append((datetime.fromisoformat(when), record.size or 0))
    return ManifestSections(tuple(buckets), throughput_series(finished), tuple(failures))

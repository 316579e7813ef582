"""What a report says, as plain frozen data: every verb that writes a report fills what it knows.

A section left as None was not part of the run (the page says so); an empty one was part of it
and found nothing (no failures, say).  Nothing here holds a secret: buckets, keys, columns and
counts only, never the plan's keys or DSNs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "BUCKET_FIELDS",
    "SECTIONS",
    "BucketTotals",
    "CheckLine",
    "ColumnRewrite",
    "EstimateLine",
    "EstimateVsActual",
    "FailureRow",
    "PostureRow",
    "Report",
    "Tally",
    "ThroughputPoint",
    "ThroughputSeries",
]

SECTIONS = (
    ("checklist", "Checklist"),
    ("buckets", "Objects per bucket"),
    ("throughput", "Throughput"),
    ("rewrite", "URL rewrite per column"),
    ("failures", "Failures"),
    ("posture", "Posture per bucket"),
    ("estimate", "Estimate and actual cost"),
)
"""Every section of a report, in page order: (element id, heading)."""


@dataclass(frozen=True)
class Tally:
    """Objects and the bytes of those whose size the manifest knows."""

    objects: int = 0
    bytes: int = 0


BUCKET_FIELDS = ("planned", "copied", "skipped", "verified", "failed", "conflicts", "pending")


@dataclass(frozen=True)
class BucketTotals:
    """One mapping's objects by what happened to them, as its manifest rows say.

    - planned: every object the manifest has a row for.
    - copied: at the destination, written there by bucketshift.
    - skipped: at the destination without bucketshift writing it: adopted (the destination already
      held the source's bytes, recorded with no transfer attempt) or kept (a conflict settled with
      `--keep-destination-changes`).  Placeholders are never recorded, so they are not counted.
    - verified: the part of copied + skipped that verify confirmed.
    - failed, conflicts: rows in those states.
    - pending: not done yet: never finished, in flight when a run stopped, or taken back by verify.

    planned = copied + skipped + failed + conflicts + pending.  Bytes are the source sizes the
    manifest records; `unsized` objects (failed before any byte was read, say) add no bytes.
    """

    bucket: str
    destination: str
    planned: Tally
    copied: Tally
    skipped: Tally
    verified: Tally
    failed: Tally
    conflicts: Tally
    pending: Tally
    unsized: int = 0

    def tally(self, name: str) -> Tally:
        if name not in BUCKET_FIELDS:
            raise KeyError(name)
        value: Tally = getattr(self, name)
        return value


@dataclass(frozen=True)
class ThroughputPoint:
    """Objects whose copy finished in [offset, offset + step) seconds after the series started."""

    offset: float
    bytes: int
    objects: int


@dataclass(frozen=True)
class ThroughputSeries:
    """Bytes copied over time, from each object's finishing time: an object counts whole in the
    interval its copy ended in, so one large object shows as a spike, not a plateau."""

    started: datetime | None
    step: float
    points: tuple[ThroughputPoint, ...]

    @property
    def total_bytes(self) -> int:
        return sum(p.bytes for p in self.points)

    @property
    def total_objects(self) -> int:
        return sum(p.objects for p in self.points)

    def rate(self, point: ThroughputPoint) -> float:
        """Bytes per second over one interval."""
        return point.bytes / self.step if self.step > 0 else 0.0


@dataclass(frozen=True)
class ColumnRewrite:
    """One database column: URLs rewritten to S3 form, URLs still in Supabase form, and values left
    alone because their new form would not fit the column."""

    column: str
    rewritten: int
    still_supabase: int
    too_long: int


@dataclass(frozen=True)
class FailureRow:
    bucket: str
    key: str
    reason: str
    attempts: int
    state: str = "failed"
    """The manifest state: failed, conflict, or pending (taken back by verify, with its reason)."""


@dataclass(frozen=True)
class PostureRow:
    bucket: str
    access: str
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimateLine:
    label: str
    estimated: float
    actual: float | None
    unit: str


@dataclass(frozen=True)
class EstimateVsActual:
    lines: tuple[EstimateLine, ...]
    note: str = ""
    """Where the figures come from (price list date, how the probe was measured)."""


@dataclass(frozen=True)
class CheckLine:
    """One line of a checklist: a step of a phase, or a line of `status`; `ok` None: not applicable
    (or, for a step, not run)."""

    group: str
    label: str
    ok: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Report:
    title: str
    generated_at: datetime
    plan_name: str
    command: str
    buckets: tuple[BucketTotals, ...] | None = None
    throughput: ThroughputSeries | None = None
    rewrite: tuple[ColumnRewrite, ...] | None = None
    failures: tuple[FailureRow, ...] | None = None
    posture: tuple[PostureRow, ...] | None = None
    estimate: EstimateVsActual | None = None
    checklist: tuple[CheckLine, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    way_back: bool = False
    """A rollback's page: the rewrite turns S3 forms back into Supabase URLs."""

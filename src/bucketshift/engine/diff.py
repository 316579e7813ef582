"""Decide, object by object, what a copy or sync must do (rclone style: the diff is separate
from the actions taken on it, so copy, sync and verify share it).

The destination is live: from the first copy on, the application may write there.  So an
object is written only where bucketshift may write it, and every write carries the condition
that makes that true at the moment it lands (`Write`): where nothing is (create-only), or over
exactly the version bucketshift wrote (If-Match its ETag).  Anything else at the destination is
the application's, and is a conflict unless it already holds the source's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from bucketshift.engine.manifest import ObjectRecord, State
from bucketshift.stores.base import PLACEHOLDER_NAME, ObjectInfo

__all__ = [
    "ConflictPolicy",
    "Decision",
    "MappingSpec",
    "Write",
    "classify",
    "is_placeholder",
    "judge",
    "same_bytes",
    "source_unchanged",
    "source_version",
    "write_for",
]

ConflictPolicy = Literal["report", "overwrite", "keep"]
"""What to do with an object the application changed at the destination: leave it and report it
(the default), let the source win (`--overwrite-destination-changes`), or record the
destination's version as the settled one (`--keep-destination-changes`)."""


class Decision(StrEnum):
    NEW = "new"
    """Never copied and not at the destination: written create-only."""
    CHANGED = "changed"
    """Changed at the source since it was copied, and the destination still holds what was written."""
    RETRY = "retry"
    """An earlier attempt did not finish (or verify took the copy back)."""
    MISSING = "missing"
    """Copied before and deleted at the destination since: copied again."""
    SAME = "same"
    PLACEHOLDER = "placeholder"
    ADOPT = "adopt"
    """The destination already holds the source's bytes (written by an earlier run, the app in a
    dual-write window, or another tool): recorded as copied without a transfer."""
    LOOK = "look"
    """Something is at the destination that the listing cannot place: its HEAD decides (`judge`)."""
    CONFLICT = "conflict"
    """The application wrote the object at the destination: left alone and reported."""
    OVERWRITE = "overwrite"
    """A conflict settled for the source: written over the version found there."""
    KEEP = "keep"
    """A conflict settled for the destination: its version recorded as done."""

    @property
    def copies(self) -> bool:
        return self in _COPIES


_COPIES = frozenset({Decision.NEW, Decision.CHANGED, Decision.RETRY, Decision.MISSING, Decision.OVERWRITE})


@dataclass(frozen=True)
class MappingSpec:
    """One source bucket and where its objects land; `name` keys its rows in the manifest."""

    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    access: str = "private"

    @property
    def name(self) -> str:
        return f"{self.source_bucket}->{self.dest_bucket}"

    def dest_key(self, key: str) -> str:
        return self.prefix + key


@dataclass(frozen=True)
class Write:
    """The condition a write lands under: create-only (`if_match` None) or over one version."""

    if_match: str | None = None

    @property
    def overwrite(self) -> bool:
        return False


def is_placeholder(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == PLACEHOLDER_NAME


def source_version(info: ObjectInfo) -> str | None:
    """The last-modified time as the manifest stores it."""
    return info.last_modified.isoformat() if info.last_modified else None


def source_unchanged(info: ObjectInfo, record: ObjectRecord) -> bool:
    """Whether the source object is the version the row recorded (size, then ETag, else time).

    ETags are only compared with the source's own earlier ETag, never across systems."""
    if record.size != info.size:
        return False
    if info.etag and record.source_etag:
        return info.etag == record.source_etag
    if info.last_modified and record.source_modified:
        return source_version(info) == record.source_modified
    return True


def _ours(record: ObjectRecord | None, dest: ObjectInfo) -> bool:
    """The destination still holds the version bucketshift recorded (its ETag and size)."""
    return (
        record is not None
        and record.dest_etag is not None
        and dest.etag == record.dest_etag
        and dest.size == (record.dest_size if record.dest_size is not None else record.size)
    )


def same_bytes(info: ObjectInfo, dest: ObjectInfo) -> bool:
    """Both sides vouch for the same MD5 and size: the destination holds the source's bytes."""
    return info.md5 is not None and dest.md5 == info.md5 and dest.size == info.size


def _absent(record: ObjectRecord | None) -> Decision:
    if record is None:
        return Decision.NEW
    return Decision.MISSING if record.done else Decision.RETRY


def _settle(policy: ConflictPolicy) -> Decision:
    return {"report": Decision.CONFLICT, "overwrite": Decision.OVERWRITE, "keep": Decision.KEEP}[policy]


def classify(
    info: ObjectInfo,
    record: ObjectRecord | None,
    *,
    dest: ObjectInfo | None = None,
    dest_checked: bool = False,
    keep_placeholders: bool = False,
    on_conflict: ConflictPolicy = "report",
) -> Decision:
    """What to do with one source object, given its manifest row and, when `dest_checked`, what the
    destination listing holds at its key (`dest`, None if nothing).

    Without the destination listing (sync) the decision rests on the manifest; the write's
    condition still keeps the application's objects safe, and a failed condition is judged then.
    """
    if is_placeholder(info.key) and not keep_placeholders:
        return Decision.PLACEHOLDER
    if not dest_checked:
        if record is None:
            return Decision.NEW
        if record.state == State.CONFLICT:
            return _settle(on_conflict)
        if not record.done:
            return Decision.RETRY
        if source_unchanged(info, record):
            return Decision.SAME
        return _settle(on_conflict) if record.kept else Decision.CHANGED
    if dest is None:
        return _absent(record)
    if record is not None and record.done and _ours(record, dest):
        if source_unchanged(info, record):
            return Decision.SAME
        return _settle(on_conflict) if record.kept else Decision.CHANGED
    if record is not None and record.state != State.CONFLICT and not record.kept and _ours(record, dest):
        return Decision.RETRY
    if same_bytes(info, dest):
        return Decision.ADOPT
    return Decision.LOOK


def judge(
    info: ObjectInfo, record: ObjectRecord | None, found: ObjectInfo | None, on_conflict: ConflictPolicy = "report"
) -> Decision:
    """Settle a `LOOK` (or a write whose condition failed) from the destination object's HEAD."""
    if found is None:
        return _absent(record)
    if found.copied_from is not None and found.copied_from.matches(info.etag, info.size):
        return Decision.ADOPT
    if same_bytes(info, found):
        return Decision.ADOPT
    if record is not None and record.done and _ours(record, found):
        return Decision.SAME if source_unchanged(info, record) else Decision.CHANGED
    return _settle(on_conflict)


def write_for(
    decision: Decision, record: ObjectRecord | None, dest: ObjectInfo | None, *, dest_checked: bool = True
) -> Write:
    """The condition the write for `decision` lands under.

    Over a version only where that version is bucketshift's (or a conflict the user settled for
    the source); everywhere else create-only, so an object the application writes at the same
    moment is never replaced.  Unchecked (sync), the recorded version is assumed, and a failed
    condition is looked at and judged."""
    if decision == Decision.OVERWRITE and dest is not None:
        return Write(if_match=dest.etag)
    if decision in (Decision.CHANGED, Decision.RETRY):
        if dest is not None and _ours(record, dest):
            return Write(if_match=dest.etag)
        unchecked = dest is None and not dest_checked
        if unchecked and record is not None and record.dest_etag and record.state != State.CONFLICT:
            return Write(if_match=record.dest_etag)
    return Write()

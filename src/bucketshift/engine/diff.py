"""Decide, object by object, what a copy or sync must do (rclone style: the diff is separate
from the actions taken on it, so copy, sync and verify share it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bucketshift.engine.manifest import ObjectRecord, State
from bucketshift.stores.base import PLACEHOLDER_NAME, ObjectInfo

__all__ = ["Decision", "MappingSpec", "classify", "is_placeholder", "source_version"]


class Decision(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    RETRY = "retry"
    MISSING = "missing"
    SAME = "same"
    PLACEHOLDER = "placeholder"

    @property
    def copies(self) -> bool:
        return self in (Decision.NEW, Decision.CHANGED, Decision.RETRY, Decision.MISSING)


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


def is_placeholder(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == PLACEHOLDER_NAME


def source_version(info: ObjectInfo) -> str | None:
    """The last-modified time as the manifest stores it."""
    return info.last_modified.isoformat() if info.last_modified else None


def classify(
    info: ObjectInfo,
    record: ObjectRecord | None,
    *,
    dest_size: int | None = None,
    dest_checked: bool = False,
    keep_placeholders: bool = False,
) -> Decision:
    """What to do with one source object, given its manifest row and (for copy) the destination.

    Changed means the size, the ETag or (when the source has no ETag) the last-modified time
    differs from what was copied.  ETags are only compared with the source's own earlier ETag,
    never across systems.
    """
    if is_placeholder(info.key) and not keep_placeholders:
        return Decision.PLACEHOLDER
    if record is None:
        return Decision.NEW
    if record.state not in (State.COPIED, State.VERIFIED):
        return Decision.RETRY
    if record.size != info.size:
        return Decision.CHANGED
    if info.etag and record.source_etag:
        if info.etag != record.source_etag:
            return Decision.CHANGED
    elif info.last_modified and record.source_modified and source_version(info) != record.source_modified:
        return Decision.CHANGED
    if dest_checked and dest_size != info.size:
        return Decision.MISSING
    return Decision.SAME

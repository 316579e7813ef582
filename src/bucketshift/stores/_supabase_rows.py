"""The shape of a `storage.objects` row's `metadata`, as the Storage API's listings and the
table itself both give it, read into an `ObjectInfo` one way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bucketshift.stores.base import ObjectInfo, split_reserved, strip_etag

__all__ = ["info_from_metadata", "parse_time", "user_metadata"]


_MONTHS = {name: n for n, name in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                             "Nov", "Dec"), 1)}  # fmt: skip


def _http_date(value: str) -> datetime | None:
    """`Sun, 06 Dec 2026 00:35:26 GMT` (what every GET answers with), read without email.utils."""
    try:
        return datetime(int(value[12:16]), _MONTHS[value[8:11]], int(value[5:7]), int(value[17:19]),
                        int(value[20:22]), int(value[23:25]), tzinfo=UTC)  # fmt: skip
    except (KeyError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (listings, rows) or an HTTP date (response headers); a datetime passes through."""
    if isinstance(value, datetime):
        return value
    if not value or not isinstance(value, str):
        return None
    if len(value) == 29 and value[3] == "," and value.endswith(" GMT"):
        fast = _http_date(value)
        if fast is not None:
            return fast
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None


def user_metadata(value: Any) -> dict[str, str]:
    """User metadata as lower-case names and string values (nested JSON kept as JSON text)."""
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def info_from_metadata(
    key: str, metadata: Mapping[str, Any] | None, updated_at: Any = None, user: Any = None
) -> ObjectInfo:
    meta = metadata or {}
    size = meta.get("size", meta.get("contentLength", 0))
    etag = strip_etag(meta.get("eTag"))
    rest, copied_from = split_reserved(user_metadata(user))
    return ObjectInfo(
        key=key,
        size=int(size or 0),
        etag=etag,
        last_modified=parse_time(meta.get("lastModified")) or parse_time(updated_at),
        content_type=meta.get("mimetype"),
        cache_control=meta.get("cacheControl"),
        metadata=rest,
        copied_from=copied_from,
    )

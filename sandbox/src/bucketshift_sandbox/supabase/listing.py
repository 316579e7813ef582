"""The two object listings, reproducing the server's queries over the catalog's range scans.

Legacy ``POST /object/list`` runs ``storage.search``: one level under a prefix, folders and
files interleaved in ``lower(name) COLLATE "C"`` order, one limit/offset window (limit capped
at 1500), the search term matched case-insensitively as a name prefix within the level.
``POST /object/list-v2`` runs a flat byte-order scan, or ``storage.search_v2`` one level deep
``with_delimiter``, paged by a cursor.  Both walk a level as the PL/pgSQL does: peek at the next
row; if it sits in a sub-folder, emit the folder and seek past it, else read a batch of files.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bucketshift_sandbox.supabase.catalog import Catalog, ObjectRow, successor
from bucketshift_sandbox.supabase.errors import invalid_parameter

__all__ = [
    "LEGACY_DEFAULT_LIMIT",
    "LEGACY_MAX_LIMIT",
    "V2_MAX_LIMIT",
    "common_prefix",
    "decode_cursor",
    "encode_cursor",
    "legacy_list",
    "list_v2",
]

LEGACY_DEFAULT_LIMIT = 100
LEGACY_MAX_LIMIT = 1500
V2_MAX_LIMIT = 1000
DELIMITER = "/"
_PAST_DELIMITER = chr(ord(DELIMITER) + 1)
_TIMESTAMP_COLUMNS = frozenset({"updated_at", "created_at", "last_accessed_at"})
_CURSOR_PARTS = {"l": "startAfter", "o": "sortOrder", "c": "sortColumn", "a": "sortColumnAfter"}
_CURSOR_DEFAULTS = {"sortOrder": "asc", "sortColumn": "name"}


def common_prefix(key: str, prefix: str) -> str | None:
    """``storage.get_common_prefix``: the key up to the first delimiter after ``prefix``."""
    index = key.find(DELIMITER, len(prefix))
    return None if index < 0 else key[: index + 1]


@dataclass(frozen=True)
class _Entry:
    folder: str | None
    row: ObjectRow


async def _level(
    catalog: Catalog,
    bucket_id: str,
    prefix: str,
    *,
    fold_case: bool,
    descending: bool,
    cursor: tuple[str, str] | None,
    batch: int,
) -> AsyncIterator[_Entry]:
    """Folders (once each) and files directly under ``prefix``, in scan order.

    ``prefix`` is in key space (lowercased when ``fold_case``).  Folder entries carry the
    common prefix in key space and one row from inside the folder.
    """

    def key(row: ObjectRow) -> str:
        return row.name.lower() if fold_case else row.name

    low = prefix or None
    high = successor(prefix) if prefix else None
    while True:
        peek = await catalog.scan(
            bucket_id, fold_case=fold_case, low=low, high=high, cursor=cursor, descending=descending, limit=1
        )
        if not peek:
            return
        folder = common_prefix(key(peek[0]), prefix)
        if folder is not None:
            yield _Entry(folder, peek[0])
            cursor = (folder, "") if descending else (folder[:-1] + _PAST_DELIMITER, "")
            continue
        rows = await catalog.scan(
            bucket_id, fold_case=fold_case, low=low, high=high, cursor=cursor, descending=descending, limit=batch
        )
        for row in rows:
            if common_prefix(key(row), prefix) is not None:
                break
            yield _Entry(None, row)
            cursor = (key(row), row.name)
        else:
            if len(rows) < batch:
                return


def _legacy_file(name: str, row: ObjectRow) -> dict[str, Any]:
    return {
        "name": name,
        "id": row.id,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "last_accessed_at": row.last_accessed_at,
        "metadata": row.metadata,
    }


def _legacy_folder(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": None,
        "updated_at": None,
        "created_at": None,
        "last_accessed_at": None,
        "metadata": None,
    }


async def legacy_list(
    catalog: Catalog,
    bucket_id: str,
    *,
    prefix: str,
    search: str = "",
    limit: int | None = None,
    offset: int | None = None,
    sort_column: str | None = None,
    sort_order: str | None = None,
) -> list[dict[str, Any]]:
    """``storage.search`` as ``POST /object/list`` calls it (prefix already ending in ``/``)."""
    limit = min(limit or LEGACY_DEFAULT_LIMIT, LEGACY_MAX_LIMIT)
    offset = offset or 0
    descending = (sort_order or "asc").lower() != "asc"
    column = (sort_column or "name").lower()
    full_prefix = prefix + (search or "")
    if column in _TIMESTAMP_COLUMNS:
        return await _legacy_by_timestamp(
            catalog, bucket_id, prefix, full_prefix, column, descending=descending, limit=limit, offset=offset
        )
    items: list[dict[str, Any]] = []
    skipped = 0
    entries = _level(
        catalog,
        bucket_id,
        full_prefix.lower(),
        fold_case=True,
        descending=descending,
        cursor=None,
        batch=min(max(limit * 2, 100), 1000),
    )
    async for entry in entries:
        if skipped < offset:
            skipped += 1
            continue
        if entry.folder is not None:
            folder = common_prefix(entry.row.name, full_prefix) or entry.folder
            items.append(_legacy_folder(folder.rstrip(DELIMITER)[len(prefix) :]))
        else:
            items.append(_legacy_file(entry.row.name[len(prefix) :], entry.row))
        if len(items) >= limit:
            break
    return items


async def _legacy_by_timestamp(
    catalog: Catalog,
    bucket_id: str,
    prefix: str,
    full_prefix: str,
    column: str,
    *,
    descending: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The path_tokens query of ``storage.search`` for non-name sorts: all folders, then files."""
    start = len(prefix.split(DELIMITER)) if prefix else 1
    levels = len(full_prefix.split(DELIMITER)) if full_prefix else 1
    rows = await catalog.rows_with_prefix(bucket_id, full_prefix.lower(), fold_case=True)
    folders: set[str] = set()
    files: list[ObjectRow] = []
    for row in rows:
        tokens = row.name.split(DELIMITER)
        if len(tokens) == levels:
            files.append(row)
        else:
            folders.add(DELIMITER.join(tokens[start - 1 : levels]))
    files.sort(key=lambda row: (getattr(row, column) or "", row.name), reverse=descending)
    items = [_legacy_folder(name) for name in sorted(folders, reverse=descending)]
    items += [_legacy_file(DELIMITER.join(row.name.split(DELIMITER)[start - 1 : levels]), row) for row in files]
    return items[offset : offset + limit]


def encode_cursor(parts: dict[str, str | None]) -> str:
    """A list-v2 continuation token: base64 of ``k:value`` lines, defaults left out."""
    lines = []
    for short, name in _CURSOR_PARTS.items():
        value = parts.get(name)
        if value and _CURSOR_DEFAULTS.get(name) != value:
            lines.append(f"{short}:{value}")
    return base64.b64encode("\n".join(lines).encode()).decode()


def decode_cursor(token: str) -> dict[str, str]:
    """Parse a continuation token; InvalidParameter when it is not one."""
    try:
        text = base64.b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_parameter("continuation token") from exc
    result = {"startAfter": "", "sortOrder": "asc"}
    for line in text.split("\n"):
        short, sep, value = line.partition(":")
        if not sep or len(short) != 1 or short not in _CURSOR_PARTS:
            raise invalid_parameter("continuation token")
        result[_CURSOR_PARTS[short]] = value
    return result


def _split_part(name: str, level: int) -> str:
    parts = name.split(DELIMITER)
    return parts[level - 1] if len(parts) >= level else ""


def _flat_object(row: ObjectRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "metadata": row.metadata,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "last_accessed_at": row.last_accessed_at,
    }


def _level_object(row: ObjectRow, level: int) -> dict[str, Any]:
    return {
        "key": _split_part(row.name, level),
        "name": row.name,
        "id": row.id,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "last_accessed_at": row.last_accessed_at,
        "metadata": row.metadata,
    }


def _folder(bucket_id: str, name: str, created_at: str | None = None) -> dict[str, Any]:
    return {
        "id": None,
        "name": name,
        "bucket_id": bucket_id,
        "updated_at": created_at,
        "created_at": created_at,
        "last_accessed_at": None,
    }


async def list_v2(
    catalog: Catalog,
    bucket_id: str,
    *,
    prefix: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    with_delimiter: bool = False,
    sort_column: str | None = None,
    sort_order: str | None = None,
) -> dict[str, Any]:
    """``POST /object/list-v2``: ``{hasNext, nextCursor?, nextCursorKey?, folders, objects}``."""
    limit = min(limit or V2_MAX_LIMIT, V2_MAX_LIMIT)
    prefix = prefix or ""
    state = decode_cursor(cursor) if cursor else None
    order = state["sortOrder"] if state else (sort_order or "asc")
    column = (state.get("sortColumn") if state else sort_column) or "name"
    descending = order.lower() == "desc"
    start_after = state["startAfter"] if state else ""
    after_time = state.get("sortColumnAfter") if state else None
    if column not in ("updated_at", "created_at"):
        column = "name"
    level = len(prefix.split(DELIMITER)) if prefix else 1

    if column == "name":
        results = await _v2_by_name(
            catalog, bucket_id, prefix, with_delimiter, descending, start_after, level, limit + 1
        )
    else:
        results = await _v2_by_timestamp(
            catalog, bucket_id, prefix, with_delimiter, column, descending, start_after, after_time, level, limit + 1
        )

    has_next = len(results) > limit
    results = results[:limit]
    body: dict[str, Any] = {"hasNext": has_next}
    if has_next:
        last = results[-1]
        body["nextCursor"] = encode_cursor(
            {
                "startAfter": last["name"],
                "sortOrder": order,
                "sortColumn": column,
                "sortColumnAfter": last.get(column) if column != "name" else None,
            }
        )
        body["nextCursorKey"] = last["name"]
    body["folders"] = [item for item in results if item["id"] is None]
    body["objects"] = [item for item in results if item["id"] is not None]
    return body


async def _v2_by_name(
    catalog: Catalog,
    bucket_id: str,
    prefix: str,
    with_delimiter: bool,
    descending: bool,
    start_after: str,
    level: int,
    want: int,
) -> list[dict[str, Any]]:
    if not with_delimiter:
        rows = await catalog.scan(
            bucket_id,
            fold_case=False,
            low=prefix or None,
            high=successor(prefix) if prefix else None,
            cursor=(start_after, start_after) if start_after else None,
            descending=descending,
            limit=want,
        )
        return [_flat_object(row) for row in rows]
    scan_cursor: tuple[str, str] | None = None
    if start_after:
        if start_after.endswith(DELIMITER):
            scan_cursor = (start_after, "") if descending else (start_after[:-1] + _PAST_DELIMITER, "")
        else:
            scan_cursor = (start_after, start_after)
    results: list[dict[str, Any]] = []
    entries = _level(
        catalog,
        bucket_id,
        prefix,
        fold_case=False,
        descending=descending,
        cursor=scan_cursor,
        batch=min(max(want * 2, 100), 1000),
    )
    async for entry in entries:
        if entry.folder is not None:
            results.append(_folder(bucket_id, entry.folder))
        else:
            results.append(_level_object(entry.row, level))
        if len(results) >= want:
            break
    return results


async def _v2_by_timestamp(
    catalog: Catalog,
    bucket_id: str,
    prefix: str,
    with_delimiter: bool,
    column: str,
    descending: bool,
    start_after: str,
    after_time: str | None,
    level: int,
    want: int,
) -> list[dict[str, Any]]:
    """Timestamp-ordered pages (``search_by_timestamp`` and the flat variant), name as tiebreak."""
    rows = await catalog.rows_with_prefix(bucket_id, prefix, fold_case=False)
    items: list[dict[str, Any]] = []
    if with_delimiter:
        folders: dict[str, str] = {}
        for row in rows:
            folder = common_prefix(row.name, prefix)
            if folder is None:
                items.append(_level_object(row, level))
            elif folder not in folders or row.created_at < folders[folder]:
                folders[folder] = row.created_at
        items += [_folder(bucket_id, name, created) for name, created in folders.items()]
    else:
        items = [_flat_object(row) for row in rows]

    def position(item: dict[str, Any]) -> tuple[str, str]:
        return (item.get(column) or "", item["name"])

    if start_after:
        mark = (after_time or "", start_after)
        items = [item for item in items if (position(item) < mark if descending else position(item) > mark)]
    items.sort(key=position, reverse=descending)
    return items[:want]

"""The demo app's own database: its four URL columns, filled the way the app fills them.

Public images are kept as the Storage API's public URLs (one frame as an image transformation
URL, which S3 cannot honour), videos as signed URLs that expired long ago, and one frame points
at an object that no longer exists: `rewrite-urls` leaves that one alone and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from urllib.parse import quote

import psycopg
from psycopg import sql

from bucketshift.stores.base import PLACEHOLDER_NAME
from bucketshift_sandbox.seed import Seeded

__all__ = ["URL_COLUMNS", "seed_app_database"]

URL_COLUMNS = (
    "global_assets.image_key_url",
    "project_assets.image_key_url",
    "frames.image_url",
    "video_generation_jobs.video_url",
)

SCHEMA = """
CREATE TABLE global_assets (id bigint PRIMARY KEY, name text NOT NULL, image_key_url text);
CREATE TABLE project_assets (id uuid PRIMARY KEY, project text NOT NULL, image_key_url text);
CREATE TABLE frames (id bigint PRIMARY KEY, project text NOT NULL, image_url text);
CREATE TABLE video_generation_jobs (id bigint PRIMARY KEY, status text NOT NULL, video_url text);
"""

EXPIRED_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1cmwiOiJ2aWRlb3MiLCJleHAiOjE3NjAwMDAwMDB9.expired"
"""The app stored signed URLs; their tokens expired long ago, which is why it re-signs on demand."""


def _object_url(origin: str, form: str, bucket: str, key: str) -> str:
    return f"{origin}/storage/v1/{form}/{bucket}/{quote(key, safe='/')}"


def _keys(seeded: Seeded, bucket: str) -> list[str]:
    return sorted(k for k in seeded.keys(bucket) if not k.endswith(PLACEHOLDER_NAME))


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> None:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)) as copy:
        for row in rows:
            copy.write_row(row)


def seed_app_database(dsn: str, origin: str, seeded: Seeded) -> dict[str, int]:
    """Create and fill the app's tables (in an empty database); returns rows per URL column."""
    assets, images, videos = (_keys(seeded, b) for b in ("asset-images", "images", "videos"))
    frames = [k for k in images if "/frames/" in k]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        _copy(conn, "global_assets", ("id", "name", "image_key_url"),
              ((i, key.rsplit("/", 1)[-1], _object_url(origin, "object/public", "asset-images", key))
               for i, key in enumerate(assets, 1)))  # fmt: skip
        _copy(conn, "project_assets", ("id", "project", "image_key_url"),
              ((uuid.uuid5(uuid.NAMESPACE_URL, key), key.split("/", 1)[0],
                _object_url(origin, "object/public", "asset-images", key))
               for key in assets if key.startswith("project_2/")))  # fmt: skip
        frame_rows = [
            (i, key.split("/", 1)[0], _object_url(origin, "object/public", "images", key))
            for i, key in enumerate(frames, 1)
        ]
        if frames:
            thumb = _object_url(origin, "render/image/public", "images", frames[0]) + "?width=320&quality=75"
            frame_rows.append((len(frames) + 1, "project_1", thumb))
        gone = _object_url(origin, "object/public", "images", "project_1/branch_1/frames/deleted_1760000000.png")
        frame_rows.append((len(frames) + 2, "project_1", gone))
        _copy(conn, "frames", ("id", "project", "image_url"), frame_rows)
        _copy(conn, "video_generation_jobs", ("id", "status", "video_url"),
              ((i, "done", _object_url(origin, "object/sign", "videos", key) + f"?token={EXPIRED_TOKEN}")
               for i, key in enumerate(videos, 1)))  # fmt: skip
        conn.execute("ANALYZE")
        count = sql.SQL("SELECT count(*) FROM {}")
        return {
            name: int(conn.execute(count.format(sql.Identifier(name.split(".")[0]))).fetchone()[0])
            for name in URL_COLUMNS
        }

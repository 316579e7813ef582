"""The four tables of the seed's app that hold storage values, and the few statements the service runs.

Table and column names are fixed here; every value travels as a query parameter.  One connection
per request keeps the example short; a busy service would hold a `psycopg_pool.AsyncConnectionPool`
behind the same `connect()`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import LiteralString

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import DatabaseUnavailable

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS global_assets (id bigint PRIMARY KEY, name text NOT NULL, image_key_url text)",
    "CREATE TABLE IF NOT EXISTS project_assets (id uuid PRIMARY KEY, project text NOT NULL, image_key_url text)",
    "CREATE TABLE IF NOT EXISTS frames (id bigint PRIMARY KEY, project text NOT NULL, image_url text)",
    "CREATE TABLE IF NOT EXISTS video_generation_jobs (id bigint PRIMARY KEY, status text NOT NULL, video_url text)",
)
"""The seed's tables (`bucketshift_sandbox.app_database`), created when absent."""

CONNECT_TIMEOUT = 10


class Database:
    """The application's PostgreSQL, reached at `url` (DATABASE_URL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection in autocommit; use `conn.transaction()` where statements go together."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as error:
            raise DatabaseUnavailable(self._cannot_connect(error)) from None
        async with conn:
            yield conn

    def _cannot_connect(self, error: psycopg.Error) -> str:
        """libpq's own words may quote the URL; the sentence names only the server and the database."""
        try:
            parts = conninfo_to_dict(self.url)
        except psycopg.Error:
            return "cannot connect to the database: DATABASE_URL is not a PostgreSQL URL; fix it"
        server = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
        name = parts.get("dbname") or "(default)"
        return (
            f"cannot connect to database {name} at {server} ({type(error).__name__}); "
            "check that PostgreSQL runs there and DATABASE_URL is right"
        )

    async def create_schema(self) -> None:
        async with self.connect() as conn, conn.transaction():
            for statement in SCHEMA:
                await conn.execute(statement)

    async def save_asset(
        self, asset_id: uuid.UUID, project: str, value: str, *, global_id: int | None, name: str | None
    ) -> None:
        """The project asset's image, and the global asset's when there is one, in one transaction."""
        async with self.connect() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO project_assets (id, project, image_key_url) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET image_key_url = EXCLUDED.image_key_url",
                (asset_id, project, value),
            )
            if global_id is not None:
                await conn.execute(
                    "INSERT INTO global_assets (id, name, image_key_url) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET image_key_url = EXCLUDED.image_key_url",
                    (global_id, name or str(asset_id), value),
                )

    async def save_frame(self, frame_id: int, project: str, value: str) -> None:
        async with self.connect() as conn:
            await conn.execute(
                "INSERT INTO frames (id, project, image_url) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET image_url = EXCLUDED.image_url",
                (frame_id, project, value),
            )

    async def save_video(self, job_id: int, value: str) -> None:
        """The job's video is written: it is done."""
        async with self.connect() as conn:
            await conn.execute(
                "INSERT INTO video_generation_jobs (id, status, video_url) VALUES (%s, 'done', %s) "
                "ON CONFLICT (id) DO UPDATE SET status = 'done', video_url = EXCLUDED.video_url",
                (job_id, value),
            )

    async def frame_url(self, frame_id: int) -> tuple[bool, str | None]:
        """Whether the frame exists, and the value its row holds."""
        return await self._one("SELECT image_url FROM frames WHERE id = %s", frame_id)

    async def video_url(self, job_id: int) -> tuple[bool, str | None]:
        """Whether the job exists, and the value its row holds."""
        return await self._one("SELECT video_url FROM video_generation_jobs WHERE id = %s", job_id)

    async def _one(self, query: LiteralString, row_id: int) -> tuple[bool, str | None]:
        async with self.connect() as conn:
            cursor = await conn.execute(query, (row_id,))
            row = await cursor.fetchone()
        return (False, None) if row is None else (True, row[0])

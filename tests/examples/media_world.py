"""What the media service's tests stand on: a world per test (the service on a thread, its database,
its buckets) with ways to look behind the service's back, and a small HTTP server of source images.

The service runs under uvicorn on a thread of the test process, so requests are real HTTP and a
streamed body is really streamed (FastAPI's TestClient hands the app the whole body at once).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bucketshift.stores.supabase import SupabaseStore
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster

BACKENDS = {
    "s3": ("s3", None),
    "supabase": ("supabase", None),
    "mirror-primary-supabase": ("mirror", "supabase"),
    "mirror-primary-s3": ("mirror", "s3"),
}
"""Test id -> (STORAGE_BACKEND, STORAGE_PRIMARY)."""
REGION = "us-east-1"
MAX_IMAGE_BYTES = 256 * 1024
MAX_VIDEO_BYTES = 3 * 1024 * 1024
START_TIMEOUT = 30.0


# -- the source of images to localize ----------------------------------------------------------


@dataclass
class SourceServer:
    """Answers what a test put at a path: status, content type, body, with or without a length."""

    url: str
    routes: dict[str, tuple[int, str | None, bytes, bool, int | None]] = field(default_factory=dict)

    def put(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        status: int = 200,
        length: bool = True,
        cut_at: int | None = None,
    ) -> str:
        """Serve `body` at `path` (its query ignored), or only its first `cut_at` bytes under the
        whole body's length (a connection that breaks off); returns the full URL."""
        self.routes[path.split("?", 1)[0]] = (status, content_type, body, length, cut_at)
        return self.url + path


@contextmanager
def source_server() -> Iterator[SourceServer]:
    """A threaded HTTP/1.0 server on loopback: without a length, a body ends when the connection closes."""
    box: list[SourceServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            missing = (404, "text/plain", b"no such image", True, None)
            status, content_type, body, length, cut_at = box[0].routes.get(urlsplit(self.path).path, missing)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut_at])

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests say what went wrong."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    box.append(SourceServer(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# -- the service on a thread -------------------------------------------------------------------


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on a thread of this process, on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="media-service", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the media service did not start; its start-up error is logged above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the media service did not start within {START_TIMEOUT:.0f}s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()


@contextmanager
def scratch_database(cluster: PostgresCluster) -> Iterator[str]:
    """A new database for one test, dropped afterwards; yields its connection string."""
    name = f"media_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(cluster.dsn, dbname=name)
    finally:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -- one test's world --------------------------------------------------------------------------


@dataclass
class World:
    """The service's settings and everything they point at; `http` once the service runs."""

    name: str
    backend: str
    primary: str
    env: dict[str, str]
    moto: MotoServer
    emulator: EmulatorServer
    s3_buckets: dict[str, str]
    database_url: str
    project: str
    client: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        assert self.client is not None, "the service is not running in this world"
        return self.client

    @property
    def sides(self) -> tuple[str, ...]:
        """The sides in use, the primary first."""
        if self.backend != "mirror":
            return (self.backend,)
        return (self.primary, "supabase" if self.primary == "s3" else "s3")

    @property
    def primary_netloc(self) -> str:
        """Where URLs given to browsers must point: the primary side's host and port."""
        return urlsplit(self.moto.endpoint_url if self.primary == "s3" else self.emulator.url).netloc

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.moto.endpoint_url, region_name=REGION)

    def content_types(self, bucket: str, key: str) -> dict[str, str | None]:
        """The object's content type on every side in use, as each store reports it."""
        found: dict[str, str | None] = {}
        for side in self.sides:
            if side == "s3":
                found[side] = self.s3().head_object(Bucket=self.s3_buckets[bucket], Key=key)["ContentType"]
            else:
                found[side] = asyncio.run(self._supabase(lambda store: store.head(bucket, key))).content_type
        return found

    def keys(self, bucket: str, prefix: str) -> dict[str, list[str]]:
        """The keys under `prefix` on every side in use (one page: a test writes a few objects)."""
        found: dict[str, list[str]] = {}
        for side in self.sides:
            if side == "s3":
                page = self.s3().list_objects_v2(Bucket=self.s3_buckets[bucket], Prefix=prefix)
                found[side] = sorted(item["Key"] for item in page.get("Contents", []))
            else:
                page = asyncio.run(self._supabase(lambda store: store.list_page(bucket, prefix)))
                found[side] = sorted(info.key for info in page.objects)
        return found

    async def _supabase(self, ask: Any) -> Any:
        store = SupabaseStore(self.emulator.url, self.emulator.service_role_key)
        try:
            return await ask(store)
        finally:
            await store.aclose()

    def unsigned_urls(self, bucket: str, key: str) -> dict[str, str]:
        """The object's URL on every side in use as anyone could guess it: no signature, no key."""
        urls: dict[str, str] = {}
        for side in self.sides:
            if side == "s3":
                urls[side] = f"{self.moto.endpoint_url}/{self.s3_buckets[bucket]}/{quote(key)}"
            else:
                urls[side] = f"{self.emulator.url}/storage/v1/object/public/{bucket}/{quote(key)}"
        return urls

    def query(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        """Run one statement on the world's database; its rows, if it returns any."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description is not None else []

"""The ASGI application: the Storage API under ``/storage/v1`` and the ``/_emulator`` admin routes."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bucketshift_sandbox.supabase.blobs import BlobStore
from bucketshift_sandbox.supabase.body_faults import Corrupter, Staller, Truncator
from bucketshift_sandbox.supabase.bucket_routes import BucketRoutes
from bucketshift_sandbox.supabase.catalog import Catalog, SqliteCatalog
from bucketshift_sandbox.supabase.connection import (
    RAW_SEND_KEY,
    ConnectionAborted,
    reset_connection,
    wait_disconnected,
)
from bucketshift_sandbox.supabase.errors import StorageError, render_error
from bucketshift_sandbox.supabase.faults import fault_error
from bucketshift_sandbox.supabase.labels import READ_ROUTES, route_label
from bucketshift_sandbox.supabase.object_routes import ObjectRoutes
from bucketshift_sandbox.supabase.pg_catalog import PostgresCatalog
from bucketshift_sandbox.supabase.settings import EmulatorSettings, SettingsError
from bucketshift_sandbox.supabase.state import EmulatorState
from bucketshift_sandbox.supabase.stats import ByteMeter
from bucketshift_sandbox.supabase.tus_routes import TusRoutes
from bucketshift_sandbox.supabase.tus_uploads import ResumableUploads

__all__ = ["STORAGE_PREFIX", "create_app"]

STORAGE_PREFIX = "/storage/v1"
STATUS_FAULTS = frozenset({"500", "503", "429", "544"})
FAULT_DRAIN_LIMIT = 64 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger(__name__)


class EmulatorApp(Starlette):
    """Starlette, plus the server's own ``send`` kept in the scope for the connection faults."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        """Stash the unwrapped ``send`` before middleware wraps it."""
        if scope["type"] == "http":
            scope[RAW_SEND_KEY] = send
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]


class StorageGate:
    """In front of every storage route: count, delay, maybe inject a fault, and meter object bytes."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply latency and faults, then pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        label = route_label(scope["method"], path)
        stats = self.state.stats
        stats.record_request(label)
        raw_send = scope.get(RAW_SEND_KEY)
        metered = ByteMeter(send, raw_send, scope, stats)
        injector = self.state.faults
        await injector.delay()
        fault = injector.draw(label)
        if fault is None:
            await self.app(scope, receive, metered)
            return
        try:
            await self._inject(fault, label, scope, receive, metered)
        except ConnectionAborted:
            await wait_disconnected(raw_send)

    async def _inject(self, fault: str, label: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request with the fault drawn for it (``settings.EmulatorSettings`` says what each does)."""
        raw_send = scope.get(RAW_SEND_KEY)
        stats = self.state.stats
        settings = self.state.settings
        if fault in STATUS_FAULTS:
            stats.record_fault(fault)
            await _drain_request(receive)
            response = render_error(Request(scope, receive), fault_error(fault))
            await response(scope, receive, send)
        elif fault == "truncate" and label in READ_ROUTES:
            await self.app(scope, receive, Truncator(send, raw_send, stats.record_fault))
        elif fault == "corrupt":
            await self.app(scope, receive, Corrupter(send, stats.record_fault))
        elif fault == "stall":
            staller = Staller(
                send,
                raw_send,
                stats.record_fault,
                seconds=settings.stall_seconds,
                release=self.state.stalls,
                has_body=scope["method"] != "HEAD",
            )
            await self.app(scope, receive, staller)
        else:
            stats.record_fault("reset")
            await reset_connection(raw_send)


async def _drain_request(receive: Receive) -> None:
    """Read a request body we answer without looking at, so the client is not cut off mid-send."""
    seen = 0
    while seen <= FAULT_DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _route_not_found(request: Request, exc: Exception) -> Response:
    """fastify's default 404 (it routes by method too, so a wrong method is a 404 as well)."""
    del exc
    body = {"message": f"Route {request.method}:{request.url.path} not found", "error": "Not Found", "statusCode": 404}
    return JSONResponse(body, status_code=404)


def _internal(request: Request, exc: Exception) -> Response:
    """An emulator bug still answers like the server's generic 500."""
    del request
    logger.error("unhandled error in the storage emulator", exc_info=exc)
    return JSONResponse({"statusCode": "500", "error": "Internal", "message": "Internal Server Error"}, 500)


def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return _route_not_found(request, exc)
    return JSONResponse({"statusCode": str(exc.status_code), "error": exc.detail, "message": exc.detail}, 400)


def _admin_allowed(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


class AdminRoutes:
    """``/_emulator``: switches and counters for tests and benchmarks (loopback clients only)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The admin routes."""
        return [
            Route("/_emulator/settings", self.get_settings, methods=["GET"]),
            Route("/_emulator/settings", self.put_settings, methods=["PUT"]),
            Route("/_emulator/stats", self.get_stats, methods=["GET"]),
            Route("/_emulator/stats/reset", self.reset_stats, methods=["POST"]),
        ]

    @staticmethod
    def _refuse() -> JSONResponse:
        return JSONResponse({"error": "the emulator's admin routes answer loopback clients only"}, status_code=403)

    async def get_settings(self, request: Request) -> JSONResponse:
        """The runtime switches."""
        if not _admin_allowed(request):
            return self._refuse()
        return JSONResponse(self.state.settings.public())

    async def put_settings(self, request: Request) -> JSONResponse:
        """Change some switches (a partial JSON object); the fault sequence restarts from its seed."""
        if not _admin_allowed(request):
            return self._refuse()
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise SettingsError("send a JSON object of settings")
            self.state.settings.update(changes)
        except (ValueError, SettingsError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.state.faults.reseed()
        return JSONResponse(self.state.settings.public())

    async def get_stats(self, request: Request) -> JSONResponse:
        """Request counters since start or the last reset."""
        if not _admin_allowed(request):
            return self._refuse()
        return JSONResponse(self.state.stats.snapshot())

    async def reset_stats(self, request: Request) -> JSONResponse:
        """Zero the counters."""
        if not _admin_allowed(request):
            return self._refuse()
        self.state.stats.reset()
        return JSONResponse(self.state.stats.snapshot())


def create_app(
    data_dir: Path,
    settings: EmulatorSettings,
    *,
    clock: Callable[[], datetime] | None = None,
    catalog_dsn: str | None = None,
) -> Starlette:
    """The emulator over ``data_dir`` (``catalog.sqlite3`` and ``blobs/``), created if missing.

    With ``catalog_dsn`` the bucket and object rows go to ``storage.buckets`` and
    ``storage.objects`` in that PostgreSQL database instead of SQLite (bytes stay in
    ``data_dir``); CatalogUnavailable when it cannot be reached or prepared.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    now = clock or (lambda: datetime.now(UTC))
    catalog: Catalog
    if catalog_dsn is not None:
        catalog = PostgresCatalog(catalog_dsn, clock=now)
    else:
        catalog = SqliteCatalog(data_dir / "catalog.sqlite3", clock=now)
    state = EmulatorState(settings=settings, catalog=catalog, blobs=BlobStore(data_dir / "blobs"), clock=now)
    uploads = ResumableUploads(data_dir / "blobs" / ".resumable")

    storage = Starlette(
        routes=[*BucketRoutes(state).routes(), *ObjectRoutes(state).routes(), *TusRoutes(state, uploads).routes()],
        exception_handlers={StorageError: render_error, HTTPException: _http_exception, Exception: _internal},
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        try:
            yield
        finally:
            await catalog.close()

    app = EmulatorApp(
        routes=[Mount(STORAGE_PREFIX, app=StorageGate(storage, state)), *AdminRoutes(state).routes()],
        lifespan=lifespan,
    )
    app.state.emulator = state
    return app

"""The service: three upload paths that write `stored_value` into the seed's rows, and two reads
that turn whatever a row holds into a URL a browser can fetch now.

Nothing here names a backend: `STORAGE_BACKEND` (s3, supabase or mirror) decides where the bytes
go, so moving the application (and moving it back) is a change of environment, not of code.
Everything that holds a connection is made in the lifespan and closed with it.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from bucketshift.storage import AsyncStorage, StoredObject

from . import errors
from .bounded import BoundedBody
from .database import Database
from .errors import ServiceError
from .fetch import open_source
from .keys import SEGMENT_PATTERN, asset_key, frame_key, video_key
from .settings import ServiceSettings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIGNED_URL_SECONDS = 3600


@dataclass(frozen=True)
class Services:
    """What the routes use, built once at start-up."""

    settings: ServiceSettings
    storage: AsyncStorage
    database: Database
    http: aiohttp.ClientSession


def create_app(env: Mapping[str, str] | None = None) -> FastAPI:
    """The service, configured from `env` (the process environment by default) when it starts.

    Start-up fails, before any request, on a missing or wrong setting and on a bucket that does
    not exist (`storage.check()`), with the ConfigError naming the setting to fix.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        environment = os.environ if env is None else env
        settings = ServiceSettings.from_env(environment)
        async with AsyncExitStack() as stack:
            storage = await stack.enter_async_context(AsyncStorage.from_env(environment))
            await storage.check()
            database = Database(settings.database_url)
            await database.create_schema()
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=settings.fetch_timeout)
            http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
            yield {"services": Services(settings, storage, database, http)}

    app = FastAPI(title="media service (bucketshift example)", lifespan=lifespan)
    errors.install(app)
    app.include_router(router)
    return app


async def _services(request: Request) -> Services:
    return request.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(_services)]
Segment = Annotated[str, Path(pattern=SEGMENT_PATTERN)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _upload(
    storage: AsyncStorage, bucket: str, key: str, body: BoundedBody, *, content_type: str
) -> StoredObject:
    """Stream `body` into the bucket; a body that broke off or ran over its limit is said as such."""
    try:
        return await storage.upload(bucket, key, body, content_type=content_type)
    except Exception:
        if body.failure is not None:
            raise body.failure from None
        raise


def _request_body(request: Request, *, limit: int, what: str) -> BoundedBody:
    body = BoundedBody(request.stream(), limit=limit, what=what, broken=(ClientDisconnect,))
    body.check_announced(request.headers.get("content-length"))
    return body


class LocalizeRequest(BaseModel):
    """Where the asset's image is now, and the global asset it also is, if any."""

    source_url: str = Field(max_length=4096)
    global_asset_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    name: str | None = Field(default=None, max_length=200, description="the global asset's name when it is new")


@router.post("/projects/{project}/branches/{branch}/assets/{asset_id}/localize", status_code=201)
async def localize_asset(
    project: Segment, branch: Segment, asset_id: uuid.UUID, localize: LocalizeRequest, services: Svc
) -> dict[str, Any]:
    """Copy an image from a URL into `asset-images`, keeping its content type, and point the asset at it."""
    async with open_source(services.http, localize.source_url, limit=services.settings.max_image_bytes) as source:
        key = asset_key(
            project, branch, str(asset_id), source.extension, now_ms=_now_ms(), random_hex=secrets.token_hex(4)
        )
        stored = await _upload(services.storage, "asset-images", key, source.body, content_type=source.content_type)
    await services.database.save_asset(
        asset_id, f"project_{project}", stored.stored_value, global_id=localize.global_asset_id, name=localize.name
    )
    return {
        "asset_id": str(asset_id),
        "global_asset_id": localize.global_asset_id,
        "key": stored.key,
        "content_type": stored.content_type,
        "size": stored.size,
        "stored_value": stored.stored_value,
    }


@router.put("/projects/{project}/branches/{branch}/frames/{frame_id}", status_code=201)
async def store_frame(
    project: Segment, branch: Segment, frame_id: RowId, request: Request, services: Svc
) -> dict[str, Any]:
    """Store a generated PNG frame (the request body) in `images` and point the frame's row at it."""
    body = _request_body(request, limit=services.settings.max_image_bytes, what="the frame")
    data = await body.read_all()
    if not data.startswith(PNG_SIGNATURE):
        raise ServiceError(415, "the frame is not a PNG image (its first bytes are not PNG's signature)")
    key = frame_key(project, branch, frame_id, now_ms=_now_ms())
    stored = await services.storage.upload("images", key, data, content_type="image/png")
    await services.database.save_frame(frame_id, f"project_{project}", stored.stored_value)
    return {"id": frame_id, "key": stored.key, "size": stored.size, "stored_value": stored.stored_value}


@router.put("/projects/{project}/videos/{job_id}", status_code=201)
async def store_video(project: Segment, job_id: RowId, request: Request, services: Svc) -> dict[str, Any]:
    """Stream a generated MP4 (the request body, never held whole) into the private `videos` bucket."""
    body = _request_body(request, limit=services.settings.max_video_bytes, what="the video")
    if (await body.peek(8))[4:8] != b"ftyp":
        raise ServiceError(415, "the video is not an MP4 file (it does not start with an ftyp box)")
    key = video_key(project, job_id, now_ms=_now_ms())
    stored = await _upload(services.storage, "videos", key, body, content_type="video/mp4")
    await services.database.save_video(job_id, stored.stored_value)
    return {"job_id": job_id, "status": "done", "key": stored.key, "size": stored.size,
            "stored_value": stored.stored_value}  # fmt: skip


@router.get("/videos/{job_id}/play", status_code=307, response_class=RedirectResponse)
async def play_video(job_id: RowId, services: Svc) -> RedirectResponse:
    """Redirect to a URL signed for an hour: the row keeps a private reference, never a public URL."""
    found, value = await services.database.video_url(job_id)
    if not found:
        raise ServiceError(404, f"video generation job {job_id} does not exist")
    if not value:
        raise ServiceError(404, f"video generation job {job_id} has no video yet")
    url = await services.storage.url_for(value, bucket="videos", expires_in=SIGNED_URL_SECONDS)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})


@router.get("/frames/{frame_id}")
async def frame_url(frame_id: RowId, services: Svc) -> dict[str, Any]:
    """The frame's URL, whatever form its row holds (Supabase or S3 URL, s3:// reference, bare key)."""
    found, value = await services.database.frame_url(frame_id)
    if not found:
        raise ServiceError(404, f"frame {frame_id} does not exist")
    if not value:
        raise ServiceError(404, f"frame {frame_id} has no image yet")
    return {"id": frame_id, "url": await services.storage.url_for(value, bucket="images")}


@router.get("/health")
async def health(services: Svc) -> dict[str, Any]:
    """Which backend serves, and how many writes the mirror's secondary missed (left for `bucketshift sync`)."""
    storage = services.storage
    return {"backend": storage.backend, "primary": storage.primary.name, "mirror_misses": storage.missed_count}

"""Bodies in and out: upload intake (raw or multipart) and ranged, streamed downloads."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from bucketshift_sandbox.supabase.errors import (
    entity_too_large,
    invalid_range,
    no_content_provided,
)
from bucketshift_sandbox.supabase.multipart import MultipartError, boundary_of, read_form

__all__ = [
    "MAX_USER_METADATA",
    "BlobResponse",
    "UploadBody",
    "content_disposition",
    "http_date",
    "normalize_content_type",
    "open_upload",
    "parse_range",
    "parse_user_metadata",
]

MAX_USER_METADATA = 1024 * 1024
DRAIN_LIMIT = 256 * 1024 * 1024
_RANGE = re.compile(r"(\d*)-(\d*)")


@dataclass
class UploadBody:
    """What the uploader takes from a request: type, cache control, user metadata, and bytes."""

    content_type: str
    cache_control: str
    user_metadata: dict[str, Any]
    chunks: AsyncIterator[bytes]


def parse_user_metadata(encoded: str | None) -> dict[str, Any] | None:
    """``x-metadata``: base64 of a JSON object; anything unreadable is ignored, as the server does."""
    if not encoded:
        return None
    try:
        value = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def open_upload(request: Request, body: AsyncIterator[bytes]) -> UploadBody:
    """Read an upload's description; the returned ``chunks`` still stream from ``body``.

    A multipart form contributes its first file part and the ``cacheControl`` (seconds),
    ``contentType`` and ``metadata`` (JSON) fields sent before it; any other body is the file
    itself, described by Content-Type, Cache-Control and x-metadata.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        boundary = boundary_of(content_type)
        if boundary is None:
            raise no_content_provided()
        try:
            part = await read_form(body, boundary)
        except MultipartError as exc:
            raise no_content_provided() from exc
        if part is None:
            raise no_content_provided()
        seconds = part.fields.get("cacheControl")
        custom = part.fields.get("metadata", part.fields.get("userMetadata"))
        user_metadata: dict[str, Any] = {}
        if custom is not None:
            if len(custom.encode()) > MAX_USER_METADATA:
                raise entity_too_large("user_metadata")
            try:
                parsed = json.loads(custom)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                user_metadata = parsed
        return UploadBody(
            # busboy, the server's form parser, calls a part without Content-Type text/plain.
            content_type=part.fields.get("contentType") or part.content_type or "text/plain",
            cache_control=f"max-age={seconds}" if seconds else "no-cache",
            user_metadata=user_metadata,
            chunks=_checked(part.data),
        )
    return UploadBody(
        content_type=content_type or "application/octet-stream",
        cache_control=request.headers.get("cache-control", "no-cache"),
        user_metadata=parse_user_metadata(request.headers.get("x-metadata")) or {},
        chunks=body,
    )


async def _checked(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except MultipartError as exc:
        raise no_content_provided() from exc


async def drain(body: AsyncIterator[bytes]) -> None:
    """Read what is left of a refused request body, so the client can read the answer."""
    seen = 0
    try:
        async for chunk in body:
            seen += len(chunk)
            if seen > DRAIN_LIMIT:
                return
    except Exception:  # noqa: S110 - a client that went away has nothing left to drain
        pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a Range header asks for; None to send the whole object.

    ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` are served; multiple ranges and other units
    are ignored (the whole object is sent, as S3 does); an unsatisfiable range is 416.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.fullmatch(spec.strip())
    if not match or match.group(0) == "-":
        raise invalid_range()
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise invalid_range()
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise invalid_range()
    return start, min(end, size - 1)


def normalize_content_type(content_type: str | None) -> str:
    """The server never serves text/html as such (stored XSS), it says text/plain."""
    if content_type and "text/html" in content_type:
        return "text/plain"
    return content_type or "application/octet-stream"


def http_date(moment: datetime) -> str:
    """An RFC 7231 date, as JavaScript's ``toUTCString`` writes it."""
    return format_datetime(moment, usegmt=True)


def content_disposition(download: str) -> str:
    """``?download`` (empty) or ``?download=name`` as the renderer turns them into a header."""
    if download == "":
        return "attachment;"
    encoded = quote(download, safe="-_.!~*'()")
    return f"attachment; filename={encoded}; filename*=UTF-8''{encoded};"


Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


class BlobResponse:
    """An ASGI response that streams chunks after the given headers (or nothing, for HEAD)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], chunks: AsyncIterator[bytes] | None) -> None:
        self.status_code = status
        self.headers = headers
        self._chunks = chunks

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """Send the start message, then the chunks."""
        raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1", errors="replace")) for name, value in self.headers
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw_headers})
        if self._chunks is not None and scope.get("method") != "HEAD":
            async for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

"""Supabase Storage's resumable upload: tus 1.0.0 at `/storage/v1/upload/resumable`.

The way in for bodies above a project's standard-upload limit (hosted projects cap a standard
upload far below what they store, and Supabase tells clients to send 6 MB chunks).  The server's
source (`src/http/routes/tus/`) fixes the shape: `POST` with `Upload-Length` (or
`Upload-Defer-Length: 1` while the length is unknown) and `Upload-Metadata` (base64 `bucketName`,
`objectName`, `contentType`, `cacheControl` in seconds, `metadata` as JSON) answers 201 and a
`Location`; each `PATCH` sends bytes at `Upload-Offset`; `HEAD` says how far the server got.
Errors come back with their real status and a plain-text body.

Each chunk is held in memory until the server has it: a failed PATCH is sent again (the store's
retry policy) from the offset HEAD gives, so no earlier chunk is ever sent twice and memory stays
at one chunk.  The upload is terminated (DELETE) when the write fails for good.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from bucketshift.errors import StoreError, TransientError
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores._supabase_http import Reply, error_body, raise_for

__all__ = [
    "TUS_CHUNK",
    "ChunkReader",
    "ResumableNotServed",
    "ResumableTarget",
    "Sender",
    "tus_cache_seconds",
    "upload_resumable",
]

TUS_CHUNK = 6 * 1024 * 1024
"""What Supabase asks resumable clients to send per PATCH (6 MB, in the MiB its clients mean)."""
TUS_PATH = "/upload/resumable"
OFFSET_TYPE = "application/offset+octet-stream"
TERMINATE_ATTEMPTS = 2
_MAX_AGE = re.compile(r"^\s*max-age=(\d+)\s*$", re.IGNORECASE)


class Sender(Protocol):
    """One HTTP request to an absolute URL of the project, with the store's auth; any status."""

    def __call__(
        self, method: str, target: str, *, headers: Mapping[str, str], data: Any = None
    ) -> Awaitable[Reply]: ...


class ResumableNotServed(StoreError):
    """The project does not serve `/upload/resumable` (a 404 for the route itself)."""


@dataclass(frozen=True)
class ResumableTarget:
    """The object a resumable upload makes, described as a standard upload would describe it."""

    bucket: str
    key: str
    content_type: str
    cache_seconds: str | None
    metadata: Mapping[str, str]
    upsert: bool


def tus_cache_seconds(cache_control: str | None) -> tuple[bool, str | None]:
    """Whether a cache control survives the resumable path, and the seconds to send for it.

    The server keeps only `max-age=<seconds>` (it builds that from a number) and stores
    `no-cache` for anything else, so any other value would silently change.
    """
    if not cache_control or cache_control.strip().lower() == "no-cache":
        return True, None
    match = _MAX_AGE.match(cache_control)
    if match is None:
        return False, None
    return True, match.group(1)


class ChunkReader:
    """A body cut into chunks of at most `size` bytes, each told whether it is the last one.

    One chunk is filled at a time (plus the piece of the caller's chunk that overflowed it), so
    memory is bounded by the chunk size whatever the body's.
    """

    def __init__(self, chunks: AsyncIterator[bytes], size: int, prefix: bytes = b"") -> None:
        self._chunks = chunks
        self._size = size
        self._carry = prefix
        self._ended = False

    async def _piece(self) -> bytes | None:
        if self._carry:
            piece, self._carry = self._carry, b""
            return piece
        if self._ended:
            return None
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            self._ended = True
            return None

    async def next(self) -> tuple[bytearray, bool]:
        """The next chunk (empty only for an empty body) and whether nothing follows it."""
        chunk = bytearray()
        while len(chunk) < self._size:
            piece = await self._piece()
            if piece is None:
                return chunk, True
            take = self._size - len(chunk)
            chunk += piece[:take]
            if len(piece) > take:
                self._carry = piece[take:]
        following = await self._piece()
        if following is None:
            return chunk, True
        self._carry = following
        return chunk, False


def _metadata_header(target: ResumableTarget) -> str:
    pairs = {"bucketName": target.bucket, "objectName": target.key, "contentType": target.content_type}
    if target.cache_seconds is not None:
        pairs["cacheControl"] = target.cache_seconds
    if target.metadata:
        pairs["metadata"] = json.dumps(dict(target.metadata))
    return ",".join(f"{name} {base64.b64encode(value.encode()).decode()}" for name, value in pairs.items())


def _raise_reply(reply: Reply, bucket: str, key: str) -> None:
    """A tus answer's error as ours: its body is the storage error's message, as plain text."""
    if reply.status < 400:
        return
    body = reply.body
    if not error_body(body):
        text = body.decode("utf-8", errors="replace").strip() or "request failed"
        if reply.status == 409 and "Upload-Offset conflict" in text:
            raise TransientError(
                f"resumable upload of {bucket}/{key}: the server is at another offset (Upload-Offset conflict)",
                bucket=bucket,
                key=key,
            )
        body = json.dumps({"statusCode": str(reply.status), "message": text}).encode()
    raise_for(reply.status, body, "", bucket=bucket, key=key)


@dataclass
class _Progress:
    """Where the server is believed to be in a chunk; `unsure` after a request that may have moved it."""

    offset: int
    unsure: bool = False


class _Upload:
    """One upload's requests, once it exists at `location`."""

    def __init__(self, send: Sender, location: str, target: ResumableTarget, policy: RetryPolicy) -> None:
        self.send = send
        self.location = location
        self.target = target
        self.policy = policy

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Tus-Resumable": "1.0.0", "x-upsert": "true" if self.target.upsert else "false", **extra}

    async def head(self) -> tuple[int, int | None]:
        """The server's offset, and the length when it is known."""
        reply = await self.send("HEAD", self.location, headers=self.headers())
        _raise_reply(reply, self.target.bucket, self.target.key)
        length = reply.headers.get("Upload-Length")
        return _offset(reply, self.target), int(length) if length and length.isdigit() else None

    async def send_chunk(self, data: bytearray, start: int, total: int | None) -> None:
        """Bring the server from `start` to the chunk's end; after a failure, from where HEAD says.

        `total` is the body's length, given with the last chunk when it was deferred.
        """
        progress = _Progress(start)
        await with_retries(lambda: self._attempt(data, start, total, progress), self.policy)

    async def _attempt(self, data: bytearray, start: int, total: int | None, progress: _Progress) -> None:
        end = start + len(data)
        if progress.unsure:
            offset, length = await self.head()
            if not start <= offset <= end:
                raise StoreError(
                    f"resumable upload of {self.target.bucket}/{self.target.key}: the server is at byte {offset}, "
                    f"outside the chunk {start}-{end} still in hand; the object must be sent again",
                    bucket=self.target.bucket,
                    key=self.target.key,
                )
            progress.offset, progress.unsure = offset, False
            if offset == end and (total is None or length is not None):
                return
        extra = {"Upload-Offset": str(progress.offset), "Content-Type": OFFSET_TYPE}
        if total is not None:
            extra["Upload-Length"] = str(total)
        progress.unsure = True
        with memoryview(data) as view:
            body = view[progress.offset - start :]
            reply = await self.send("PATCH", self.location, headers=self.headers(**extra), data=body)
        _raise_reply(reply, self.target.bucket, self.target.key)
        reached = _offset(reply, self.target)
        if reached != end:
            raise TransientError(
                f"resumable upload of {self.target.bucket}/{self.target.key}: the server took the bytes up to "
                f"{reached}, not {end}",
                bucket=self.target.bucket,
                key=self.target.key,
            )
        progress.offset, progress.unsure = reached, False

    async def terminate(self) -> None:
        """Best effort: a failed upload should not wait for the server to expire it."""
        for _ in range(TERMINATE_ATTEMPTS):
            try:
                reply = await self.send("DELETE", self.location, headers=self.headers())
            except StoreError:
                continue
            if reply.status < 500:
                return


def _offset(reply: Reply, target: ResumableTarget) -> int:
    value = reply.headers.get("Upload-Offset", "")
    if not value.isdigit():
        raise TransientError(
            f"resumable upload of {target.bucket}/{target.key}: the server answered without an Upload-Offset",
            bucket=target.bucket,
            key=target.key,
        )
    return int(value)


def _same_origin(location: str, api: str) -> str:
    """The upload's URL, kept on the project's own origin: the service key never goes elsewhere."""
    resolved = urljoin(api + "/", location)
    there, here = urlsplit(resolved), urlsplit(api)
    if (there.scheme, there.netloc) == (here.scheme, here.netloc):
        return resolved
    upload_id = there.path.rstrip("/").rpartition("/")[2]
    signed = "/sign/" in there.path
    return f"{api}{TUS_PATH}{'/sign' if signed else ''}/{upload_id}"


async def _create(send: Sender, api: str, target: ResumableTarget, size: int | None, policy: RetryPolicy) -> str:
    length = {"Upload-Length": str(size)} if size is not None else {"Upload-Defer-Length": "1"}
    headers = {
        "Tus-Resumable": "1.0.0",
        "x-upsert": "true" if target.upsert else "false",
        "Upload-Metadata": _metadata_header(target),
        **length,
    }

    async def attempt() -> Reply:
        reply = await send("POST", api + TUS_PATH, headers=headers)
        if reply.status == 404 and str(error_body(reply.body).get("message", "")).startswith("Route "):
            raise ResumableNotServed(
                f"this Supabase project does not serve resumable uploads ({TUS_PATH} answered 404)",
                bucket=target.bucket,
                key=target.key,
            )
        _raise_reply(reply, target.bucket, target.key)
        return reply

    reply, _ = await with_retries(attempt, policy)
    location = reply.headers.get("Location")
    if not location:
        raise TransientError(
            f"resumable upload of {target.bucket}/{target.key}: the server gave no Location for it",
            bucket=target.bucket,
            key=target.key,
        )
    return _same_origin(location, api)


async def upload_resumable(
    send: Sender,
    api: str,
    target: ResumableTarget,
    reader: ChunkReader,
    *,
    size: int | None,
    policy: RetryPolicy,
) -> None:
    """Create the upload, then send the body chunk by chunk; the last PATCH makes the object.

    `size` None defers the length to the last chunk.  Any failure once the upload exists
    terminates it before the error goes on (the caller's own body error included).
    """
    location = await _create(send, api, target, size, policy)
    upload = _Upload(send, location, target, policy)
    sent = 0
    try:
        while True:
            data, last = await reader.next()
            if data or (last and size is None):
                await upload.send_chunk(data, sent, sent + len(data) if last and size is None else None)
            sent += len(data)
            del data
            if last:
                return
    except BaseException:
        await asyncio.shield(upload.terminate())
        raise

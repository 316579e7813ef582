"""The plain boto3 data path, for what obstore cannot do.

obstore's paths cannot hold every S3 key (empty, `.` or `..` segments, a trailing `/`, control
characters) and its create-only put buffers the whole body.  These functions do the same jobs
with a boto3 client run in threads: a streaming GET read chunk by chunk, a single PUT for small
bodies and a multipart upload for large ones, whose abort is registered the moment the upload
exists (s3transfer's rule), so a failure or a cancellation leaves no parts behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from bucketshift.stores._s3_errors import from_botocore
from bucketshift.stores.base import ObjectInfo, ObjectReader, short_body, split_sha256, strip_etag

__all__ = ["BotoReader", "head", "info_from_response", "open_reader", "put_multipart", "put_single", "sha256_of"]

T = TypeVar("T")


def sha256_of(response: Mapping[str, Any]) -> str | None:
    """The hex SHA-256 of the whole object, when the stored checksum is one.

    A multipart upload's checksum is a checksum of part checksums (COMPOSITE) unless S3 says
    FULL_OBJECT; without a type, only a single-part object (an ETag without `-N`) is trusted.
    """
    value = response.get("ChecksumSHA256")
    if not value or "-" in value:
        return None
    kind = response.get("ChecksumType")
    if kind is None and "-" in (response.get("ETag") or ""):
        return None
    if kind not in (None, "FULL_OBJECT"):
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return None


def info_from_response(key: str, response: Mapping[str, Any]) -> ObjectInfo:
    """An ObjectInfo from a HeadObject or GetObject answer."""
    metadata, stored = split_sha256({k.lower(): v for k, v in (response.get("Metadata") or {}).items()})
    return ObjectInfo(
        key=key,
        size=int(response.get("ContentLength") or 0),
        etag=strip_etag(response.get("ETag")),
        last_modified=response.get("LastModified"),
        content_type=response.get("ContentType"),
        cache_control=response.get("CacheControl"),
        metadata=metadata,
        sha256=sha256_of(response) or stored,
    )


async def _call(action: str, bucket: str, key: str | None, fn: Callable[..., T], /, **kwargs: Any) -> T:
    try:
        return await asyncio.to_thread(fn, **kwargs)
    except Exception as exc:
        raise from_botocore(exc, action, bucket=bucket, key=key) from exc


async def head(client: Any, bucket: str, key: str, *, checksum: bool = False) -> ObjectInfo:
    """HeadObject; with `checksum`, asks for the stored checksums too (ChecksumMode=ENABLED)."""
    extra = {"ChecksumMode": "ENABLED"} if checksum else {}
    response = await _call("head", bucket, key, client.head_object, Bucket=bucket, Key=key, **extra)
    return info_from_response(key, response)


class BotoReader(ObjectReader):
    """A GetObject body read in a thread, one chunk at a time; a short body is a TransientError."""

    def __init__(self, info: ObjectInfo, stream: Any, bucket: str, chunk_size: int) -> None:
        self.info = info
        self._stream = stream
        self._bucket = bucket
        self._chunk_size = chunk_size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            chunk = await _call("read", self._bucket, self.info.key, self._stream.read, amt=self._chunk_size)
            if not chunk:
                break
            received += len(chunk)
            yield chunk
        if received != self.info.size:
            raise short_body(self._bucket, self.info.key, received, self.info.size)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._stream.close)


async def open_reader(client: Any, bucket: str, key: str, *, chunk_size: int) -> BotoReader:
    """Start a GetObject and return its body as a reader (close it with `aclose`)."""
    response = await _call("read", bucket, key, client.get_object, Bucket=bucket, Key=key)
    return BotoReader(info_from_response(key, response), response["Body"], bucket, chunk_size)


def _write_args(content_type: str, cache_control: str | None, metadata: Mapping[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {"ContentType": content_type, "Metadata": dict(metadata)}
    if cache_control:
        args["CacheControl"] = cache_control
    return args


async def put_single(
    client: Any,
    bucket: str,
    key: str,
    data: bytes,
    *,
    content_type: str,
    cache_control: str | None,
    metadata: Mapping[str, str],
    create_only: bool,
    sha256_hex: str | None,
) -> str | None:
    """One PutObject; `sha256_hex` (when given) is stored as the object's full checksum."""
    args = _write_args(content_type, cache_control, metadata)
    if create_only:
        args["IfNoneMatch"] = "*"
    if sha256_hex:
        args["ChecksumAlgorithm"] = "SHA256"
        args["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    response = await _call("write", bucket, key, client.put_object, Bucket=bucket, Key=key, Body=data, **args)
    return strip_etag(response.get("ETag"))


async def _parts(chunks: AsyncIterator[bytes], part_size: int) -> AsyncIterator[bytes]:
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        if len(pending) >= part_size:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


async def put_multipart(
    client: Any,
    bucket: str,
    key: str,
    chunks: AsyncIterator[bytes],
    *,
    part_size: int,
    concurrency: int,
    content_type: str,
    cache_control: str | None,
    metadata: Mapping[str, str],
    create_only: bool,
) -> str | None:
    """A multipart upload with at most `concurrency` parts in flight; aborted on any failure.

    Create-only is enforced when completing (If-None-Match on CompleteMultipartUpload).
    Memory stays near `part_size * (concurrency + 1)`.
    """
    args = _write_args(content_type, cache_control, metadata)
    created = await _call("write", bucket, key, client.create_multipart_upload, Bucket=bucket, Key=key, **args)
    upload_id = created["UploadId"]
    in_flight: set[asyncio.Task[dict[str, Any]]] = set()
    done: list[dict[str, Any]] = []

    async def upload(number: int, body: bytes) -> dict[str, Any]:
        part = await _call(
            "write",
            bucket,
            key,
            client.upload_part,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"PartNumber": number, "ETag": part["ETag"]}

    try:
        number = 0
        async for body in _parts(chunks, part_size):
            number += 1
            in_flight.add(asyncio.create_task(upload(number, body)))
            if len(in_flight) >= concurrency:
                finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                done.extend(task.result() for task in finished)
        if in_flight:
            done.extend(await asyncio.gather(*in_flight))
            in_flight = set()
        if not done:
            done.append(await upload(1, b""))
        complete: dict[str, Any] = {"IfNoneMatch": "*"} if create_only else {}
        response = await _call(
            "write",
            bucket,
            key,
            client.complete_multipart_upload,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": sorted(done, key=lambda p: p["PartNumber"])},
            **complete,
        )
    except BaseException:
        await asyncio.shield(_abort(client, bucket, key, upload_id, in_flight))
        raise
    return strip_etag(response.get("ETag"))


PARTS_SETTLE_SECONDS = 60.0
ABORT_ATTEMPTS = 3


async def _abort(client: Any, bucket: str, key: str, upload_id: str, in_flight: set[asyncio.Task[Any]]) -> None:
    """Abort once the parts in flight have settled, trying again if the abort itself fails.

    A part still arriving when the upload is aborted may be kept by S3, and cancelling its task
    would not stop the thread sending it; so the parts get a bounded time to finish first.
    """
    if in_flight:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), PARTS_SETTLE_SECONDS)
    for attempt in range(ABORT_ATTEMPTS):
        try:
            await asyncio.to_thread(client.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id)
            return
        except Exception as exc:  # the upload's own failure is what the caller must see
            if _error_code(exc) == "NoSuchUpload":
                return
        await asyncio.sleep(0.25 * (attempt + 1))


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None

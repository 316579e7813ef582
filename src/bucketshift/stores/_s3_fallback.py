"""The boto3 data path: what obstore cannot do.

obstore's paths cannot hold every S3 key (empty, `.` or `..` segments, a trailing `/`, control
characters), it cannot ask HeadObject for stored checksums, and it has no multipart upload driven
part by part.  These functions do those jobs with a boto3 client run in threads; each is one
request, so the engine decides retries: a streaming GET, a single PUT, HEAD with checksums, and
the four multipart calls (the full-object CRC64NVME travels with them, so S3 checks the body).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from bucketshift.errors import NotFound
from bucketshift.stores._s3_errors import from_botocore
from bucketshift.stores.base import (
    ObjectInfo,
    ObjectReader,
    SourceVersion,
    UploadedPart,
    short_body,
    split_reserved,
    strip_etag,
)

__all__ = [
    "BotoReader",
    "PartBody",
    "abort_upload",
    "complete_upload",
    "create_upload",
    "head",
    "info_from_response",
    "open_reader",
    "put_single",
    "quoted",
    "sha256_of",
    "upload_part",
    "write_args",
]

T = TypeVar("T")


def quoted(etag: str) -> str:
    """An ETag as a precondition header carries it."""
    return etag if etag.startswith('"') else f'"{etag}"'


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


def _crc64nvme_of(response: Mapping[str, Any]) -> str | None:
    """S3's CRC64NVME of the whole object (the algorithm is full-object only)."""
    value = response.get("ChecksumCRC64NVME")
    return value if value and "-" not in value else None


def info_from_response(key: str, response: Mapping[str, Any]) -> ObjectInfo:
    """An ObjectInfo from a HeadObject or GetObject answer."""
    metadata, copied_from = split_reserved({k.lower(): v for k, v in (response.get("Metadata") or {}).items()})
    etag = strip_etag(response.get("ETag"))
    return ObjectInfo(
        key=key,
        size=int(response.get("ContentLength") or 0),
        etag=etag,
        last_modified=response.get("LastModified"),
        content_type=response.get("ContentType"),
        cache_control=response.get("CacheControl"),
        content_disposition=response.get("ContentDisposition"),
        content_encoding=response.get("ContentEncoding"),
        content_language=response.get("ContentLanguage"),
        metadata=metadata,
        sha256=sha256_of(response),
        crc64nvme=_crc64nvme_of(response),
        copied_from=copied_from,
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

    def __init__(self, info: ObjectInfo, stream: Any, bucket: str, chunk_size: int, expected: int) -> None:
        self.info = info
        self._stream = stream
        self._bucket = bucket
        self._chunk_size = chunk_size
        self._expected = expected

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            chunk = await _call("read", self._bucket, self.info.key, self._stream.read, amt=self._chunk_size)
            if not chunk:
                break
            received += len(chunk)
            yield chunk
        if received != self._expected:
            raise short_body(self._bucket, self.info.key, received, self._expected)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._stream.close)


async def open_reader(client: Any, bucket: str, key: str, *, chunk_size: int, offset: int = 0) -> BotoReader:
    """Start a GetObject (from `offset`) and return its body as a reader (close it with `aclose`)."""
    extra = {"Range": f"bytes={offset}-"} if offset else {}
    response = await _call("read", bucket, key, client.get_object, Bucket=bucket, Key=key, **extra)
    length = int(response.get("ContentLength") or 0)
    info = info_from_response(key, response)
    if offset:
        total = str(response.get("ContentRange") or "").rpartition("/")[2]
        info = replace(info, size=int(total) if total.isdigit() else offset + length)
    return BotoReader(info, response["Body"], bucket, chunk_size, length)


def write_args(
    content_type: str,
    cache_control: str | None,
    metadata: Mapping[str, str],
    *,
    content_disposition: str | None = None,
    content_encoding: str | None = None,
    content_language: str | None = None,
    copied_from: SourceVersion | None = None,
) -> dict[str, Any]:
    """The descriptive parameters of a PutObject or CreateMultipartUpload."""
    args: dict[str, Any] = {
        "ContentType": content_type,
        "Metadata": {**metadata, **(copied_from.as_metadata() if copied_from else {})},
    }
    for name, value in (
        ("CacheControl", cache_control),
        ("ContentDisposition", content_disposition),
        ("ContentEncoding", content_encoding),
        ("ContentLanguage", content_language),
    ):
        if value:
            args[name] = value
    return args


def _preconditions(overwrite: bool, if_match: str | None) -> dict[str, str]:
    if if_match is not None:
        return {"IfMatch": quoted(if_match)}
    return {} if overwrite else {"IfNoneMatch": "*"}


async def put_single(
    client: Any,
    bucket: str,
    key: str,
    data: bytes,
    args: Mapping[str, Any],
    *,
    overwrite: bool,
    if_match: str | None,
    sha256_hex: str | None,
) -> str | None:
    """One PutObject; `sha256_hex` (when given) is sent as the full checksum S3 checks the body against."""
    extra: dict[str, Any] = {**args, **_preconditions(overwrite, if_match)}
    if sha256_hex:
        extra["ChecksumAlgorithm"] = "SHA256"
        extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    response = await _call("write", bucket, key, client.put_object, Bucket=bucket, Key=key, Body=data, **extra)
    return strip_etag(response.get("ETag"))


async def create_upload(client: Any, bucket: str, key: str, args: Mapping[str, Any], *, checksums: bool) -> str:
    """CreateMultipartUpload; with `checksums`, announces a full-object CRC64NVME."""
    extra = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"} if checksums else {}
    created = await _call("write", bucket, key, client.create_multipart_upload, Bucket=bucket, Key=key, **args, **extra)
    return str(created["UploadId"])


class PartBody(io.RawIOBase):
    """A part's bytes as the seekable stream botocore reads, without a copy of them (its signer
    copies a bytearray into a new BytesIO; a part is megabytes, and several are in flight)."""

    def __init__(self, data: bytes | bytearray) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), len(self._data) - self._at))
        buffer[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._data)}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at

    def __len__(self) -> int:
        return len(self._data)


async def upload_part(
    client: Any, bucket: str, key: str, upload_id: str, number: int, data: bytes | bytearray, *, crc64nvme: str | None
) -> str:
    """One UploadPart; with `crc64nvme`, S3 rejects a part whose bytes do not match it."""
    extra = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumCRC64NVME": crc64nvme} if crc64nvme else {}
    part = await _call(
        "write",
        bucket,
        key,
        client.upload_part,
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=number,
        Body=PartBody(data),
        **extra,
    )
    return str(part["ETag"])


async def complete_upload(
    client: Any,
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[UploadedPart],
    *,
    crc64nvme: str | None,
    size: int,
    overwrite: bool,
    if_match: str | None,
) -> dict[str, Any]:
    """CompleteMultipartUpload with the preconditions and, with `crc64nvme`, the whole body's checksum."""
    listed: list[dict[str, Any]] = []
    for part in sorted(parts, key=lambda p: p.number):
        entry: dict[str, Any] = {"PartNumber": part.number, "ETag": part.etag}
        if crc64nvme:
            entry["ChecksumCRC64NVME"] = part.crc64nvme
        listed.append(entry)
    extra: dict[str, Any] = _preconditions(overwrite, if_match)
    if crc64nvme:
        extra.update({"ChecksumCRC64NVME": crc64nvme, "ChecksumType": "FULL_OBJECT", "MpuObjectSize": size})
    return await _call(
        "write",
        bucket,
        key,
        client.complete_multipart_upload,
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": listed},
        **extra,
    )


async def abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """AbortMultipartUpload; an upload already gone is not an error."""
    with contextlib.suppress(NotFound):
        await _call(
            "abort upload of", bucket, key, client.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id
        )

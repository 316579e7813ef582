"""The one interface every object store speaks.

Operations and the engine see only `ObjectStore`, `ObjectInfo`, `BucketInfo` and
`ObjectReader`; they never import a backend.  The interface is async because the copy engine
is asyncio.  Keys are the store's own raw keys (never URL-encoded); `list` is recursive and
returns full keys.  Every backend raises only the classes in `bucketshift.errors`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import ClassVar, Protocol, runtime_checkable

from awscrt import checksums

from bucketshift.errors import BucketNotFound, TransientError

__all__ = [
    "PLACEHOLDER_NAME",
    "RESERVED_METADATA",
    "SHA256_METADATA",
    "SOURCE_ETAG_METADATA",
    "SOURCE_SIZE_METADATA",
    "Body",
    "BucketInfo",
    "CheckedBody",
    "DatabaseListing",
    "Digests",
    "ListPage",
    "MultipartUploads",
    "ObjectInfo",
    "ObjectReader",
    "ObjectStore",
    "Sha256Counter",
    "SourceVersion",
    "UploadedPart",
    "aiter_body",
    "crc64nvme_text",
    "md5_of_etag",
    "short_body",
    "split_reserved",
    "strip_etag",
]

PLACEHOLDER_NAME = ".emptyFolderPlaceholder"
"""The 0-byte object Supabase's dashboard writes to make an empty folder visible."""

SHA256_METADATA = "bucketshift-sha256"
"""User metadata: the sha256 of the bytes bucketshift wrote (single-part writes, where it is known
before the first byte is sent)."""
SOURCE_ETAG_METADATA = "bucketshift-source-etag"
SOURCE_SIZE_METADATA = "bucketshift-source-size"
"""User metadata: the source version (its ETag and size) an object was copied from, so a rerun
after a crash adopts an object already written instead of fetching it from the source again."""
RESERVED_METADATA = frozenset({SHA256_METADATA, SOURCE_ETAG_METADATA, SOURCE_SIZE_METADATA})
"""Backends move these into `ObjectInfo.copied_from`: they never travel on as user metadata."""

_MD5 = re.compile(r"^[0-9a-f]{32}$")

Body = bytes | AsyncIterable[bytes]
"""What `put` accepts: a whole small body, or a stream of chunks for anything large."""


def strip_etag(etag: str | None) -> str | None:
    """An ETag without its quotes or weak `W/` mark, as stores and the manifest compare them."""
    if not etag:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"') or None


def short_body(bucket: str, key: str, received: int, expected: int) -> TransientError:
    """The error for a body that ended before its Content-Length: a retry may get it whole."""
    return TransientError(
        f"read object {key!r} in bucket {bucket}: the body ended after {received} of {expected} bytes",
        bucket=bucket,
        key=key,
    )


def md5_of_etag(etag: str | None) -> str | None:
    """The ETag when it is the plain hex MD5 of the body (single-part writes on S3 and Supabase).

    A multipart ETag (`...-N`) is not; with SSE-KMS neither is a plain-looking one, which is why
    the engine treats this as a claim to check, not a fact (see `engine/objects.py`)."""
    if etag and _MD5.match(etag):
        return etag
    return None


def crc64nvme_text(value: int) -> str:
    """A CRC64NVME as S3 sends it: the 8 big-endian bytes in base64."""
    return base64.b64encode(value.to_bytes(8, "big")).decode()


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """Which source object a destination object was copied from, as its user metadata says.

    `sha256` is the digest of the bytes written when it was known before the write (single-part)."""

    etag: str | None
    size: int
    sha256: str | None = None

    def as_metadata(self) -> dict[str, str]:
        out = {SOURCE_SIZE_METADATA: str(self.size)}
        if self.etag:
            out[SOURCE_ETAG_METADATA] = self.etag
        if self.sha256:
            out[SHA256_METADATA] = self.sha256
        return out

    def matches(self, etag: str | None, size: int) -> bool:
        """Whether this is the source version with `etag` and `size` (an ETag is needed to say so)."""
        return bool(self.etag) and self.etag == etag and self.size == size


def split_reserved(metadata: Mapping[str, str]) -> tuple[dict[str, str], SourceVersion | None]:
    """User metadata without bucketshift's own entries, and the source version those entries name."""
    rest = {k: v for k, v in metadata.items() if k not in RESERVED_METADATA}
    size = metadata.get(SOURCE_SIZE_METADATA)
    sha = metadata.get(SHA256_METADATA)
    if size is None or not size.isdigit():
        return rest, (SourceVersion(None, -1, sha) if sha else None)
    return rest, SourceVersion(metadata.get(SOURCE_ETAG_METADATA), int(size), sha)


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class BucketInfo:
    """A bucket as its store describes it; `public` is None where exposure is a policy matter."""

    name: str
    public: bool | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object.

    `metadata` is the user metadata (lower-case names); a listing may leave it empty where the
    store only returns it per object.  The checksums are ones the store itself vouches for:
    `sha256` (hex) and `crc64nvme` (base64, S3's full-object CRC) of the stored bytes; `md5` is the
    ETag where it claims to be the body's MD5.  `copied_from` is bucketshift's own mark on an object
    it wrote (see `SourceVersion`), never a checksum of what is stored.
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    sha256: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    crc64nvme: str | None = None
    copied_from: SourceVersion | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen(self.metadata))

    @property
    def md5(self) -> str | None:
        """The ETag, where it claims to be the body's MD5 (`md5_of_etag`)."""
        return md5_of_etag(self.etag)


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing; `next_token` resumes after it (None: the listing is complete)."""

    objects: list[ObjectInfo]
    next_token: str | None = None


@runtime_checkable
class DatabaseListing(Protocol):
    """Optional capability: a store that can list a bucket two independent ways, through its
    API and from its own database rows, so the two can be reconciled."""

    @property
    def has_database(self) -> bool: ...

    async def api_list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage: ...

    async def database_list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage: ...


class ObjectReader(ABC):
    """An open object: its description and its bytes as a stream of chunks, read once."""

    info: ObjectInfo

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...


async def aiter_body(body: Body, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """Yield a `Body` as chunks, so backends handle bytes and streams alike."""
    if isinstance(body, bytes) and len(body) <= chunk_size:
        if body:
            yield body
        return
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    async for chunk in body:
        if chunk:
            yield bytes(chunk)


class CheckedBody:
    """The caller's body as chunks, checked against the announced size.

    It remembers the caller's own failure, so that one is re-raised as it is and never
    mistaken for a store error; a body longer or shorter than the announced size fails
    before the write completes, so a truncated source never becomes an object.
    """

    def __init__(self, body: Body, size: int | None, bucket: str, key: str) -> None:
        self.seen = 0
        self.error: BaseException | None = None
        self._body = body
        self._size = size
        self._bucket = bucket
        self._key = key

    def _wrong_size(self, seen: str) -> TransientError:
        return TransientError(
            f"write object {self._key!r} in bucket {self._bucket}: the body has {seen} bytes, "
            f"{self._size} were announced",
            bucket=self._bucket,
            key=self._key,
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in aiter_body(self._body):
                self.seen += len(chunk)
                if self._size is not None and self.seen > self._size:
                    raise self._wrong_size(f"more than {self._size}")
                yield chunk
            if self._size is not None and self.seen != self._size:
                raise self._wrong_size(str(self.seen))
        except BaseException as exc:
            self.error = exc
            raise


class Digests:
    """The checksums of a stream, kept as it passes: sha256 (what the manifest records), CRC64NVME
    (what S3 checks a multipart body against, nearly free) and, when asked, MD5 (to check a read
    against a source whose ETag is one)."""

    __slots__ = ("_crc", "_md5", "_sha", "size")

    def __init__(self, *, md5: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._crc = 0
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        self._crc = checksums.crc64nvme(chunk, self._crc)
        self.size += len(chunk)

    def sha256(self) -> str:
        return self._sha.hexdigest()

    def md5(self) -> str | None:
        return None if self._md5 is None else self._md5.hexdigest()

    def crc64nvme(self) -> str:
        return crc64nvme_text(self._crc)


class Sha256Counter:
    """Hashes and counts a stream as it passes, so a put knows what it wrote."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    async def wrap(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.update(chunk)
            yield chunk


@dataclass(frozen=True, slots=True)
class UploadedPart:
    number: int
    etag: str
    crc64nvme: str


@runtime_checkable
class MultipartUploads(Protocol):
    """Optional capability: a multipart upload driven part by part.

    The engine uses it for large objects so that a failed part is retried on its own and a
    broken source read resumes where it stopped, instead of the whole object starting again.
    The store keeps no part in memory: each `upload_part` sends the bytes it is given.
    """

    multipart_threshold: int
    part_concurrency: int

    def part_size_for(self, size: int) -> int: ...

    async def start_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None,
        cache_control: str | None,
        content_disposition: str | None,
        content_encoding: str | None,
        content_language: str | None,
        metadata: Mapping[str, str],
        copied_from: SourceVersion | None,
    ) -> str: ...

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, data: bytes | bytearray, *, crc64nvme: str
    ) -> UploadedPart: ...

    async def finish_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[UploadedPart],
        *,
        crc64nvme: str,
        size: int,
        overwrite: bool,
        if_match: str | None,
    ) -> ObjectInfo: ...

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None: ...


class ObjectStore(ABC):
    """The required capabilities of a store.

    Backends register a name in `bucketshift.stores.registry` and are built from their
    endpoint configuration.  A store owns network clients: use it as an async context manager
    or call `aclose`.
    """

    kind: ClassVar[str]
    read_includes_metadata: ClassVar[bool] = True
    """False where `open` cannot return user metadata, so a copy must `head` each object too."""
    listing_includes_metadata: bool = False
    """True where `list_page` already carries each object's user metadata (no `head` needed)."""
    checksum_note: str | None = None
    """Set when the store turned out not to take the checksums its writes carry (said to the user)."""

    @property
    def writes_checksums(self) -> bool:
        """Whether writes carry a checksum that the store itself checks the body against."""
        return False

    async def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket is there (an application checks its buckets at start-up)."""
        try:
            await self.list_page(bucket)
        except BucketNotFound:
            return False
        return True

    async def head_checksums(self, bucket: str, key: str) -> ObjectInfo:
        """`head`, plus the checksums the store keeps of the stored bytes where it must be asked for them."""
        return await self.head(bucket, key)

    @abstractmethod
    async def list_buckets(self) -> list[BucketInfo]: ...

    @abstractmethod
    async def create_bucket(self, bucket: str, *, public: bool = False) -> None:
        """Create an empty bucket; AlreadyExists if it is there."""

    @abstractmethod
    async def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; BucketNotEmpty if it still holds objects."""

    @abstractmethod
    async def list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """One listing request's worth of objects, and the token that resumes after it.

        Every call is one idempotent request, so a caller may retry a failed page with the
        same token; `next_token` is None after the last page.  Pages may be empty.
        """

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, at any depth, in no promised order."""
        token: str | None = None
        while True:
            page = await self.list_page(bucket, prefix, token)
            for info in page.objects:
                yield info
            if page.next_token is None:
                return
            token = page.next_token

    @abstractmethod
    async def head(self, bucket: str, key: str) -> ObjectInfo:
        """The object's description with its user metadata; NotFound if absent."""

    @abstractmethod
    def open(self, bucket: str, key: str, *, offset: int = 0) -> AbstractAsyncContextManager[ObjectReader]:
        """Stream the object's bytes from `offset` on; memory stays bounded whatever its size.

        The reader's `info` describes the whole object (its `size` is the whole size), so a read
        resumed after a failure can check it is still the same version."""

    supports_if_match: ClassVar[bool] = True
    """Whether `put(if_match=...)` is enforced by the store itself; where it is not, the check is
    a look just before the write, which another writer can race."""

    @abstractmethod
    async def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        size: int | None = None,
        content_type: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
        if_match: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        copied_from: SourceVersion | None = None,
    ) -> ObjectInfo:
        """Write the object from a stream.

        The preconditions keep a live destination safe: with `overwrite` false the write lands
        only where no object is (AlreadyExists otherwise); `if_match` replaces only the version
        with that ETag (PreconditionFailed otherwise).  `copied_from` is kept with the object.
        The returned info carries the ETag, size, sha256 and CRC64NVME of the bytes written.
        """

    @abstractmethod
    async def delete(self, bucket: str, key: str) -> None:
        """Remove the object; removing an absent object is not an error."""

    @abstractmethod
    def public_url(self, bucket: str, key: str) -> str:
        """The URL anyone can fetch if the bucket is public (no request is made)."""

    @abstractmethod
    async def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        """A URL that grants a read of this object for `expires_in` seconds."""

    async def aclose(self) -> None:  # noqa: B027 - stores without clients need nothing here
        """Release network clients."""

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

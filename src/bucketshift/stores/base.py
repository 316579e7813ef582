"""The one interface every object store speaks.

Operations and the engine see only `ObjectStore`, `ObjectInfo`, `BucketInfo` and
`ObjectReader`; they never import a backend.  The interface is async because the copy engine
is asyncio.  Keys are the store's own raw keys (never URL-encoded); `list` is recursive and
returns full keys.  Every backend raises only the classes in `bucketshift.errors`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import ClassVar, Protocol, runtime_checkable

from bucketshift.errors import TransientError

__all__ = [
    "PLACEHOLDER_NAME",
    "SHA256_METADATA",
    "Body",
    "BucketInfo",
    "DatabaseListing",
    "ListPage",
    "ObjectInfo",
    "ObjectReader",
    "ObjectStore",
    "Sha256Counter",
    "aiter_body",
    "short_body",
    "split_sha256",
    "strip_etag",
]

PLACEHOLDER_NAME = ".emptyFolderPlaceholder"
"""The 0-byte object Supabase's dashboard writes to make an empty folder visible."""

SHA256_METADATA = "bucketshift-sha256"
"""User-metadata name under which a store without a checksum field keeps the sha256 we wrote.

Backends move it into `ObjectInfo.sha256` when they read it back, so it never travels on as
user metadata."""

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


def split_sha256(metadata: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """User metadata without our sha256 entry, and that entry."""
    rest = {k: v for k, v in metadata.items() if k != SHA256_METADATA}
    return rest, metadata.get(SHA256_METADATA)


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
    store only returns it per object.  `sha256` is the hex digest of the bytes when known.
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen(self.metadata))


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
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    async for chunk in body:
        if chunk:
            yield bytes(chunk)


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
    def open(self, bucket: str, key: str) -> AbstractAsyncContextManager[ObjectReader]:
        """Stream the object's bytes; memory stays bounded whatever its size."""

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
    ) -> ObjectInfo:
        """Write the object from a stream; AlreadyExists when `overwrite` is false and it exists.

        The returned info carries the size and sha256 of the bytes actually sent.
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

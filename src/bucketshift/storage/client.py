"""`AsyncStorage`: the application's uploads, URLs and reads, on S3, on Supabase, or on both.

The application names buckets by their logical names (`images`, `videos`) and keeps what
`upload` returns as `stored_value` in its rows; `url_for` turns any value a row holds, from any
time in the move, into a URL a browser can fetch now.  The backend is configuration
(`STORAGE_BACKEND`), so moving the application back is a change of setting, not of code.

Mirror mode is the cut-over window, as Rails' ActiveStorage MirrorService runs it: every upload
and delete goes to the primary, then to the secondary; reads and URLs come from the primary,
falling back to the secondary for an object the primary lacks.  The primary's failure is the
application's; the secondary's is retried (`mirror_retry`), then logged on the
`bucketshift.storage` logger and kept in `missed`, and the request goes on: `bucketshift sync`
finds the object missing and copies it.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypeVar

from bucketshift.errors import BucketshiftError, ConfigError, InvalidKey, NotFound
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.storage.bodies import Data, Payload, payload_of
from bucketshift.storage.settings import Backend, Side, StorageSettings
from bucketshift.storage.sides import StorageSide, open_side
from bucketshift.storage.values import StoredRef, read_value
from bucketshift.stores.base import Digests, MultipartUploads, ObjectInfo, ObjectReader, SourceVersion
from bucketshift.stores.multipart import write_in_parts
from bucketshift.urls import host_port

__all__ = ["MISSES_KEPT", "AsyncStorage", "MirrorMiss", "StoredObject"]

T = TypeVar("T")
log = logging.getLogger("bucketshift.storage")

MISSES_KEPT = 1000
"""The latest secondary failures kept in `missed` (all are counted and logged)."""
KNOWN_KEPT = 10_000
"""Mirror mode: objects known to be on the primary (written or seen there), so a URL for one costs no
request to look for it again; the oldest are forgotten first."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object just written.  `stored_value` is what the row keeps: the public URL of a public
    bucket's object, a stable private reference for a private bucket's (never a public URL).
    `mirrored` is None outside mirror mode, False when the secondary missed the write."""

    bucket: str
    key: str
    size: int
    content_type: str
    sha256: str
    etag: str | None
    stored_value: str
    mirrored: bool | None = None


@dataclass(frozen=True, slots=True)
class MirrorMiss:
    """A write the secondary did not take, left for `bucketshift sync` (or, for a delete, by hand)."""

    action: Literal["upload", "delete"]
    side: Side
    bucket: str
    key: str
    error: str


class AsyncStorage:
    """The application's storage; build it at start-up with `from_env` or `from_plan`, then `check()`."""

    def __init__(
        self,
        settings: StorageSettings,
        *,
        sides: Sequence[StorageSide] | None = None,
        retry: RetryPolicy | None = None,
        mirror_retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._sides = list(sides) if sides is not None else [open_side(name, settings) for name in settings.sides]
        self.retry = retry or RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=5.0)
        self.mirror_retry = mirror_retry or RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=2.0)
        self.missed: deque[MirrorMiss] = deque(maxlen=MISSES_KEPT)
        self.missed_count = 0
        self._on_primary: OrderedDict[tuple[str, str], None] = OrderedDict()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: RetryPolicy) -> AsyncStorage:
        """Configured from `STORAGE_BACKEND` and the variables it needs; ConfigError names the one at fault."""
        return cls(StorageSettings.from_env(env), **options)  # type: ignore[arg-type]

    @classmethod
    def from_plan(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: Backend = "s3",
        primary: Side | None = None,
        env: Mapping[str, str] | None = None,
        **options: RetryPolicy,
    ) -> AsyncStorage:
        """Configured from the plan file the migration ran from (its destination, buckets and source)."""
        return cls(StorageSettings.from_plan(path, backend=backend, primary=primary, env=env), **options)  # type: ignore[arg-type]

    @property
    def backend(self) -> Backend:
        return self.settings.backend

    @property
    def primary(self) -> StorageSide:
        return self._sides[0]

    @property
    def secondary(self) -> StorageSide | None:
        return self._sides[1] if len(self._sides) > 1 else None

    # start-up -----------------------------------------------------------------------------

    async def check(self) -> None:
        """Every bucket on every side in use exists; ConfigError names the setting of one that does not."""
        for side in self._sides:
            for logical in self.settings.buckets:
                bucket = side.bucket(logical)
                if not await side.store.bucket_exists(bucket):
                    how = " (bucketshift provision)" if side.name == "s3" else ""
                    raise ConfigError(
                        f"{side.label} bucket {bucket!r} does not exist at {self._place(side)}; "
                        f"create it{how} or fix {side.where(logical)}"
                    )

    def _place(self, side: StorageSide) -> str:
        if side.name == "supabase":
            return host_port(self.settings.supabase_url or "") or "Supabase"
        endpoint = self.settings.endpoint_url
        return (host_port(endpoint) if endpoint else None) or f"S3 in {self.settings.region}"

    # writes -------------------------------------------------------------------------------

    async def upload(
        self,
        bucket: str,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
        size: int | None = None,
    ) -> StoredObject:
        """Write an object (streamed; part by part when large; checksummed, checked by S3 itself).

        `content_type` defaults to the one the key's extension names.  With `overwrite=False` the
        write lands only where no object is (AlreadyExists otherwise).  `size` is a stream's length
        where it is known (a request's Content-Length): a large stream then goes part by part from
        its first byte instead of being gathered up to the multipart threshold first, and a stream
        that ends short or runs over is refused, never stored."""
        logical = self._logical(bucket)
        key = _checked_key(logical, key)
        content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        attributes = {"content_type": content_type, "cache_control": cache_control, "metadata": dict(metadata or {})}
        payload = payload_of(data, size)
        try:
            if self.secondary is not None:
                payload.keep()
            info = await self._write(self.primary, logical, key, payload, attributes, self.retry, overwrite)
            mirrored = None
            if self.secondary is not None:
                self._known(logical, key)
                mirrored = await self._mirror_write(logical, key, payload.kept(), attributes, info)
        finally:
            payload.close()
        return StoredObject(
            bucket=logical,
            key=key,
            size=info.size,
            content_type=content_type,
            sha256=info.sha256 or "",
            etag=info.etag,
            stored_value=self.primary.stored_value(logical, key),
            mirrored=mirrored,
        )

    async def _write(
        self,
        side: StorageSide,
        logical: str,
        key: str,
        payload: Payload,
        attributes: Mapping[str, object],
        policy: RetryPolicy,
        overwrite: bool,
        copied_from: SourceVersion | None = None,
    ) -> ObjectInfo:
        """One side's write: part by part (each part retried alone) above the store's threshold,
        else one request, retried whole where the payload can be read again."""
        store, bucket = side.store, side.bucket(logical)
        if (
            isinstance(store, MultipartUploads)
            and payload.size is not None
            and payload.size > store.multipart_threshold
        ):
            digests = Digests()
            describe = {**attributes, "content_disposition": None, "content_encoding": None,
                        "content_language": None, "copied_from": copied_from}  # fmt: skip
            declared = payload.size

            def whole() -> None:
                if digests.size != declared:
                    raise ValueError(
                        f"upload of {key!r}: the body held {digests.size} bytes, not the {declared} declared"
                    )

            written = await write_in_parts(
                store, bucket, key, payload.chunks(), size=declared, describe=describe, overwrite=overwrite,
                if_match=None, digests=digests, attempt=lambda request: self._attempt(request, policy),
                before_finish=whole,
            )  # fmt: skip
            return ObjectInfo(key=key, size=digests.size, etag=written.etag, sha256=digests.sha256())

        async def send() -> ObjectInfo:
            body = payload.whole()
            return await store.put(
                bucket, key, body if body is not None else payload.chunks(), size=payload.size,
                overwrite=overwrite, copied_from=copied_from, **attributes,  # type: ignore[arg-type]
            )  # fmt: skip

        if not payload.replayable:
            return await send()
        return await self._attempt(send, policy)

    @staticmethod
    async def _attempt(request: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
        result, _ = await with_retries(request, policy)
        return result

    async def _mirror_write(
        self, logical: str, key: str, payload: Payload, attributes: Mapping[str, object], written: ObjectInfo
    ) -> bool:
        """The secondary's copy, marked with the primary's version it mirrors (as a copy marks its
        objects), so `copy` and `sync` adopt it instead of calling it the application's conflict."""
        side = self.secondary
        assert side is not None
        try:
            version = await self._primary_version(logical, key, written)
            await self._write(side, logical, key, payload, attributes, self.mirror_retry, True, version)
        except Exception as error:  # the secondary never fails the application's request
            self._missed("upload", side, logical, key, error)
            return False
        return True

    async def _primary_version(self, logical: str, key: str, written: ObjectInfo) -> SourceVersion | None:
        """The primary's ETag and size of what was just written; asked of it where its write did not say."""
        etag = written.etag
        if etag is None:
            try:
                etag = (await self.primary.store.head(self.primary.bucket(logical), key)).etag
            except BucketshiftError:
                return None
        return SourceVersion(etag, written.size) if etag else None

    async def delete(self, bucket: str, key: str) -> None:
        """Remove the object from every side in use; an absent object is not an error."""
        logical = self._logical(bucket)
        self._on_primary.pop((logical, key), None)
        await self._attempt(lambda: self.primary.store.delete(self.primary.bucket(logical), key), self.retry)
        side = self.secondary
        if side is None:
            return
        try:
            await self._attempt(lambda: side.store.delete(side.bucket(logical), key), self.mirror_retry)
        except Exception as error:  # as for uploads: logged and kept, never the application's failure
            self._missed("delete", side, logical, key, error)

    def _missed(self, action: Literal["upload", "delete"], side: StorageSide, logical: str, key: str,
                error: BaseException) -> None:  # fmt: skip
        said = str(error) if isinstance(error, BucketshiftError) else f"{type(error).__name__}: {error}"
        self.missed_count += 1
        self.missed.append(MirrorMiss(action, side.name, logical, key, said))
        later = "bucketshift sync copies it" if action == "upload" else "delete it there by hand"
        log.warning("mirror %s of %s/%s to %s failed (%s); %s", action, logical, key, side.name, said, later)

    # reads and URLs -----------------------------------------------------------------------

    async def _holder(self, logical: str, key: str) -> StorageSide:
        """The side to read from: the primary, or the secondary where only it has the object.

        The secondary is only asked when the primary lacks the object, and its failure then is
        not the application's: the primary's answer stands.  An object known to be on the primary
        (written through this client, or found there before) is not looked for again."""
        side = self.secondary
        if side is None or (logical, key) in self._on_primary:
            return self.primary
        if await self._has(self.primary, logical, key):
            self._known(logical, key)
            return self.primary
        return side if await self._secondary_has(side, logical, key) else self.primary

    def _known(self, logical: str, key: str) -> None:
        self._on_primary[(logical, key)] = None
        self._on_primary.move_to_end((logical, key))
        if len(self._on_primary) > KNOWN_KEPT:
            self._on_primary.popitem(last=False)

    @staticmethod
    async def _has(side: StorageSide, logical: str, key: str) -> bool:
        try:
            await side.store.head(side.bucket(logical), key)
        except NotFound:
            return False
        return True

    async def _secondary_has(self, side: StorageSide, logical: str, key: str) -> bool:
        try:
            return await self._has(side, logical, key)
        except BucketshiftError as error:
            log.warning("mirror read of %s/%s from %s failed (%s); answered from the primary", logical, key,
                        side.name, error)  # fmt: skip
            return False

    async def exists(self, bucket: str, key: str) -> bool:
        logical = self._logical(bucket)
        if await self._has(self.primary, logical, key):
            return True
        side = self.secondary
        return side is not None and await self._secondary_has(side, logical, key)

    async def public_url(self, bucket: str, key: str) -> str:
        """The object's public URL; ConfigError for a private bucket (its URL would answer 403)."""
        logical = self._logical(bucket)
        if logical in self.settings.private:
            raise ConfigError(f"bucket {logical!r} is private: its objects have no public URL; use signed_url")
        return (await self._holder(logical, key)).public_url(logical, key)

    async def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        """A URL that reads the object for `expires_in` seconds, whatever the bucket's access."""
        logical = self._logical(bucket)
        side = await self._holder(logical, key)
        return await side.store.signed_url(side.bucket(logical), key, expires_in)

    async def url_for(self, stored_value: str, *, bucket: str | None = None, expires_in: int = 3600) -> str:
        """A URL a browser can fetch now for any value a row holds (see `read`): the public URL
        for a public bucket's object, a URL signed for `expires_in` seconds for a private one's."""
        found = self.read(stored_value, bucket=bucket)
        side = await self._holder(found.bucket, found.key)
        return await side.url(found.bucket, found.key, expires_in)

    def read(self, stored_value: str, *, bucket: str | None = None) -> StoredRef:
        """The object a stored value names: any S3 or Supabase form, or a bare key with its `bucket`."""
        return read_value(stored_value, self.settings, bucket)

    def open(self, bucket: str, key: str) -> AbstractAsyncContextManager[ObjectReader]:
        """The object's bytes as a stream of chunks (`async for chunk in reader`); NotFound if absent."""
        return self._open(self._logical(bucket), key)

    @asynccontextmanager
    async def _open(self, logical: str, key: str) -> AsyncIterator[ObjectReader]:
        side = await self._holder(logical, key)
        async with side.store.open(side.bucket(logical), key) as reader:
            yield reader

    async def download(self, bucket: str, key: str) -> bytes:
        """The whole object in memory (for small ones; stream large ones with `open`)."""
        async with self.open(bucket, key) as reader:
            return b"".join([chunk async for chunk in reader])

    # plumbing -----------------------------------------------------------------------------

    def _logical(self, bucket: str) -> str:
        logical = self.settings.logical(bucket)
        if logical is None:
            raise ConfigError(
                f"bucket {bucket!r} is not one of the application's buckets ({', '.join(self.settings.buckets)}); "
                "add it to STORAGE_BUCKETS or the plan"
            )
        return logical

    async def aclose(self) -> None:
        for side in self._sides:
            await side.store.aclose()

    async def __aenter__(self) -> AsyncStorage:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _checked_key(bucket: str, key: str) -> str:
    if not key or key.startswith("/") or "//" in key or key.endswith("/"):
        raise InvalidKey(
            f"object key {key!r} must be a non-empty path without leading, trailing or double slashes",
            bucket=bucket,
            key=key,
        )
    return key

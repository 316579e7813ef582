"""Supabase Storage through its HTTP API (aiohttp, see `_supabase_http`).

Follows `shared/reference/supabase-storage-api.md`: list-v2 as a flat scan with a fallback to
the legacy one-level endpoint (recursing into folders, paging with limit/offset until a short
page); most errors arrive as HTTP 400 with the real status in the body's `statusCode`, and
are mapped here, at the boundary, to `bucketshift.errors`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from bucketshift.config import SupabaseEndpoint, TransferConfig
from bucketshift.errors import (
    BucketNotFound,
    ConfigError,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransientError,
)
from bucketshift.retry import RetryPolicy
from bucketshift.stores._supabase_http import (
    NETWORK_ERRORS,
    Reply,
    error_body,
    new_session,
    raise_for,
    transport_error,
    url,
)
from bucketshift.stores._supabase_rows import info_from_metadata, parse_time, user_metadata
from bucketshift.stores._supabase_tus import (
    TUS_CHUNK,
    ChunkReader,
    ResumableNotServed,
    ResumableTarget,
    tus_cache_seconds,
    upload_resumable,
)
from bucketshift.stores.base import (
    RESERVED_METADATA,
    Body,
    BucketInfo,
    CheckedBody,
    Digests,
    ListPage,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    SourceVersion,
    short_body,
    split_reserved,
    strip_etag,
)
from bucketshift.stores.registry import register

if TYPE_CHECKING:
    from bucketshift.stores.supabase_catalog import StorageCatalog

__all__ = ["SupabaseStore", "auth_headers"]

LEGACY_PAGE = 1000
"""Under the 1,500 cap of current servers, so a short page always means the folder ended."""
V2_PAGE = 1000
READ_CHUNK = 256 * 1024
RESUMABLE_ABOVE = TUS_CHUNK
"""Bodies larger than this go through the resumable (TUS) upload, as Supabase recommends above 6 MB."""
"""aiohttp buffers twice the chunk size a reader asks for on every open answer: a large
object waiting for its upload holds that much, so chunks stay modest."""


def auth_headers(key: str) -> dict[str, str]:
    """Both auth styles: a legacy JWT goes in `apikey` and `Authorization`; an `sb_` key in `apikey` only."""
    if key.startswith("sb_"):
        return {"apikey": key}
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def _path(key: str) -> str:
    return quote(key, safe="/")


def _ranged_size(content_range: str | None, status: int, offset: int, bucket: str, key: str) -> int:
    """The whole object's size from a 206 answer that starts where it was asked to."""
    unit, _, spec = (content_range or "").partition(" ")
    span, _, total = spec.partition("/")
    start = span.partition("-")[0]
    if status != 206 or unit != "bytes" or not start.isdigit() or int(start) != offset or not total.isdigit():
        raise TransientError(
            f"read object {key!r} in bucket {bucket} from byte {offset}: the server did not answer that range",
            bucket=bucket,
            key=key,
        )
    return int(total)


async def _gather(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """Read until more than `limit` bytes came or the body ended: the bytes, and whether it ended."""
    pieces: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pieces.append(chunk)
        held += len(chunk)
        if held > limit:
            return b"".join(pieces), False
    return b"".join(pieces), True


async def _prepend(head: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in chunks:
        yield chunk


async def _no_more() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _too_large(target: ResumableTarget, size: int | None, why: str) -> TooLarge:
    """A standard upload refused for its size that cannot go resumable: one sentence with the fix."""
    amount = "the body" if size is None else f"{size} bytes"
    return TooLarge(
        f"write object {target.key!r} in bucket {target.bucket}: {amount} is above this Supabase project's "
        f"standard-upload size limit (413 EntityTooLarge), and {why}; raise the project's standard upload "
        "limit, or let bucketshift use the resumable upload",
        bucket=target.bucket,
        key=target.key,
    )


class _HttpReader(ObjectReader):
    def __init__(
        self, info: ObjectInfo, response: aiohttp.ClientResponse, bucket: str, expected: int | None, endpoint: str
    ) -> None:
        self._endpoint = endpoint
        self.info = info
        self._response = response
        self._bucket = bucket
        self._expected = expected
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in self._response.content.iter_chunked(READ_CHUNK):
                received += len(chunk)
                yield chunk
        except NETWORK_ERRORS as exc:
            raise transport_error(exc, self._bucket, self.info.key, endpoint=self._endpoint) from None
        if self._expected is not None and received != self._expected:
            raise short_body(self._bucket, self.info.key, received, self._expected)
        self.complete = True


class SupabaseStore(ObjectStore):
    """A Supabase project's Storage; the key is the service role key (legacy JWT or `sb_secret_`)."""

    kind = "supabase"
    read_includes_metadata = False

    def __init__(
        self,
        url: str,
        key: SecretStr | str,
        *,
        list_api: str = "auto",
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_connections: int = 128,
        session: aiohttp.ClientSession | None = None,
        dsn: SecretStr | str | None = None,
        list_from: str = "api",
        resumable_above: int | None = RESUMABLE_ABOVE,
        resumable_retry: RetryPolicy | None = None,
    ) -> None:
        """`resumable_above`: bodies larger than this many bytes, and any the standard upload refuses
        as too large, go through the resumable upload (None: never; a refusal is then final).
        `resumable_retry` is how often one chunk of it is sent again (from where the server got)."""
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._dsn = dsn.get_secret_value() if isinstance(dsn, SecretStr) else dsn
        if list_from == "db" and not self._dsn:
            raise ConfigError("listing from the database needs [source] dsn, the project's Postgres connection string")
        self._catalog: StorageCatalog | None = None
        self.list_from = list_from
        self.listing_includes_metadata = list_from == "db"
        self.url = url.rstrip("/")
        self.api = f"{self.url}/storage/v1"
        self._list_api = list_api
        self._owns_session = session is None
        self._session = session
        self._session_options = {
            "max_connections": max_connections,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
        }
        self._auth = auth_headers(secret)
        self.resumable_above = resumable_above
        self.resumable_retry = resumable_retry or RetryPolicy(max_attempts=6, base_delay=0.2, max_delay=5.0)

    @property
    def catalog(self) -> StorageCatalog | None:
        """The project's `storage.objects`, when the plan gives its database (`dsn`); imported only
        when used, so an application using the store never loads psycopg for it."""
        if self._catalog is None and self._dsn:
            from bucketshift.stores.supabase_catalog import StorageCatalog

            self._catalog = StorageCatalog(self._dsn)
        return self._catalog

    @property
    def has_database(self) -> bool:
        return bool(self._dsn)

    async def database_list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """`list_page` from `storage.objects` (needs `dsn`)."""
        if self.catalog is None:
            raise ConfigError("reading storage.objects needs [source] dsn, the project's Postgres connection string")
        return await self.catalog.list_page(bucket, prefix, token)

    async def aclose(self) -> None:
        if self._catalog is not None:
            await self._catalog.aclose()
        if self._owns_session and self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp wants a running loop for it)."""
        if self._session is None:
            self._session = new_session(**self._session_options)
        return self._session

    async def _send(
        self, method: str, path: str, *, bucket: str | None = None, key: str | None = None, **kwargs: Any
    ) -> Reply:
        """One request; the reply whatever its status (the caller decides what a failure means)."""
        return await self._send_to(self.api + path, method, bucket=bucket, key=key, **kwargs)

    async def _send_to(
        self, target: str, method: str, *, bucket: str | None = None, key: str | None = None, **kwargs: Any
    ) -> Reply:
        """`_send` to an absolute URL of this project (a resumable upload's own URL)."""
        headers = {**self._auth, **kwargs.pop("headers", {})}
        try:
            async with self._http().request(method, url(target), headers=headers, **kwargs) as response:
                body = await response.read()
                return Reply(response.status, response.headers, body)
        except NETWORK_ERRORS as exc:
            raise transport_error(exc, bucket, key, endpoint=self.url) from None

    async def _request(
        self, method: str, path: str, *, bucket: str | None = None, key: str | None = None, **kwargs: Any
    ) -> Reply:
        reply = await self._send(method, path, bucket=bucket, key=key, **kwargs)
        if reply.status >= 400:
            raise_for(reply.status, reply.body, "", bucket=bucket, key=key)
        return reply

    async def list_buckets(self) -> list[BucketInfo]:
        response = await self._request("GET", "/bucket")
        return [BucketInfo(item["name"], bool(item.get("public"))) for item in response.json()]

    async def create_bucket(self, bucket: str, *, public: bool = False) -> None:
        await self._request("POST", "/bucket", bucket=bucket, json={"name": bucket, "id": bucket, "public": public})

    async def delete_bucket(self, bucket: str) -> None:
        await self._request("DELETE", f"/bucket/{quote(bucket, safe='')}", bucket=bucket)

    async def list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """One request of list-v2 (token: its cursor) or of the legacy endpoint (token: the folders
        still to walk, each with its offset), so any page can be retried on its own."""
        if self.list_from == "db":
            return await self.database_list_page(bucket, prefix, token)
        return await self.api_list_page(bucket, prefix, token)

    async def api_list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """`list_page` through the HTTP API, whatever `list_from` says (reconciling needs both)."""
        if token is None:
            # Both list endpoints answer an empty list for a bucket that does not exist; ask
            # first, so a typo in a bucket name is an error and not a silently empty copy.
            await self._request("GET", f"/bucket/{quote(bucket, safe='')}", bucket=bucket)
            if self._list_api != "legacy":
                page = await self._list_v2_page(bucket, prefix, None)
                if page is not None:
                    return self._v2_result(page)
                if self._list_api == "v2":
                    raise StoreError(
                        f"list-v2 is not available on this Supabase project (bucket {bucket})", bucket=bucket
                    )
                self._list_api = "legacy"
            folder, _, partial = prefix.rpartition("/")
            return await self._legacy_page(bucket, [[folder + "/" if folder else "", 0, partial]])
        state = json.loads(token)
        if "v2" in state:
            page = await self._list_v2_page(bucket, prefix, state["v2"])
            return self._v2_result(page or {})
        return await self._legacy_page(bucket, state["legacy"])

    async def _list_v2_page(self, bucket: str, prefix: str, cursor: str | None) -> dict[str, Any] | None:
        """One list-v2 page, or None when the server has no list-v2 (old projects answer 400 or 404)."""
        body: dict[str, Any] = {"prefix": prefix, "limit": V2_PAGE}
        if cursor:
            body["cursor"] = cursor
        reply = await self._send("POST", f"/object/list-v2/{quote(bucket, safe='')}", bucket=bucket, json=body)
        if reply.status < 400:
            try:
                page = reply.json()
            except ValueError:
                raise TransientError(f"unreadable list-v2 page for bucket {bucket}", bucket=bucket) from None
            return page if isinstance(page, dict) else {}
        if cursor is None and reply.status in (400, 404):
            err = error_body(reply.body)
            real = str(err.get("statusCode", ""))
            text = f"{err.get('code', '')} {err.get('error', '')} {err.get('message', '')}".lower()
            if reply.status == 404 and not err:
                return None
            if not real or "featurenotenabled" in text.replace(" ", "") or "not available" in text:
                return None
        raise_for(reply.status, reply.body, "", bucket=bucket, key=None)

    @staticmethod
    def _v2_result(page: dict[str, Any]) -> ListPage:
        infos = []
        for item in page.get("objects") or []:
            key = item.get("key") or item.get("name")
            if not key or (item.get("metadata") is None and item.get("id") is None):
                continue
            infos.append(info_from_metadata(key, item.get("metadata") or {}, item.get("updated_at")))
        cursor = page.get("nextCursor")
        more = bool(page.get("hasNext")) and bool(cursor)
        return ListPage(infos, json.dumps({"v2": cursor}) if more else None)

    async def _legacy_page(self, bucket: str, stack: list[list[Any]]) -> ListPage:
        """Walk one page of one folder; sub-folders join the stack of folders still to walk."""
        if not stack:
            return ListPage([], None)
        stack = [list(frame) for frame in stack]
        folder, offset, partial = stack.pop()
        body = {"prefix": folder, "limit": LEGACY_PAGE, "offset": offset, "sortBy": {"column": "name", "order": "asc"}}
        response = await self._request("POST", f"/object/list/{quote(bucket, safe='')}", bucket=bucket, json=body)
        try:
            items = response.json()
        except ValueError:
            raise TransientError(f"unreadable listing page for bucket {bucket}", bucket=bucket) from None
        if len(items) >= LEGACY_PAGE:
            stack.append([folder, offset + len(items), partial])
        infos = []
        for item in items:
            name = item.get("name") or ""
            if not name.startswith(partial):
                continue
            if item.get("id") is None and item.get("metadata") is None:
                stack.append([folder + name + "/", 0, ""])
            else:
                infos.append(info_from_metadata(folder + name, item.get("metadata") or {}, item.get("updated_at")))
        return ListPage(infos, json.dumps({"legacy": stack}) if stack else None)

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        response = await self._request(
            "GET", f"/object/info/{quote(bucket, safe='')}/{_path(key)}", bucket=bucket, key=key
        )
        item = response.json()
        etag = strip_etag(item.get("etag"))
        metadata, copied_from = split_reserved(user_metadata(item.get("metadata")))
        return ObjectInfo(
            key=key,
            size=int(item.get("size") or 0),
            etag=etag,
            last_modified=parse_time(item.get("last_modified")) or parse_time(item.get("updated_at")),
            content_type=item.get("content_type"),
            cache_control=item.get("cache_control"),
            metadata=metadata,
            copied_from=copied_from,
        )

    @asynccontextmanager
    async def open(self, bucket: str, key: str, *, offset: int = 0) -> AsyncIterator[ObjectReader]:
        target = url(f"{self.api}/object/authenticated/{quote(bucket, safe='')}/{_path(key)}")
        headers = {**self._auth, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = await self._http().get(target, headers=headers)
        except NETWORK_ERRORS as exc:
            raise transport_error(exc, bucket, key, endpoint=self.url) from None
        reader: _HttpReader | None = None
        try:
            if response.status >= 400:
                try:
                    body = await response.read()
                except NETWORK_ERRORS as exc:
                    raise transport_error(exc, bucket, key, endpoint=self.url) from None
                raise_for(response.status, body, response.reason or "", bucket=bucket, key=key)
            answer = response.headers
            length = answer.get("content-length")
            size = int(length or 0)
            if offset:
                size = _ranged_size(answer.get("content-range"), response.status, offset, bucket, key)
            etag = strip_etag(answer.get("etag"))
            info = ObjectInfo(
                key=key,
                size=size,
                etag=etag,
                last_modified=parse_time(answer.get("last-modified")),
                content_type=answer.get("content-type"),
                cache_control=answer.get("cache-control"),
            )
            reader = _HttpReader(info, response, bucket, int(length) if length is not None else None, self.url)
            yield reader
        finally:
            if reader is not None and reader.complete:
                response.release()
            else:
                response.close()

    supports_if_match = False

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
        """A standard upload, or the resumable one (see `_write`).  Storage has no conditional write:
        `if_match` is a look just before it.

        Content-Disposition, -Encoding and -Language have no place in Supabase Storage's object rows.
        """
        if if_match is not None:
            try:
                current = await self.head(bucket, key)
            except NotFound as error:
                if isinstance(error, BucketNotFound):
                    raise
                current = None
            if current is None or current.etag != if_match:
                raise PreconditionFailed(
                    f"write object {key!r} in bucket {bucket}: it is no longer the version with ETag {if_match}",
                    bucket=bucket,
                    key=key,
                )
        content_type = content_type or "application/octet-stream"
        user = {k.lower(): v for k, v in (metadata or {}).items() if k.lower() not in RESERVED_METADATA}
        stored = {**user, **(copied_from.as_metadata() if copied_from else {})}
        target = ResumableTarget(
            bucket, key, content_type, tus_cache_seconds(cache_control)[1], stored, overwrite or if_match is not None
        )
        digests = Digests()
        checked = CheckedBody(body, size, bucket, key)

        async def hashed() -> AsyncIterator[bytes]:
            async for chunk in checked.chunks():
                digests.update(chunk)
                yield chunk

        known = len(body) if size is None and isinstance(body, bytes) else size
        try:
            await self._write(target, cache_control, hashed(), known)
        except Exception:
            if checked.error is not None:
                # The body itself failed (the caller's stream, a source cut short, a size it did not
                # keep to): that, not the network, is the cause, and the request was abandoned.
                raise checked.error from None
            raise
        return ObjectInfo(
            key=key,
            size=digests.size,
            content_type=content_type,
            cache_control=cache_control,
            metadata=user,
            sha256=digests.sha256(),
            crc64nvme=digests.crc64nvme(),
        )

    async def _write(
        self, target: ResumableTarget, cache_control: str | None, chunks: AsyncIterator[bytes], size: int | None
    ) -> None:
        """Choose the write path, in one place.

        Resumable when the body is larger than `resumable_above` (known from `size`, or found by
        reading that far); standard otherwise, from bytes in hand, so that a standard upload the
        project refuses as too large can go again as a resumable one.  Standard and streamed when
        the resumable path is off, or cannot keep the object's cache control, or is not served.
        """
        limit = self.resumable_above
        keeps_cache, _ = tus_cache_seconds(cache_control)
        if limit is None or not keeps_cache:
            why = (
                "resumable uploads are off for this store"
                if limit is None
                else f"its cache control {cache_control!r} cannot go through Supabase's resumable upload, "
                "which keeps only max-age=<seconds>"
            )
            await self._standard(target, cache_control, chunks, size, why=why)
            return
        if size is not None and size > limit:
            try:
                await self._resumable(target, ChunkReader(chunks, TUS_CHUNK), size)
            except ResumableNotServed as exc:
                await self._standard(target, cache_control, chunks, size, why=exc.message)
            return
        head, ended = await _gather(chunks, limit)
        if not ended:
            try:
                await self._resumable(target, ChunkReader(chunks, TUS_CHUNK, prefix=head), None)
            except ResumableNotServed as exc:
                await self._standard(target, cache_control, _prepend(head, chunks), None, why=exc.message)
            return
        try:
            await self._standard(target, cache_control, head, None, why=None)
        except TooLarge as refused:
            if "user_metadata" in refused.message:
                raise
            try:
                await self._resumable(target, ChunkReader(_no_more(), TUS_CHUNK, prefix=head), len(head))
            except ResumableNotServed as exc:
                raise _too_large(target, len(head), exc.message) from None

    async def _standard(
        self,
        target: ResumableTarget,
        cache_control: str | None,
        data: bytes | AsyncIterator[bytes],
        size: int | None,
        *,
        why: str | None,
    ) -> None:
        """`POST /object/{bucket}/{key}`; `why` (the resumable path cannot be taken) turns a 413 into
        the sentence that says so; without it the 413 goes to the caller, who may go resumable."""
        headers = {"Content-Type": target.content_type, "x-upsert": "true" if target.upsert else "false"}
        if cache_control:
            headers["Cache-Control"] = cache_control
        if target.metadata:
            headers["x-metadata"] = base64.b64encode(json.dumps(dict(target.metadata)).encode()).decode()
        if size is not None and not isinstance(data, bytes):
            headers["Content-Length"] = str(size)
        path = f"/object/{quote(target.bucket, safe='')}/{_path(target.key)}"
        try:
            await self._request("POST", path, bucket=target.bucket, key=target.key, headers=headers, data=data)
        except TooLarge as refused:
            if why is None or "user_metadata" in refused.message:
                raise
            raise _too_large(target, size, why) from None

    async def _resumable(self, target: ResumableTarget, reader: ChunkReader, size: int | None) -> None:
        """The resumable upload; a 413 there is the file size limit itself (the project's or the bucket's)."""

        async def send(method: str, where: str, *, headers: Mapping[str, str], data: Any = None) -> Reply:
            return await self._send_to(where, method, bucket=target.bucket, key=target.key, headers=headers, data=data)

        try:
            await upload_resumable(send, self.api, target, reader, size=size, policy=self.resumable_retry)
        except TooLarge as refused:
            raise TooLarge(
                f"write object {target.key!r} in bucket {target.bucket}: "
                f"{'the body' if size is None else f'{size} bytes'} is above the file size limit of this "
                f"Supabase project or bucket (its resumable upload answered: {refused.message}); "
                "raise the limit in the project's storage settings or the bucket's file_size_limit",
                bucket=target.bucket,
                key=target.key,
            ) from None

    async def delete(self, bucket: str, key: str) -> None:
        try:
            await self._request("DELETE", f"/object/{quote(bucket, safe='')}/{_path(key)}", bucket=bucket, key=key)
        except NotFound as exc:
            if isinstance(exc, BucketNotFound):
                raise

    def public_url(self, bucket: str, key: str) -> str:
        return f"{self.api}/object/public/{quote(bucket, safe='')}/{_path(key)}"

    async def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        """Signed through the many-paths endpoint, which signs the raw key.

        The one-path endpoint signs `decodeURI` of the request path, which keeps reserved
        characters percent-encoded (`%3F`, `%26`), so the token would not match the decoded
        key the server compares it with on GET; the many-paths endpoint has no such trap.
        The returned path is re-encoded here, as the token only covers the decoded key.
        """
        response = await self._request(
            "POST",
            f"/object/sign/{quote(bucket, safe='')}",
            bucket=bucket,
            key=key,
            json={"expiresIn": expires_in, "paths": [key]},
        )
        entries = response.json()
        entry = entries[0] if isinstance(entries, list) and entries else {}
        signed = entry.get("signedURL") or entry.get("signedUrl")
        if not signed or "?token=" not in signed:
            raise NotFound(
                f"Supabase Storage would not sign {bucket}/{key}: {entry.get('error') or 'no signed URL returned'}",
                bucket=bucket,
                key=key,
            )
        token = signed.rpartition("?token=")[2]
        return f"{self.api}/object/sign/{quote(bucket, safe='')}/{_path(key)}?token={token}"


@register("supabase")
def _from_config(
    endpoint: SupabaseEndpoint,
    *,
    session: aiohttp.ClientSession | None = None,
    list_from: str = "api",
    transfer: TransferConfig | None = None,
    **_: Any,
) -> SupabaseStore:
    """The plan's `[transfer]` timeouts reach the store here (the endpoint's own `timeout` wins if set)."""
    settings = transfer or TransferConfig()
    read_timeout = endpoint.timeout if "timeout" in endpoint.model_fields_set else settings.read_timeout
    return SupabaseStore(
        endpoint.url,
        endpoint.key,
        list_api=endpoint.list_api,
        timeout=read_timeout,
        connect_timeout=settings.connect_timeout,
        max_connections=max(settings.concurrency * 2, 8),
        session=session,
        dsn=endpoint.dsn,
        list_from=list_from,
        resumable_above=settings.supabase_resumable_above or None,
    )

"""Supabase Storage through its HTTP API (httpx).

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
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bucketshift.config import SupabaseEndpoint
from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    ConfigError,
    InvalidKey,
    NotFound,
    StoreError,
    Throttled,
    TooLarge,
    TransientError,
)
from bucketshift.stores.base import (
    Body,
    BucketInfo,
    ListPage,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Sha256Counter,
    aiter_body,
)
from bucketshift.stores.registry import register
from bucketshift.stores.supabase_catalog import StorageCatalog

__all__ = ["SupabaseStore", "auth_headers"]

LEGACY_PAGE = 1000
"""Under the 1,500 cap of current servers, so a short page always means the folder ended."""
V2_PAGE = 1000


def auth_headers(key: str) -> dict[str, str]:
    """Both auth styles: a legacy JWT goes in `apikey` and `Authorization`; an `sb_` key in `apikey` only."""
    if key.startswith("sb_"):
        return {"apikey": key}
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def _path(key: str) -> str:
    return quote(key, safe="/")


def _strip_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"') or None


def _parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None


def _user_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _info_from_metadata(key: str, metadata: Mapping[str, Any], updated_at: Any = None) -> ObjectInfo:
    size = metadata.get("size", metadata.get("contentLength", 0))
    return ObjectInfo(
        key=key,
        size=int(size or 0),
        etag=_strip_etag(metadata.get("eTag")),
        last_modified=_parse_time(metadata.get("lastModified")) or _parse_time(updated_at),
        content_type=metadata.get("mimetype"),
        cache_control=metadata.get("cacheControl"),
    )


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def raise_for(response: httpx.Response, *, bucket: str | None = None, key: str | None = None) -> NoReturn:
    """Translate a failed Storage API response into the shared error hierarchy."""
    body = _error_body(response)
    try:
        status = int(body.get("statusCode", response.status_code))
    except (TypeError, ValueError):
        status = response.status_code
    code = str(body.get("code") or body.get("error") or "")
    message = str(body.get("message") or body.get("error") or response.reason_phrase or "request failed")
    where = f"{bucket}/{key}" if bucket and key else (bucket or "storage")
    text = f"Supabase Storage answered {status} {code or ''} for {where}: {message}".replace("  ", " ")
    if status == 404:
        if "bucket" in code.lower() or (key is None and bucket is not None) or "Bucket not found" in message:
            raise BucketNotFound(text, bucket=bucket, key=key)
        raise NotFound(text, bucket=bucket, key=key)
    if status == 409:
        if "notempty" in code.lower().replace("_", "") or "not empty" in message.lower():
            raise BucketNotEmpty(text, bucket=bucket, key=key)
        raise AlreadyExists(text, bucket=bucket, key=key)
    if status in (401, 403):
        raise AccessDenied(text, bucket=bucket, key=key)
    if status == 413:
        raise TooLarge(text, bucket=bucket, key=key)
    if code == "InvalidKey" or "invalid key" in message.lower():
        raise InvalidKey(text, bucket=bucket, key=key)
    if status in (429, 503, 544):
        raise Throttled(text, bucket=bucket, key=key)
    if status >= 500:
        raise TransientError(text, bucket=bucket, key=key)
    raise StoreError(text, bucket=bucket, key=key)


def _transport_error(exc: httpx.TransportError, bucket: str | None, key: str | None) -> TransientError:
    where = f"{bucket}/{key}" if bucket and key else (bucket or "storage")
    return TransientError(
        f"network error talking to Supabase Storage for {where}: {type(exc).__name__}", bucket=bucket, key=key
    )


class _HttpReader(ObjectReader):
    def __init__(self, info: ObjectInfo, response: httpx.Response, bucket: str) -> None:
        self.info = info
        self._response = response
        self._bucket = bucket

    async def __aiter__(self) -> AsyncIterator[bytes]:
        expected = self._response.headers.get("content-length")
        received = 0
        try:
            async for chunk in self._response.aiter_raw():
                received += len(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise _transport_error(exc, self._bucket, self.info.key) from None
        if expected is not None and received != int(expected):
            raise TransientError(
                f"truncated body for {self._bucket}/{self.info.key}: {received} of {expected} bytes",
                bucket=self._bucket,
                key=self.info.key,
            )


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
        max_connections: int = 128,
        client: httpx.AsyncClient | None = None,
        dsn: SecretStr | str | None = None,
        list_from: str = "api",
    ) -> None:
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
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._auth = auth_headers(secret)

    @property
    def catalog(self) -> StorageCatalog | None:
        """The project's `storage.objects`, when the plan gives its database (`dsn`)."""
        if self._catalog is None and self._dsn:
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
        if self._owns_client:
            await self._client.aclose()

    async def _request(
        self, method: str, path: str, *, bucket: str | None = None, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self._auth, **kwargs.pop("headers", {})}
        try:
            response = await self._client.request(method, self.api + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise _transport_error(exc, bucket, key) from None
        if response.status_code >= 400:
            raise_for(response, bucket=bucket, key=key)
        return response

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
        path = f"/object/list-v2/{quote(bucket, safe='')}"
        try:
            response = await self._client.post(self.api + path, headers=self._auth, json=body)
        except httpx.TransportError as exc:
            raise _transport_error(exc, bucket, None) from None
        if response.status_code < 400:
            try:
                page = response.json()
            except ValueError:
                raise TransientError(f"unreadable list-v2 page for bucket {bucket}", bucket=bucket) from None
            return page if isinstance(page, dict) else {}
        if cursor is None and response.status_code in (400, 404):
            err = _error_body(response)
            real = str(err.get("statusCode", ""))
            text = f"{err.get('code', '')} {err.get('error', '')} {err.get('message', '')}".lower()
            if response.status_code == 404 and not err:
                return None
            if not real or "featurenotenabled" in text.replace(" ", "") or "not available" in text:
                return None
        raise_for(response, bucket=bucket)

    @staticmethod
    def _v2_result(page: dict[str, Any]) -> ListPage:
        infos = []
        for item in page.get("objects") or []:
            key = item.get("key") or item.get("name")
            if not key or (item.get("metadata") is None and item.get("id") is None):
                continue
            infos.append(_info_from_metadata(key, item.get("metadata") or {}, item.get("updated_at")))
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
                infos.append(_info_from_metadata(folder + name, item.get("metadata") or {}, item.get("updated_at")))
        return ListPage(infos, json.dumps({"legacy": stack}) if stack else None)

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        response = await self._request(
            "GET", f"/object/info/{quote(bucket, safe='')}/{_path(key)}", bucket=bucket, key=key
        )
        item = response.json()
        return ObjectInfo(
            key=key,
            size=int(item.get("size") or 0),
            etag=_strip_etag(item.get("etag")),
            last_modified=_parse_time(item.get("last_modified")) or _parse_time(item.get("updated_at")),
            content_type=item.get("content_type"),
            cache_control=item.get("cache_control"),
            metadata=_user_metadata(item.get("metadata")),
        )

    @asynccontextmanager
    async def open(self, bucket: str, key: str) -> AsyncIterator[ObjectReader]:
        url = f"{self.api}/object/authenticated/{quote(bucket, safe='')}/{_path(key)}"
        request = self._client.build_request("GET", url, headers={**self._auth, "Accept-Encoding": "identity"})
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _transport_error(exc, bucket, key) from None
        try:
            if response.status_code >= 400:
                await response.aread()
                raise_for(response, bucket=bucket, key=key)
            headers = response.headers
            info = ObjectInfo(
                key=key,
                size=int(headers.get("content-length") or 0),
                etag=_strip_etag(headers.get("etag")),
                last_modified=_parse_time(headers.get("last-modified")),
                content_type=headers.get("content-type"),
                cache_control=headers.get("cache-control"),
            )
            yield _HttpReader(info, response, bucket)
        finally:
            await response.aclose()

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
        counter = Sha256Counter()
        content_type = content_type or "application/octet-stream"
        headers = {"Content-Type": content_type, "x-upsert": "true" if overwrite else "false"}
        if cache_control:
            headers["Cache-Control"] = cache_control
        user = {k.lower(): v for k, v in (metadata or {}).items()}
        if user:
            headers["x-metadata"] = base64.b64encode(json.dumps(user).encode()).decode()
        if size is not None:
            headers["Content-Length"] = str(size)
        path = f"/object/{quote(bucket, safe='')}/{_path(key)}"
        await self._request(
            "POST", path, bucket=bucket, key=key, headers=headers, content=counter.wrap(aiter_body(body))
        )
        return ObjectInfo(
            key=key,
            size=counter.size,
            content_type=content_type,
            cache_control=cache_control,
            metadata=user,
            sha256=counter.hexdigest(),
        )

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
    endpoint: SupabaseEndpoint, *, client: httpx.AsyncClient | None = None, list_from: str = "api", **_: Any
) -> SupabaseStore:
    return SupabaseStore(
        endpoint.url,
        endpoint.key,
        list_api=endpoint.list_api,
        timeout=endpoint.timeout,
        client=client,
        dsn=endpoint.dsn,
        list_from=list_from,
    )

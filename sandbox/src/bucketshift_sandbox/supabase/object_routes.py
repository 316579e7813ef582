"""``/object`` routes (``src/http/routes/object/*.ts``): read, write, list, sign, move, copy, delete.

Row-level security is modelled as a project without storage policies: roles that bypass RLS
(service_role) see everything, every other role sees no rows, so its reads say "not found",
its listings are empty and its writes hit "new row violates row-level security policy".
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bucketshift_sandbox.supabase.catalog import (
    CatalogConflict,
    CatalogMissingBucket,
    ObjectRow,
    iso_timestamp,
)
from bucketshift_sandbox.supabase.errors import (
    StorageError,
    entity_too_large,
    feature_not_enabled,
    invalid_jwt,
    invalid_mime_type,
    invalid_request,
    invalid_signature,
    key_already_exists,
    no_such_bucket,
    no_such_key,
    related_resource_not_found,
    resource_already_exists,
    rls_denied,
)
from bucketshift_sandbox.supabase.etags import object_etag
from bucketshift_sandbox.supabase.keys import ANON, Caller, sign_token, verify_jwt
from bucketshift_sandbox.supabase.listing import legacy_list, list_v2
from bucketshift_sandbox.supabase.state import EmulatorState
from bucketshift_sandbox.supabase.stats import mark_sending
from bucketshift_sandbox.supabase.transfer import (
    BlobResponse,
    content_disposition,
    drain,
    http_date,
    normalize_content_type,
    open_upload,
    parse_range,
    parse_user_metadata,
)
from bucketshift_sandbox.supabase.validation import (
    json_body,
    must_be_valid_bucket_name,
    must_be_valid_key,
    optional_bool,
    optional_int,
    optional_str,
    required_str,
)

__all__ = ["EMPTY_FOLDER_PLACEHOLDER", "ObjectRoutes", "check_mime", "object_json"]

EMPTY_FOLDER_PLACEHOLDER = ".emptyFolderPlaceholder"
SIGNED_UPLOAD_EXPIRY = 7200
_NOT_FOUND_BODY = {"error": "Not found", "message": "The resource was not found", "statusCode": "404"}


def object_json(row: ObjectRow) -> dict[str, Any]:
    """A full row through the server's ``objectSchema`` (null strings become ``""``)."""
    return {
        "name": row.name,
        "bucket_id": row.bucket_id,
        "owner": row.owner or "",
        "owner_id": row.owner or "",
        "version": row.version or "",
        "id": row.id,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "last_accessed_at": row.last_accessed_at,
        "metadata": row.metadata,
        "user_metadata": row.user_metadata,
    }


def _info_json(row: ObjectRow) -> dict[str, Any]:
    meta = row.metadata or {}
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "bucket_id": row.bucket_id,
        "size": meta.get("size"),
        "content_type": meta.get("mimetype"),
        "cache_control": meta.get("cacheControl"),
        "etag": meta.get("eTag"),
        "metadata": row.user_metadata,
        "last_modified": row.updated_at,
        "created_at": row.created_at,
    }


def check_mime(mime_type: str, allowed: list[str]) -> None:
    """The uploader's check: same type, and same subtype or ``*`` (parameters are not stripped)."""
    requested = mime_type.split("/")
    if len(requested) >= 2:
        for candidate in allowed:
            parts = candidate.split("/")
            if len(parts) >= 2 and parts[0] == requested[0] and parts[1] in ("*", requested[1]):
                return
    raise invalid_mime_type(mime_type)


def _last_modified(row: ObjectRow) -> str | None:
    value = (row.metadata or {}).get("lastModified")
    if not isinstance(value, str):
        return None
    try:
        return http_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _sort_by(body: dict[str, Any], columns: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The `sortBy` of a list body, checked as the server's JSON schema does."""
    sort_by = body.get("sortBy") or {}
    if not isinstance(sort_by, dict):
        raise invalid_request("body/sortBy must be object")
    column = sort_by.get("column")
    if sort_by and column not in columns:
        raise invalid_request("body/sortBy/column must be equal to one of the allowed values")
    order = sort_by.get("order")
    if order is not None and order not in ("asc", "desc"):
        raise invalid_request("body/sortBy/order must be equal to one of the allowed values")
    return column, order


class ObjectRoutes:
    """Every ``/object`` route; one instance per emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to ``/storage/v1``; static segments first, as fastify prefers them."""
        return [
            Route("/object/list/{bucket}", self.list_objects, methods=["POST"]),
            Route("/object/list-v2/{bucket}", self.list_objects_v2, methods=["POST"]),
            Route("/object/move", self.move_object, methods=["POST"]),
            Route("/object/copy", self.copy_object, methods=["POST"]),
            Route("/object/sign/{bucket}/{key:path}", self.sign_url, methods=["POST"]),
            Route("/object/sign/{bucket}/{key:path}", self.get_signed_object, methods=["GET"]),
            Route("/object/sign/{bucket}", self.sign_urls, methods=["POST"]),
            Route("/object/upload/sign/{bucket}/{key:path}", self.sign_upload_url, methods=["POST"]),
            Route("/object/upload/sign/{bucket}/{key:path}", self.upload_signed_object, methods=["PUT"]),
            Route("/object/info/public/{bucket}/{key:path}", self.info_public, methods=["GET"]),
            Route("/object/info/authenticated/{bucket}/{key:path}", self.info_authenticated, methods=["GET"]),
            Route("/object/info/{bucket}/{key:path}", self.info_default, methods=["GET"]),
            Route("/object/public/{bucket}/{key:path}", self.get_public_object, methods=["GET", "HEAD"]),
            Route("/object/authenticated/{bucket}/{key:path}", self.get_authenticated_object, methods=["GET", "HEAD"]),
            Route("/object/{bucket}/{key:path}", self.get_object, methods=["GET", "HEAD"]),
            Route("/object/{bucket}/{key:path}", self.create_object, methods=["POST"]),
            Route("/object/{bucket}/{key:path}", self.update_object, methods=["PUT"]),
            Route("/object/{bucket}/{key:path}", self.delete_object, methods=["DELETE"]),
            Route("/object/{bucket}", self.delete_objects, methods=["DELETE"]),
        ]

    # -- helpers -------------------------------------------------------------------------

    def _caller(self, request: Request, *, allow_invalid_jwt: bool = False) -> Caller:
        return self.state.settings.caller(request.headers, allow_invalid_jwt=allow_invalid_jwt)

    @staticmethod
    def _target(request: Request) -> tuple[str, str]:
        return request.path_params["bucket"], request.path_params.get("key", "")

    async def _find(self, bucket_id: str, key: str, *, visible: bool) -> ObjectRow:
        """findObject: validate the names, then the row if the role can see it."""
        must_be_valid_bucket_name(bucket_id)
        must_be_valid_key(key)
        row = await self.state.catalog.get_object(bucket_id, key)
        if row is None or not visible:
            raise no_such_key()
        return row

    def _verify_signed(self, token: str | None, bucket_id: str, key: str, scope: str) -> dict[str, Any]:
        if not token:
            raise invalid_request("querystring must have required property 'token'")
        try:
            claims = verify_jwt(token, self.state.settings.jwt_secret)
        except StorageError as exc:
            raise invalid_jwt(exc.message) from exc
        claimed = claims.get("scope")
        if claimed is None:
            claimed = "upload" if "upsert" in claims else "download"
        if claimed != scope:
            raise invalid_signature(f"Token is not scoped for {scope}")
        if claims.get("url") != f"{bucket_id}/{key}":
            raise invalid_signature()
        return claims

    # -- reading -------------------------------------------------------------------------

    async def _asset(self, request: Request, row: ObjectRow, *, expires: str | None = None) -> Response:
        """Stream an object's bytes with the renderer's headers (ranges, download, ETag)."""
        blobs = self.state.blobs
        try:
            handle = blobs.open(row.version or "")
        except FileNotFoundError:
            fresh = await self.state.catalog.get_object(row.bucket_id, row.name)
            try:
                if fresh is None or fresh.version == row.version:
                    raise FileNotFoundError(row.name)
                row = fresh
                handle = blobs.open(row.version or "")
            except FileNotFoundError:
                return JSONResponse(_NOT_FOUND_BODY, status_code=400, headers={"Cache-Control": "no-store"})
        meta = row.metadata or {}
        size = os.fstat(handle.fileno()).st_size
        etag = str(meta.get("eTag") or "")
        headers = [("Accept-Ranges", "bytes"), ("Content-Type", normalize_content_type(meta.get("mimetype")))]
        if etag:
            headers.append(("ETag", etag))
        last_modified = _last_modified(row)
        if last_modified:
            headers.append(("Last-Modified", last_modified))
        if expires is not None:
            headers.append(("Expires", expires))
        else:
            headers.append(("Cache-Control", str(meta.get("cacheControl") or "no-cache")))
        download = request.query_params.get("download")
        if download is not None:
            headers.append(("Content-Disposition", content_disposition(download)))
        if etag and request.headers.get("if-none-match") == etag:
            handle.close()
            return BlobResponse(304, headers, None)
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except StorageError as exc:
            handle.close()
            return JSONResponse(exc.body(), status_code=exc.http_status, headers={"Content-Range": f"bytes */{size}"})
        status, start, length = 200, 0, size
        if wanted is not None:
            status, start, length = 206, wanted[0], wanted[1] - wanted[0] + 1
            headers.append(("Content-Range", f"bytes {wanted[0]}-{wanted[1]}/{size}"))
        headers.append(("Content-Length", str(length)))
        if request.method == "HEAD":
            handle.close()
            return BlobResponse(status, headers, None)
        self.state.stats.record_read(row.bucket_id, row.name, ranged=status == 206)
        mark_sending(request.scope, row.bucket_id, row.name)
        return BlobResponse(status, headers, blobs.read_range(handle, start, length))

    def _head(self, row: ObjectRow) -> Response:
        """HEAD: the same headers from the row's metadata, no body."""
        meta = row.metadata or {}
        headers = [("Accept-Ranges", "bytes"), ("Content-Type", normalize_content_type(meta.get("mimetype")))]
        if meta.get("eTag"):
            headers.append(("ETag", str(meta["eTag"])))
        headers.append(("Content-Length", str(meta.get("contentLength", meta.get("size", 0)))))
        last_modified = _last_modified(row)
        if last_modified:
            headers.append(("Last-Modified", last_modified))
        headers.append(("Cache-Control", str(meta.get("cacheControl") or "no-cache")))
        return BlobResponse(200, headers, None)

    async def _read(self, request: Request, caller: Caller, *, public_route: bool, info: bool = False) -> Response:
        """getObject / getObjectInfo: a public bucket serves anyone, a private one needs a JWT and RLS."""
        bucket_id, key = self._target(request)
        bucket = await self.state.catalog.get_bucket(bucket_id)
        if bucket is None or (not caller.authenticated and not bucket.public):
            raise no_such_bucket()
        row = await self._find(bucket_id, key, visible=bucket.public or public_route or caller.bypasses_rls)
        if info:
            headers = {"Cache-Control": str((row.metadata or {}).get("cacheControl") or "no-cache")}
            if (row.metadata or {}).get("eTag"):
                headers["ETag"] = str(row.metadata["eTag"])  # type: ignore[index]
            last_modified = _last_modified(row)
            if last_modified:
                headers["Last-Modified"] = last_modified
            return JSONResponse(_info_json(row), headers=headers)
        if request.method == "HEAD":
            return self._head(row)
        return await self._asset(request, row)

    async def get_object(self, request: Request) -> Response:
        """``GET|HEAD /object/{bucket}/{key}``: the JWT is optional (invalid ones count as anon)."""
        return await self._read(request, self._caller(request, allow_invalid_jwt=True), public_route=False)

    async def get_authenticated_object(self, request: Request) -> Response:
        """``GET|HEAD /object/authenticated/{bucket}/{key}``: a bad JWT is AccessDenied."""
        return await self._read(request, self._caller(request), public_route=False)

    async def get_public_object(self, request: Request) -> Response:
        """``GET|HEAD /object/public/{bucket}/{key}``: no auth at all, the bucket must be public."""
        bucket_id, key = self._target(request)
        bucket = await self.state.catalog.get_bucket(bucket_id)
        if bucket is None or not bucket.public:
            raise no_such_bucket()
        row = await self._find(bucket_id, key, visible=True)
        if request.method == "HEAD":
            return self._head(row)
        return await self._asset(request, row)

    async def info_default(self, request: Request) -> Response:
        """``GET /object/info/{bucket}/{key}``."""
        return await self._read(request, self._caller(request, allow_invalid_jwt=True), public_route=False, info=True)

    async def info_authenticated(self, request: Request) -> Response:
        """``GET /object/info/authenticated/{bucket}/{key}``."""
        return await self._read(request, self._caller(request), public_route=False, info=True)

    async def info_public(self, request: Request) -> Response:
        """``GET /object/info/public/{bucket}/{key}``: unauthenticated, so the bucket must be public."""
        return await self._read(request, ANON, public_route=True, info=True)

    async def get_signed_object(self, request: Request) -> Response:
        """``GET /object/sign/{bucket}/{key}?token=``: the token is the only credential."""
        bucket_id, key = self._target(request)
        claims = self._verify_signed(request.query_params.get("token"), bucket_id, key, "download")
        row = await self._find(bucket_id, key, visible=True)
        expires = http_date(datetime.fromtimestamp(int(claims.get("exp", 0)), tz=UTC))
        return await self._asset(request, row, expires=expires)

    # -- listing -------------------------------------------------------------------------

    async def list_objects(self, request: Request) -> JSONResponse:
        """``POST /object/list/{bucket}``: one level, folders and files in one window."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket"]
        body = await json_body(request)
        prefix = required_str(body, "prefix")
        limit = optional_int(body, "limit", minimum=1)
        offset = optional_int(body, "offset", minimum=0)
        search = optional_str(body, "search") or ""
        column, order = _sort_by(body, ("name", "updated_at", "created_at", "last_accessed_at"))
        must_be_valid_bucket_name(bucket_id)
        if not caller.bypasses_rls:
            return JSONResponse([])
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        async with self.state.catalog.snapshot():
            items = await legacy_list(
                self.state.catalog,
                bucket_id,
                prefix=prefix,
                search=search,
                limit=limit,
                offset=offset,
                sort_column=column,
                sort_order=order,
            )
        return JSONResponse(items)

    async def list_objects_v2(self, request: Request) -> JSONResponse:
        """``POST /object/list-v2/{bucket}``: flat or one level, cursor paged, 1000 at most."""
        caller = self._caller(request)
        if not self.state.settings.list_v2:
            raise feature_not_enabled()
        bucket_id = request.path_params["bucket"]
        body = await json_body(request)
        prefix = optional_str(body, "prefix")
        limit = optional_int(body, "limit", minimum=1)
        cursor = optional_str(body, "cursor")
        with_delimiter = optional_bool(body, "with_delimiter") or False
        column, order = _sort_by(body, ("name", "updated_at", "created_at"))
        must_be_valid_bucket_name(bucket_id)
        if not caller.bypasses_rls:
            return JSONResponse({"hasNext": False, "folders": [], "objects": []})
        async with self.state.catalog.snapshot():
            result = await list_v2(
                self.state.catalog,
                bucket_id,
                prefix=prefix,
                limit=limit,
                cursor=cursor,
                with_delimiter=with_delimiter,
                sort_column=column,
                sort_order=order,
            )
        return JSONResponse(result)

    # -- writing -------------------------------------------------------------------------

    async def _store(
        self, request: Request, bucket_id: str, key: str, *, upsert: bool, privileged: bool, owner: str | None
    ) -> ObjectRow:
        """The uploader: checks, then stream to a temp file, then switch the row and the bytes."""
        state = self.state
        body = request.stream()
        try:
            must_be_valid_bucket_name(bucket_id)
            bucket = await state.catalog.get_bucket(bucket_id)
            if bucket is None:
                raise no_such_bucket()
            must_be_valid_key(key)
            if not privileged:
                raise rls_denied()
            if not upsert and await state.catalog.get_object(bucket_id, key) is not None:
                raise key_already_exists()
            placeholder = key.endswith(EMPTY_FOLDER_PLACEHOLDER)
            limit = state.settings.standard_limit()
            if bucket.file_size_limit is not None:
                limit = min(limit, bucket.file_size_limit)
            if placeholder:
                limit = 0
            upload = await open_upload(request, body)
            if bucket.allowed_mime_types and not placeholder:
                check_mime(upload.content_type, bucket.allowed_mime_types)
            incoming = await state.blobs.receive(upload.chunks, limit=limit)
        except StorageError:
            await drain(body)
            raise
        if incoming.exceeded:
            state.blobs.discard(incoming)
            raise entity_too_large()
        version = str(uuid.uuid4())
        metadata = {
            "eTag": object_etag(incoming.md5, state.settings.etag_style, salt=version),
            "size": incoming.size,
            "mimetype": upload.content_type,
            "cacheControl": upload.cache_control,
            "lastModified": iso_timestamp(state.clock()),
            "contentLength": incoming.size,
            "httpStatusCode": 200,
        }
        state.blobs.commit(incoming, version)
        try:
            row, previous = await state.catalog.upsert_object(
                bucket_id=bucket_id,
                name=key,
                new_id=str(uuid.uuid4()),
                version=version,
                owner=owner,
                metadata=metadata,
                user_metadata=upload.user_metadata,
            )
        except CatalogMissingBucket as exc:
            state.blobs.remove(version)
            raise no_such_bucket() from exc
        except BaseException:
            state.blobs.remove(version)
            raise
        if previous is not None and previous.version != version:
            state.blobs.remove(previous.version)
        return row

    async def create_object(self, request: Request) -> JSONResponse:
        """``POST /object/{bucket}/{key}``: create; overwrite only with ``x-upsert: true``."""
        caller = self._caller(request)
        bucket_id, key = self._target(request)
        row = await self._store(
            request,
            bucket_id,
            key,
            upsert=request.headers.get("x-upsert") == "true",
            privileged=caller.bypasses_rls,
            owner=caller.owner,
        )
        return JSONResponse({"Id": row.id, "Key": f"{bucket_id}/{key}"})

    async def update_object(self, request: Request) -> JSONResponse:
        """``PUT /object/{bucket}/{key}``: always overwrite (create when missing)."""
        caller = self._caller(request)
        bucket_id, key = self._target(request)
        row = await self._store(
            request, bucket_id, key, upsert=True, privileged=caller.bypasses_rls, owner=caller.owner
        )
        return JSONResponse({"Id": row.id, "Key": f"{bucket_id}/{key}"})

    async def sign_upload_url(self, request: Request) -> JSONResponse:
        """``POST /object/upload/sign/{bucket}/{key}`` -> ``{url, token}``, valid two hours."""
        caller = self._caller(request)
        bucket_id, key = self._target(request)
        upsert = request.headers.get("x-upsert") == "true"
        must_be_valid_bucket_name(bucket_id)
        must_be_valid_key(key)
        if not caller.bypasses_rls:
            raise rls_denied()
        if await self.state.catalog.get_bucket(bucket_id) is None:
            raise related_resource_not_found()
        if not upsert and await self.state.catalog.get_object(bucket_id, key) is not None:
            raise key_already_exists()
        claims: dict[str, Any] = {} if caller.owner is None else {"owner": caller.owner}
        claims.update({"url": f"{bucket_id}/{key}", "upsert": upsert, "scope": "upload"})
        token = sign_token(self.state.settings.jwt_secret, claims, SIGNED_UPLOAD_EXPIRY)
        return JSONResponse({"url": f"/object/upload/sign/{bucket_id}/{key}?token={token}", "token": token})

    async def upload_signed_object(self, request: Request) -> JSONResponse:
        """``PUT /object/upload/sign/{bucket}/{key}?token=``: upload with the token's rights."""
        bucket_id, key = self._target(request)
        try:
            claims = self._verify_signed(request.query_params.get("token"), bucket_id, key, "upload")
        except StorageError:
            await drain(request.stream())
            raise
        owner = claims.get("owner")
        await self._store(
            request,
            bucket_id,
            key,
            upsert=bool(claims.get("upsert")),
            privileged=True,
            owner=owner if isinstance(owner, str) else None,
        )
        return JSONResponse({"Key": f"{bucket_id}/{key}"})

    # -- signing -------------------------------------------------------------------------

    async def sign_url(self, request: Request) -> JSONResponse:
        """``POST /object/sign/{bucket}/{key}`` ``{expiresIn}`` -> ``{signedURL}``."""
        caller = self._caller(request)
        bucket_id, key = self._target(request)
        body = await json_body(request)
        if "expiresIn" not in body:
            raise invalid_request("body must have required property 'expiresIn'")
        expires_in = optional_int(body, "expiresIn", minimum=1)
        assert expires_in is not None
        await self._find(bucket_id, key, visible=caller.bypasses_rls)
        url = f"{bucket_id}/{key}"
        token = sign_token(self.state.settings.jwt_secret, {"url": url, "scope": "download"}, expires_in)
        return JSONResponse({"signedURL": f"/object/sign/{url}?token={token}"})

    async def sign_urls(self, request: Request) -> JSONResponse:
        """``POST /object/sign/{bucket}`` ``{expiresIn, paths}`` -> ``[{error, path, signedURL}]``."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket"]
        body = await json_body(request)
        if "expiresIn" not in body:
            raise invalid_request("body must have required property 'expiresIn'")
        expires_in = optional_int(body, "expiresIn", minimum=1)
        assert expires_in is not None
        paths = body.get("paths")
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise invalid_request("body must have required property 'paths'")
        must_be_valid_bucket_name(bucket_id)
        found: set[str] = set()
        if caller.bypasses_rls:
            found = {row.name for row in await self.state.catalog.find_objects(bucket_id, paths)}
        results = []
        for path in paths:
            if path in found:
                url = f"{bucket_id}/{path}"
                token = sign_token(self.state.settings.jwt_secret, {"url": url, "scope": "download"}, expires_in)
                results.append({"error": None, "path": path, "signedURL": f"/object/sign/{url}?token={token}"})
            else:
                results.append(
                    {
                        "error": "Either the object does not exist or you do not have access to it",
                        "path": path,
                        "signedURL": None,
                    }
                )
        return JSONResponse(results)

    # -- deleting, moving, copying -------------------------------------------------------

    async def delete_object(self, request: Request) -> JSONResponse:
        """``DELETE /object/{bucket}/{key}`` -> ``{message}``."""
        caller = self._caller(request)
        bucket_id, key = self._target(request)
        must_be_valid_bucket_name(bucket_id)
        catalog = self.state.catalog
        if await catalog.get_object(bucket_id, key) is None or not caller.bypasses_rls:
            raise no_such_key()
        row = await catalog.delete_object(bucket_id, key)
        if row is None:
            raise no_such_key()
        self.state.blobs.remove(row.version)
        return JSONResponse({"message": "Successfully deleted"})

    async def delete_objects(self, request: Request) -> JSONResponse:
        """``DELETE /object/{bucket}`` ``{prefixes}`` -> the deleted rows (missing names omitted)."""
        caller = self._caller(request)
        bucket_id = request.path_params["bucket"]
        body = await json_body(request)
        prefixes = body.get("prefixes")
        if not isinstance(prefixes, list) or not all(isinstance(item, str) for item in prefixes):
            raise invalid_request("body must have required property 'prefixes'")
        if not prefixes:
            raise invalid_request("body/prefixes must NOT have fewer than 1 items")
        must_be_valid_bucket_name(bucket_id)
        if not caller.bypasses_rls:
            return JSONResponse([])
        rows = await self.state.catalog.delete_objects(bucket_id, prefixes)
        for row in rows:
            self.state.blobs.remove(row.version)
        return JSONResponse([object_json(row) for row in rows])

    async def move_object(self, request: Request) -> JSONResponse:
        """``POST /object/move`` ``{bucketId, sourceKey, destinationKey, destinationBucket?}``."""
        caller = self._caller(request)
        body = await json_body(request)
        bucket_id = required_str(body, "bucketId")
        source_key = required_str(body, "sourceKey")
        destination_key = required_str(body, "destinationKey")
        destination_bucket = optional_str(body, "destinationBucket") or bucket_id
        must_be_valid_bucket_name(bucket_id)
        must_be_valid_key(destination_key)
        catalog = self.state.catalog
        source = await catalog.get_object(bucket_id, source_key)
        if source is None or not caller.bypasses_rls:
            raise no_such_key()
        if (bucket_id, source_key) == (destination_bucket, destination_key):
            return JSONResponse({"message": "Successfully moved"})
        if await catalog.get_bucket(destination_bucket) is None:
            raise related_resource_not_found()
        if await catalog.get_object(destination_bucket, destination_key) is not None:
            raise resource_already_exists()
        version = str(uuid.uuid4())
        self.state.blobs.duplicate(source.version or "", version)
        metadata = {**(source.metadata or {}), "lastModified": iso_timestamp(self.state.clock())}
        try:
            moved = await catalog.relocate_object(
                bucket_id=bucket_id,
                name=source_key,
                new_bucket_id=destination_bucket,
                new_name=destination_key,
                version=version,
                metadata=metadata,
            )
        except CatalogConflict as exc:
            self.state.blobs.remove(version)
            raise resource_already_exists() from exc
        except CatalogMissingBucket as exc:
            self.state.blobs.remove(version)
            raise related_resource_not_found() from exc
        if moved is None:
            self.state.blobs.remove(version)
            raise no_such_key()
        self.state.blobs.remove(source.version)
        return JSONResponse({"message": "Successfully moved"})

    async def copy_object(self, request: Request) -> JSONResponse:
        """``POST /object/copy``: ``{Id, Key, ...row}``; ``x-upsert`` to overwrite the destination."""
        caller = self._caller(request)
        body = await json_body(request)
        bucket_id = required_str(body, "bucketId")
        source_key = required_str(body, "sourceKey")
        destination_key = required_str(body, "destinationKey")
        destination_bucket = optional_str(body, "destinationBucket") or bucket_id
        copy_metadata = optional_bool(body, "copyMetadata")
        copy_metadata = True if copy_metadata is None else copy_metadata
        overrides = body.get("metadata") or {}
        if not isinstance(overrides, dict):
            raise invalid_request("body/metadata must be object")
        upsert = request.headers.get("x-upsert") == "true"
        must_be_valid_bucket_name(bucket_id)
        must_be_valid_key(destination_key)
        catalog = self.state.catalog
        source = await catalog.get_object(bucket_id, source_key)
        if source is None or not caller.bypasses_rls:
            raise no_such_key()
        if await catalog.get_bucket(destination_bucket) is None:
            raise related_resource_not_found()
        if not upsert and await catalog.get_object(destination_bucket, destination_key) is not None:
            raise key_already_exists()
        base = dict(source.metadata or {})
        if not copy_metadata:
            base.update({name: overrides[name] for name in ("cacheControl", "mimetype") if name in overrides})
        base["lastModified"] = iso_timestamp(self.state.clock())
        user_metadata = (
            source.user_metadata if copy_metadata else parse_user_metadata(request.headers.get("x-metadata"))
        )
        version = str(uuid.uuid4())
        self.state.blobs.duplicate(source.version or "", version)
        try:
            row, previous = await catalog.upsert_object(
                bucket_id=destination_bucket,
                name=destination_key,
                new_id=str(uuid.uuid4()),
                version=version,
                owner=caller.owner,
                metadata=base,
                user_metadata=user_metadata,
            )
        except CatalogMissingBucket as exc:
            self.state.blobs.remove(version)
            raise related_resource_not_found() from exc
        if previous is not None and previous.version != version:
            self.state.blobs.remove(previous.version)
        return JSONResponse({"Id": row.id, "Key": f"{destination_bucket}/{destination_key}", **object_json(row)})

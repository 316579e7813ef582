"""``/upload/resumable``: the tus 1.0.0 resumable upload, as the server serves it.

The server (``src/http/routes/tus/``) runs ``@tus/server`` with its own hooks, and we follow both:

- ``POST`` creates an upload from ``Upload-Length`` (or ``Upload-Defer-Length: 1``) and
  ``Upload-Metadata`` (base64 ``bucketName``, ``objectName``, ``contentType``, ``cacheControl``
  in seconds, ``metadata`` as JSON); 201 with ``Location: .../upload/resumable/<id>``, where the
  id is base64url of ``bucket/object/version``.  A body of type
  ``application/offset+octet-stream`` is the first bytes (creation-with-upload).
- ``PATCH`` adds bytes at ``Upload-Offset`` (409 when it is not the upload's offset); the one
  that reaches the length makes the object, as a standard upload would (``Tus-Complete: 1``).
- ``HEAD`` answers ``Upload-Offset`` and ``Upload-Length`` (``Cache-Control: no-store``);
  ``DELETE`` terminates an unfinished upload; ``OPTIONS`` says what is served.
- ``x-upsert: true`` allows overwriting, checked when the upload starts, on every PATCH, and
  when it completes; ``/upload/resumable/sign`` takes an ``x-signature`` upload token instead
  of a JWT (``POST /object/upload/sign``).

Errors are tus's: the real status code and a plain-text body (the storage error's message),
except a JWT that does not verify, which the auth plugin answers before tus, as a JSON error.
The server takes any chunk size (its S3 store keeps short parts aside); hosted projects ask
clients for 6 MB chunks, which the emulator does not enforce.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bucketshift_sandbox.supabase.blobs import IncomingBlob
from bucketshift_sandbox.supabase.catalog import CatalogMissingBucket, iso_timestamp
from bucketshift_sandbox.supabase.errors import (
    StorageError,
    invalid_jwt,
    invalid_signature,
    key_already_exists,
    no_such_bucket,
    rls_denied,
)
from bucketshift_sandbox.supabase.etags import object_etag
from bucketshift_sandbox.supabase.keys import Caller, verify_jwt
from bucketshift_sandbox.supabase.object_routes import check_mime
from bucketshift_sandbox.supabase.state import EmulatorState
from bucketshift_sandbox.supabase.transfer import drain
from bucketshift_sandbox.supabase.tus_uploads import ResumableUpload, ResumableUploads
from bucketshift_sandbox.supabase.validation import must_be_valid_bucket_name, must_be_valid_key

__all__ = ["TUS_PATH", "TusRoutes", "decode_upload_id", "encode_upload_id", "parse_metadata"]

TUS_PATH = "/upload/resumable"
TUS_VERSION = "1.0.0"
OFFSET_TYPE = "application/offset+octet-stream"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination"
HEADERS = (
    "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable, Tus-Version, "
    "Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, Upload-Offset, "
    "X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host, X-Forwarded-Proto, Forwarded"
)
ALLOWED_EXTRA = "Authorization, X-Upsert, Upload-Expires, ApiKey, x-signature"
_BASE64 = re.compile(r"[0-9+/A-Za-z]*={0,2}")
_INTEGER = re.compile(r"0|[1-9][0-9]*")


class TusError(Exception):
    """A refusal of @tus/server itself: a status and its plain-text body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


MISSING_OFFSET = TusError(403, "Upload-Offset header required\n")
MISSING_CONTENT_TYPE = TusError(403, "Content-Type header required\n")
FILE_NOT_FOUND = TusError(404, "The file for this url was not found\n")
INVALID_OFFSET = TusError(409, "Upload-Offset conflict\n")
SIZE_EXCEEDED = TusError(413, "upload's size exceeded\n")
MAX_SIZE_EXCEEDED = TusError(413, "Maximum size exceeded\n")
INVALID_LENGTH = TusError(400, "Upload-Length or Upload-Defer-Length header required\n")
FINISHED = TusError(400, "Cannot terminate an already completed upload")


def encode_upload_id(bucket: str, name: str, version: str) -> str:
    """The id in the upload's URL: base64url of ``bucket/name/version``, unpadded, as Node writes it."""
    return base64.urlsafe_b64encode(f"{bucket}/{name}/{version}".encode()).decode().rstrip("=")


def decode_upload_id(text: str) -> tuple[str, str, str] | None:
    """``(bucket, name, version)`` from an upload id, or None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    bucket, _, rest = raw.partition("/")
    name, _, version = rest.rpartition("/")
    if not bucket or not name or not version:
        return None
    return bucket, name, version


def parse_metadata(header: str) -> dict[str, str | None]:
    """tus ``Upload-Metadata``: ``key base64``, comma-separated, keys unique; ValueError otherwise."""
    if not header.strip():
        raise ValueError("empty metadata")
    parsed: dict[str, str | None] = {}
    for pair in header.split(","):
        tokens = pair.split(" ")
        key = tokens[0]
        if not key or key in parsed or len(tokens) > 2:
            raise ValueError(f"bad metadata pair {pair!r}")
        if len(tokens) == 1:
            parsed[key] = None
            continue
        value = tokens[1]
        if len(value) % 4 or not _BASE64.fullmatch(value):
            raise ValueError(f"bad metadata value for {key!r}")
        parsed[key] = base64.b64decode(value).decode("utf-8", errors="replace")
    return parsed


def _stringify(metadata: dict[str, str | None]) -> str:
    return ",".join(key if value is None else f"{key} {base64.b64encode(value.encode()).decode()}"
                    for key, value in metadata.items())  # fmt: skip


def _valid_header(name: str, value: str) -> bool:
    """HeaderValidator: the tus headers a request may carry, checked before any handler runs."""
    if name in ("upload-offset", "upload-length"):
        return bool(_INTEGER.fullmatch(value))
    if name == "upload-defer-length":
        return value == "1"
    if name == "upload-metadata":
        try:
            parse_metadata(value)
        except ValueError:
            return False
        return True
    if name in ("tus-resumable", "tus-version"):
        return value == TUS_VERSION
    if name == "content-type":
        return value == OFFSET_TYPE
    if name == "x-forwarded-proto":
        return value in ("http", "https")
    return True


@dataclass
class _Rights:
    """Who writes (owner) and whether an existing object may be replaced, for one request."""

    owner: str | None
    upsert: bool


class TusRoutes:
    """The resumable upload routes, plain and signed; one instance per emulator."""

    def __init__(self, state: EmulatorState, uploads: ResumableUploads) -> None:
        self.state = state
        self.uploads = uploads

    def routes(self) -> list[BaseRoute]:
        """Relative to ``/storage/v1``; the signed ones first, ``sign`` is not an upload id."""
        signed, plain = f"{TUS_PATH}/sign", TUS_PATH
        every = ["POST", "PATCH", "HEAD", "DELETE", "OPTIONS"]
        return [
            Route(f"{signed}/{{upload_id}}", self.signed_upload, methods=every),
            Route(signed, self.signed_upload, methods=["POST", "OPTIONS"]),
            Route(f"{plain}/{{upload_id}}", self.upload, methods=every),
            Route(plain, self.upload, methods=["POST", "OPTIONS"]),
        ]

    async def upload(self, request: Request) -> Response:
        """``/upload/resumable[/<id>]``: authorised by the request's JWT or secret key."""
        return await self._handle(request, signed=False)

    async def signed_upload(self, request: Request) -> Response:
        """``/upload/resumable/sign[/<id>]``: authorised by the ``x-signature`` upload token."""
        return await self._handle(request, signed=True)

    # -- the dispatcher ------------------------------------------------------------------

    async def _handle(self, request: Request, *, signed: bool) -> Response:
        body = request.stream()
        if not self.state.settings.resumable:
            await drain(body)
            message = f"Route {request.method}:{request.url.path} not found"
            return JSONResponse({"message": message, "error": "Not Found", "statusCode": 404}, status_code=404)
        if request.method == "OPTIONS":
            return self._options()
        caller: Caller | None = None
        if not signed:
            try:
                caller = self.state.settings.caller(request.headers)
            except StorageError:
                await drain(body)
                raise
        try:
            self._check_headers(request)
            if request.method == "POST":
                return await self._create(request, body, caller, signed)
            if request.method == "PATCH":
                return await self._patch(request, body, caller, signed)
            if request.method == "HEAD":
                return await self._head(request, signed)
            return await self._terminate(request, caller, signed)
        except TusError as exc:
            await drain(body)
            return self._text(request, exc.status, exc.body)
        except StorageError as exc:
            # onResponseError: a storage error goes out with its real status and its message only.
            await drain(body)
            return self._text(request, exc.status, exc.message)
        except ClientDisconnect:
            return self._text(request, 400, "Request aborted\n")

    @staticmethod
    def _check_headers(request: Request) -> None:
        if request.headers.get("tus-resumable") is None:
            raise TusError(412, "Tus-Resumable Required\n")
        invalid = [
            name
            for name, value in request.headers.items()
            if not (name == "content-type" and request.method != "PATCH") and not _valid_header(name, value)
        ]
        if invalid:
            raise TusError(400, f"Invalid {' '.join(invalid)}\n")

    @staticmethod
    def _headers(**extra: str) -> dict[str, str]:
        return {
            "Tus-Resumable": TUS_VERSION,
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": HEADERS,
            **extra,
        }

    def _text(self, request: Request, status: int, text: str) -> Response:
        if request.method == "HEAD":
            return Response(status_code=status, headers=self._headers())
        return Response(text, status_code=status, headers=self._headers(), media_type=None)

    def _options(self) -> Response:
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(self.state.settings.file_size_limit),
            "Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE",
            "Access-Control-Allow-Headers": f"{HEADERS}, {ALLOWED_EXTRA}",
            "Access-Control-Max-Age": "86400",
        }
        return Response(status_code=204, headers=headers)

    # -- hooks ---------------------------------------------------------------------------

    async def _max_size(self, bucket_id: str) -> int:
        """maxSize: the bucket's limit, never above the server's; 404 when the bucket is missing."""
        bucket = await self.state.catalog.get_bucket(bucket_id)
        if bucket is None:
            raise no_such_bucket()
        server = self.state.settings.file_size_limit
        return min(bucket.file_size_limit or server, server)

    async def _rights(
        self, request: Request, caller: Caller | None, signed: bool, bucket_id: str, name: str, *, check: bool
    ) -> _Rights:
        """onIncomingRequest: the upload token's rights, or canUpload for the caller (``check``)."""
        if signed:
            token = request.headers.get("x-signature")
            if not token:
                raise invalid_signature("Missing x-signature header")
            try:
                claims = verify_jwt(token, self.state.settings.jwt_secret)
            except StorageError as exc:
                raise invalid_jwt(exc.message) from exc
            if claims.get("url") != f"{bucket_id}/{name}":
                raise invalid_signature()
            owner = claims.get("owner")
            return _Rights(owner if isinstance(owner, str) else None, bool(claims.get("upsert")))
        assert caller is not None
        rights = _Rights(caller.owner, request.headers.get("x-upsert") == "true")
        if check:
            if not caller.bypasses_rls:
                raise rls_denied()
            if await self.state.catalog.get_bucket(bucket_id) is None:
                raise no_such_bucket()
            if not rights.upsert and await self.state.catalog.get_object(bucket_id, name) is not None:
                raise key_already_exists()
        return rights

    def _location(self, request: Request, upload_id: str, signed: bool) -> str:
        """generateUrl, forwarded headers respected; the gateway's prefix is the mount's root path."""
        proto = request.headers.get("x-forwarded-proto") or request.url.scheme
        host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
        root = request.scope.get("root_path", "")
        return f"{proto}://{host}{root}{TUS_PATH}{'/sign' if signed else ''}/{upload_id}"

    def _target(self, request: Request) -> tuple[str, str, str]:
        found = decode_upload_id(request.path_params.get("upload_id", ""))
        if found is None:
            raise FILE_NOT_FOUND
        return found

    def _find(self, bucket_id: str, name: str, version: str) -> ResumableUpload:
        upload = self.uploads.get(version)
        if upload is None or (upload.bucket, upload.name) != (bucket_id, name):
            raise FILE_NOT_FOUND
        return upload

    # -- the methods ---------------------------------------------------------------------

    async def _create(
        self, request: Request, body: AsyncIterator[bytes], caller: Caller | None, signed: bool
    ) -> Response:
        headers = request.headers
        length_text, deferred = headers.get("upload-length"), headers.get("upload-defer-length")
        if (length_text is None) == (deferred is None):
            raise INVALID_LENGTH
        metadata = parse_metadata(headers["upload-metadata"]) if "upload-metadata" in headers else None
        if metadata is None:
            raise StorageError(400, "MetadataRequired", "metadata header invalid")
        bucket_id, name = metadata.get("bucketName") or "", metadata.get("objectName") or ""
        must_be_valid_bucket_name(bucket_id)
        must_be_valid_key(name)
        max_size = await self._max_size(bucket_id)
        length = int(length_text) if length_text is not None else None
        if length is not None and max_size > 0 and length > max_size:
            raise MAX_SIZE_EXCEEDED
        rights = await self._rights(request, caller, signed, bucket_id, name, check=True)
        # onCreate: cacheControl is seconds or nothing; the content type must suit the bucket.
        cache = metadata.get("cacheControl") or ""
        metadata["cacheControl"] = f"max-age={cache}" if re.fullmatch(r"-?\d+", cache) else "no-cache"
        bucket = await self.state.catalog.get_bucket(bucket_id)
        if bucket is not None and metadata.get("contentType") and bucket.allowed_mime_types:
            check_mime(str(metadata["contentType"]), bucket.allowed_mime_types)
        version = str(uuid.uuid4())
        upload = ResumableUpload(bucket_id, name, version, length, metadata, iso_timestamp(self.state.clock()))
        self.uploads.create(upload)
        upload_id = encode_upload_id(bucket_id, name, version)
        extra = {"Location": self._location(request, upload_id, signed)}
        async with self.uploads.lock(version):
            if headers.get("content-type") == OFFSET_TYPE:
                await self._receive(request, body, upload, max_size)
                extra["Upload-Offset"] = str(upload.offset)
            if upload.size is not None and upload.offset == upload.size:
                await self._finish(upload, rights)
                extra["Tus-Complete"] = "1"
        return Response(status_code=201, headers=self._headers(**extra))

    async def _patch(
        self, request: Request, body: AsyncIterator[bytes], caller: Caller | None, signed: bool
    ) -> Response:
        bucket_id, name, version = self._target(request)
        offset_text = request.headers.get("upload-offset")
        if offset_text is None:
            raise MISSING_OFFSET
        if request.headers.get("content-type") is None:
            raise MISSING_CONTENT_TYPE
        rights = await self._rights(request, caller, signed, bucket_id, name, check=True)
        max_size = await self._max_size(bucket_id)
        extra: dict[str, str] = {}
        async with self.uploads.lock(version):
            upload = self._find(bucket_id, name, version)
            if upload.offset != int(offset_text):
                raise INVALID_OFFSET
            if upload.complete:
                return Response(status_code=204, headers=self._headers(**{"Upload-Offset": str(upload.offset)}))
            declared = request.headers.get("upload-length")
            if declared is not None:
                self._declare(upload, int(declared), max_size)
            await self._receive(request, body, upload, max_size)
            if upload.offset == upload.size:
                await self._finish(upload, rights)
                extra["Tus-Complete"] = "1"
        return Response(status_code=204, headers=self._headers(**{"Upload-Offset": str(upload.offset)}, **extra))

    def _declare(self, upload: ResumableUpload, size: int, max_size: int) -> None:
        """creation-defer-length: the length arrives with a later PATCH, once."""
        if upload.size is not None or size < upload.offset:
            raise INVALID_LENGTH
        if max_size > 0 and size > max_size:
            raise MAX_SIZE_EXCEEDED
        upload.size = size
        self.uploads.save(upload)

    async def _receive(
        self, request: Request, body: AsyncIterator[bytes], upload: ResumableUpload, max_size: int
    ) -> None:
        """calculateMaxBodySize, then write: never past the upload's length (or the limit, while deferred)."""
        room = (upload.size if upload.size is not None else max_size) - upload.offset
        announced = request.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > room:
            raise SIZE_EXCEEDED
        result = await self.uploads.append(upload, body, limit=room)
        upload.offset = result.offset
        if result.exceeded:
            raise MAX_SIZE_EXCEEDED

    async def _finish(self, upload: ResumableUpload, rights: _Rights) -> None:
        """onUploadFinish: the bytes become the object, with the row a standard upload would write."""
        state = self.state
        catalog = state.catalog
        if not rights.upsert and await catalog.get_object(upload.bucket, upload.name) is not None:
            self.uploads.remove(upload.version)
            raise key_already_exists()
        size = upload.size or 0
        md5 = await self.uploads.md5(upload.version)
        meta = upload.metadata or {}
        metadata: dict[str, Any] = {
            "eTag": object_etag(md5, state.settings.etag_style, salt=upload.version),
            "size": size,
            "mimetype": meta.get("contentType") or "application/octet-stream",
            "cacheControl": meta.get("cacheControl") or "no-cache",
            "lastModified": iso_timestamp(state.clock()),
            "contentLength": size,
            "httpStatusCode": 200,
        }
        state.blobs.commit(IncomingBlob(self.uploads.data_path(upload.version), size, md5, False), upload.version)
        try:
            _, previous = await catalog.upsert_object(
                bucket_id=upload.bucket,
                name=upload.name,
                new_id=str(uuid.uuid4()),
                version=upload.version,
                owner=rights.owner,
                metadata=metadata,
                user_metadata=_user_metadata(meta.get("metadata")),
            )
        except CatalogMissingBucket as exc:
            state.blobs.remove(upload.version)
            self.uploads.remove(upload.version)
            raise no_such_bucket() from exc
        except BaseException:
            state.blobs.remove(upload.version)
            raise
        if previous is not None and previous.version != upload.version:
            state.blobs.remove(previous.version)
        self.uploads.mark_complete(upload)

    async def _head(self, request: Request, signed: bool) -> Response:
        bucket_id, name, version = self._target(request)
        if signed:
            await self._rights(request, None, True, bucket_id, name, check=False)
        upload = self._find(bucket_id, name, version)
        headers = {"Cache-Control": "no-store", "Upload-Offset": str(upload.offset)}
        if upload.size is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.size)
        if upload.metadata is not None:
            headers["Upload-Metadata"] = _stringify(upload.metadata)
        return Response(status_code=200, headers=self._headers(**headers))

    async def _terminate(self, request: Request, caller: Caller | None, signed: bool) -> Response:
        bucket_id, name, version = self._target(request)
        await self._rights(request, caller, signed, bucket_id, name, check=not signed)
        async with self.uploads.lock(version):
            upload = self._find(bucket_id, name, version)
            if upload.complete:
                raise FINISHED
            self.uploads.remove(version)
        return Response(status_code=204, headers=self._headers())


def _user_metadata(text: str | None) -> dict[str, Any] | None:
    """The ``metadata`` entry as JSON; anything else is dropped, as the server does."""
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None

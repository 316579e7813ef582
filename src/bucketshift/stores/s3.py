"""Amazon S3 and S3-compatible stores (MinIO, R2, Supabase's S3 endpoint).

The data path (put, get, head, delete) goes through obstore, which costs 3-4x less CPU per
request than boto3 or aiobotocore (measured in `bench/s3_client_choice.py`); CPU per object is
what limits copy throughput on a small machine.  boto3 does the rest: listing (obstore refuses
to list a bucket holding a key it cannot represent), buckets, presigning, and the plain
fallback for keys obstore cannot hold and for large create-only writes.  Neither SDK retries:
retries live in the engine.  Every SDK failure is mapped to `bucketshift.errors` here.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import obstore
from botocore.config import Config
from obstore.auth.boto3 import Boto3CredentialProvider
from obstore.store import S3Store as ObstoreS3

from bucketshift.config import S3Endpoint, TransferConfig
from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotFound,
    BucketshiftError,
    ConfigError,
    NotFound,
    PreconditionFailed,
    StoreError,
    UsageError,
)
from bucketshift.stores import _s3_fallback as fallback
from bucketshift.stores._s3_errors import WrongRegion, fill_error_code, from_botocore, from_obstore, from_status
from bucketshift.stores._s3_obstore import ERRORS as OBSTORE_ERRORS
from bucketshift.stores._s3_obstore import (
    ObstoreReader,
    StaticCredentials,
    attributes_for,
    info_from_result,
    metadata_collides,
    obstore_can_hold,
)
from bucketshift.stores._s3_session import require_credentials, session_for
from bucketshift.stores.base import (
    RESERVED_METADATA,
    SHA256_METADATA,
    Body,
    BucketInfo,
    CheckedBody,
    Digests,
    ListPage,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    SourceVersion,
    UploadedPart,
    strip_etag,
)
from bucketshift.stores.multipart import write_in_parts
from bucketshift.stores.registry import register
from bucketshift.urls import keep_dots, s3_bucket_base, s3_public_url

__all__ = ["S3Store", "obstore_can_hold"]

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PARTS = 10_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_READ_CHUNK = MiB
_CREDENTIAL_TTL = timedelta(minutes=5)

"""Shorter than botocore's 10-minute mandatory refresh window, so handed-out keys never expire."""


class _ChecksumsRefused(Exception):
    """The endpoint answered a write by refusing its checksum header (not by finding it wrong)."""


_REFUSALS = ("notimplemented", "invalidrequest", "invalidargument", "status code: 400", "status code: 501")


def _refuses_checksums(exc: BaseException | None) -> bool:
    """Whether an endpoint refused S3's checksum headers (some S3-compatible stores do).

    A BadDigest is the opposite: the header was understood and the body did not match it."""
    if exc is None:
        return False
    response = getattr(exc, "response", None)
    text = (str(response) if response else str(exc).split("Debug source:", 1)[0]).lower()
    return "checksum" in text and "baddigest" not in text and any(mark in text for mark in _REFUSALS)


def _user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Lower-case user metadata; bucketshift's own names are set by the store, never passed through."""
    return {name.lower(): value for name, value in metadata.items() if name.lower() not in RESERVED_METADATA}


async def _prepend(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    while first:
        yield first.pop(0)
    async for chunk in rest:
        yield chunk


class S3Store(ObjectStore):
    """An S3 endpoint: obstore for single-part object bytes, boto3 for the rest.

    `multipart_threshold`: bodies larger than this are sent as multipart uploads of `part_size`
    parts with `part_concurrency` parts in flight (`MultipartUploads`, which the engine drives
    part by part).  `max_connections` sizes both HTTP pools.  `connect_timeout` bounds making a
    connection, `read_timeout` a wait for the next byte of an answer, `request_timeout` one whole
    single-part request.  `checksums`: every write carries a full-object checksum S3 checks the
    body against (SHA-256 for a single PUT, CRC64NVME for a multipart upload); an endpoint that
    refuses them is detected, the writes go on without, and `checksum_note` says so.  `session`
    and `client` inject a boto3 session or S3 client (tests); otherwise they are built from the
    endpoint: explicit keys, or the AWS default chain (environment, profile, SSO, instance or
    task role).
    """

    kind = "s3"

    def __init__(
        self,
        endpoint: S3Endpoint,
        *,
        session: boto3.session.Session | None = None,
        client: Any = None,
        multipart_threshold: int = 16 * MiB,
        part_size: int = 8 * MiB,
        part_concurrency: int = 2,
        max_connections: int = 64,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        request_timeout: float = 600.0,
        checksums: bool = True,
    ) -> None:
        if part_size < MIN_PART:
            raise ConfigError(f"part_size is {part_size} bytes; S3 needs parts of at least 5 MiB")
        if part_concurrency < 1 or max_connections < 1:
            raise ConfigError("part_concurrency and max_connections must be at least 1")
        self.endpoint = endpoint
        self.region = endpoint.region
        self.multipart_threshold = max(multipart_threshold, 0)
        self.part_size = part_size
        self.part_concurrency = part_concurrency
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.request_timeout = request_timeout
        self.checksums = checksums
        self.checksum_note: str | None = None
        self._custom = endpoint.endpoint_url is not None
        self._session = session if session is not None else self._new_session()
        self._own_client = client is None
        self._client = client if client is not None else self._new_client()
        self._client.meta.events.register("after-call.s3", fill_error_code, unique_id="bucketshift-error-code")
        self._stores: dict[str, ObstoreS3] = {}
        self._credentials: Any = None
        self._building = asyncio.Lock()
        self._known_buckets: set[str] = set()

    # construction -------------------------------------------------------------------------

    def _new_session(self) -> boto3.session.Session:
        return session_for(self.endpoint)

    def _addressing(self) -> str:
        style = self.endpoint.addressing_style
        if style == "auto" and self._custom:
            return "path"
        return style

    def _new_client(self) -> Any:
        config = Config(
            region_name=self.region,
            signature_version="s3v4",
            s3={"addressing_style": self._addressing()},
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=self.max_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            ignore_configured_endpoint_urls=True,
        )
        return self._session.client("s3", endpoint_url=self.endpoint.endpoint_url, config=config)

    def _base_url(self, bucket: str) -> tuple[str, bool]:
        """The endpoint to address `bucket` at, and whether the bucket is in its host name."""
        return s3_bucket_base(self.endpoint, bucket)

    async def _provider(self) -> Any:
        if self._credentials is None:
            endpoint = self.endpoint
            if endpoint.access_key_id is not None and endpoint.secret_access_key is not None:
                self._credentials = StaticCredentials(
                    endpoint.access_key_id, endpoint.secret_access_key.get_secret_value()
                )
            else:
                self._credentials = await asyncio.to_thread(self._chain_provider)
        return self._credentials

    def _chain_provider(self) -> Boto3CredentialProvider:
        require_credentials(self._session)
        return Boto3CredentialProvider(self._session, ttl=_CREDENTIAL_TTL)

    async def _store(self, bucket: str) -> ObstoreS3:
        """The bucket's obstore client, built once: concurrent first requests wait for the one being
        built instead of each building (and dropping) its own client and connection pool."""
        store = self._stores.get(bucket)
        if store is not None:
            return store
        async with self._building:
            return self._stores.get(bucket) or await self._new_store(bucket)

    async def _new_store(self, bucket: str) -> ObstoreS3:
        base, virtual = self._base_url(bucket)
        store = ObstoreS3(
            bucket,
            endpoint=base,
            region=self.region,
            virtual_hosted_style_request=virtual,
            disable_bulk_delete=True,
            credential_provider=await self._provider(),
            client_options={
                "allow_http": base.startswith("http://"),
                # A whole request, a large GET's stream included: one that outlives it is
                # resumed where it stopped (engine/reading.py), like any broken read.
                "timeout": timedelta(seconds=self.request_timeout),
                "connect_timeout": timedelta(seconds=self.connect_timeout),
                "pool_max_idle_per_host": str(self.max_connections),
            },
            retry_config={"max_retries": 0},
            **({"checksum_algorithm": "SHA256"} if self.checksums else {}),
        )
        self._stores[bucket] = store
        return store

    async def aclose(self) -> None:
        self._stores.clear()
        if self._own_client:
            await asyncio.to_thread(self._client.close)

    # helpers ------------------------------------------------------------------------------

    async def _boto(self, action: str, bucket: str | None, key: str | None, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except Exception as exc:
            raise from_botocore(exc, action, bucket=bucket, key=key) from exc

    async def bucket_exists(self, bucket: str) -> bool:
        """HeadBucket: 403 (someone else's) and 301 (another region) mean that it exists (one request)."""
        try:
            await self._boto("check", bucket, None, "head_bucket", Bucket=bucket)
        except NotFound:
            return False
        except (AccessDenied, WrongRegion):
            return True
        return True

    async def _refine(self, error: BucketshiftError, bucket: str) -> BucketshiftError:
        """A bodiless 404 does not say whether the key or the bucket is missing: ask once per bucket."""
        if type(error) is NotFound and bucket not in self._known_buckets:
            if not await self.bucket_exists(bucket):
                return BucketNotFound(f"bucket {bucket} does not exist", bucket=bucket)
            self._known_buckets.add(bucket)
        return error

    # buckets ------------------------------------------------------------------------------

    async def list_buckets(self) -> list[BucketInfo]:
        def every_page() -> list[BucketInfo]:
            out: list[BucketInfo] = []
            for page in self._client.get_paginator("list_buckets").paginate():
                out.extend(BucketInfo(entry["Name"]) for entry in page.get("Buckets", ()))
            return out

        try:
            return await asyncio.to_thread(every_page)
        except Exception as exc:
            raise from_botocore(exc, "list buckets of", bucket=None) from exc

    async def create_bucket(self, bucket: str, *, public: bool = False) -> None:
        """Create the bucket in the endpoint's region; `public` adds a public-read bucket policy.

        us-east-1 takes no LocationConstraint and answers 200 when the caller already owns the
        bucket, so there the bucket is looked up first to report AlreadyExists.
        """
        args: dict[str, Any] = {"Bucket": bucket}
        if self.region == "us-east-1":
            if await self.bucket_exists(bucket):
                raise from_status("create", 409, "BucketAlreadyOwnedByYou", bucket=bucket)
        else:
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        await self._boto("create", bucket, None, "create_bucket", **args)
        self._known_buckets.add(bucket)
        if public:
            await self._make_public(bucket)

    async def _make_public(self, bucket: str) -> None:
        await self._boto(
            "make public",
            bucket,
            None,
            "put_public_access_block",
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False,
            },
        )
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
        await self._boto("make public", bucket, None, "put_bucket_policy", Bucket=bucket, Policy=json.dumps(policy))

    async def delete_bucket(self, bucket: str) -> None:
        await self._boto("delete", bucket, None, "delete_bucket", Bucket=bucket)
        self._stores.pop(bucket, None)
        self._known_buckets.discard(bucket)

    # objects ------------------------------------------------------------------------------

    async def list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """One ListObjectsV2 request (in a thread); the token is S3's continuation token."""
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if token:
            params["ContinuationToken"] = token
        try:
            page = await asyncio.to_thread(self._client.list_objects_v2, **params)
        except Exception as exc:
            raise from_botocore(exc, "list", bucket=bucket) from exc
        infos = []
        for entry in page.get("Contents", ()):
            etag = strip_etag(entry.get("ETag"))
            infos.append(
                ObjectInfo(
                    key=entry["Key"],
                    size=int(entry.get("Size") or 0),
                    etag=etag,
                    last_modified=entry.get("LastModified"),
                )
            )
        more = page.get("IsTruncated") and page.get("NextContinuationToken")
        return ListPage(infos, page["NextContinuationToken"] if more else None)

    async def head(self, bucket: str, key: str, *, checksum: bool = False) -> ObjectInfo:
        """The object's description; with `checksum`, also the checksums S3 stored with it.

        The checksums need HeadObject with ChecksumMode, which obstore cannot send, so that costs a
        boto3 request (about 4x the CPU); the plain head stays on obstore.
        """
        self._check_key(bucket, key)
        if checksum or not obstore_can_hold(key):
            try:
                info = await fallback.head(self._client, bucket, key, checksum=checksum)
            except NotFound as error:
                raise await self._refine(error, bucket) from None
            self._known_buckets.add(bucket)
            return info
        store = await self._store(bucket)
        try:
            result = await obstore.get_async(store, key, options={"head": True})
        except OBSTORE_ERRORS as exc:
            raise await self._refine(from_obstore(exc, "head", bucket=bucket, key=key), bucket) from exc
        self._known_buckets.add(bucket)
        return info_from_result(key, result.meta, result.attributes)

    @property
    def writes_checksums(self) -> bool:
        return self.checksums

    async def head_checksums(self, bucket: str, key: str) -> ObjectInfo:
        return await self.head(bucket, key, checksum=True)

    @asynccontextmanager
    async def open(self, bucket: str, key: str, *, offset: int = 0) -> AsyncIterator[ObjectReader]:
        self._check_key(bucket, key)
        if not obstore_can_hold(key):
            try:
                reader = await fallback.open_reader(self._client, bucket, key, chunk_size=_READ_CHUNK, offset=offset)
            except NotFound as error:
                raise await self._refine(error, bucket) from None
            try:
                yield reader
            finally:
                await reader.aclose()
            return
        store = await self._store(bucket)
        options: dict[str, Any] = {"range": {"offset": offset}} if offset else {}
        try:
            result = await obstore.get_async(store, key, options=options)
        except OBSTORE_ERRORS as exc:
            raise await self._refine(from_obstore(exc, "read", bucket=bucket, key=key), bucket) from exc
        info = info_from_result(key, result.meta, result.attributes)
        yield ObstoreReader(info, result, bucket, _READ_CHUNK, offset, idle_timeout=self.read_timeout)

    @staticmethod
    def _check_key(bucket: str, key: str) -> None:
        if not key:
            raise StoreError(f"bucket {bucket}: an object key cannot be empty", bucket=bucket, key=key)

    def part_size_for(self, size: int) -> int:
        """`part_size`, or more when S3's 10,000-part limit needs it for an object of `size` bytes."""
        needed = math.ceil(size / MAX_PARTS)
        return max(self.part_size, math.ceil(needed / MiB) * MiB)

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
        """Stream the body to S3; one PUT up to `multipart_threshold`, a multipart upload above.

        Up to the threshold the body is gathered first (a single PUT needs it whole), unless
        `size` already says it is larger; its sha256 then travels in the object's metadata too.
        """
        self._check_key(bucket, key)
        user = _user_metadata(metadata or {})
        headers = {
            "content_disposition": content_disposition,
            "content_encoding": content_encoding,
            "content_language": content_language,
        }
        content_type = content_type or DEFAULT_CONTENT_TYPE
        source = CheckedBody(body, size, bucket, key)
        chunks = source.chunks()
        digests = Digests()
        buffered: list[bytes] = []
        whole = False
        in_hand = isinstance(body, bytes) and len(body) <= self.multipart_threshold and size in (None, len(body))
        try:
            if in_hand:
                whole = True
                buffered.append(body)  # type: ignore[arg-type]
                digests.update(body)  # type: ignore[arg-type]
            elif size is None or size <= self.multipart_threshold:
                whole = True
                async for chunk in chunks:
                    buffered.append(chunk)
                    digests.update(chunk)
                    if digests.size > self.multipart_threshold:
                        whole = False
                        break
            if whole:
                data: bytes | list[bytes] = buffered[0] if len(buffered) == 1 else list(buffered)
                buffered.clear()
                sha = digests.sha256()
                if copied_from is not None:
                    marks = SourceVersion(copied_from.etag, copied_from.size, sha).as_metadata()
                else:
                    marks = {SHA256_METADATA: sha}
                args = fallback.write_args(content_type, cache_control, {**user, **marks}, **headers)
                etag = await self._put_whole(bucket, key, data, args, sha, overwrite, if_match, user)
                crc = digests.crc64nvme()
            else:
                replayed = _prepend(buffered, chunks)
                digests = Digests()
                describe = {"content_type": content_type, "cache_control": cache_control, "metadata": user,
                            "copied_from": copied_from, **headers}  # fmt: skip
                written = await write_in_parts(
                    self, bucket, key, replayed, size=size, describe=describe, overwrite=overwrite,
                    if_match=if_match, digests=digests,
                )  # fmt: skip
                etag, crc = written.etag, digests.crc64nvme()
        except BaseException as exc:
            if source.error is not None and not isinstance(exc, asyncio.CancelledError):
                raise source.error from None
            raise
        self._known_buckets.add(bucket)
        return ObjectInfo(
            key=key,
            size=digests.size,
            etag=etag,
            content_type=content_type,
            cache_control=cache_control,
            metadata=user,
            sha256=digests.sha256(),
            crc64nvme=crc,
            **headers,
        )

    async def _put_whole(
        self,
        bucket: str,
        key: str,
        data: bytes | list[bytes],
        args: Mapping[str, Any],
        sha256: str,
        overwrite: bool,
        if_match: str | None,
        user: Mapping[str, str],
    ) -> str | None:
        """One PUT: through obstore where it can carry the key and metadata, else boto3.

        obstore takes the chunks as they came (no joined copy of the body while it is sent)."""
        try:
            if obstore_can_hold(key) and not metadata_collides(user):
                return await self._obstore_put(bucket, key, data, args, overwrite, if_match)
            whole = data if isinstance(data, bytes) else b"".join(data)

            async def send() -> str | None:
                try:
                    return await fallback.put_single(
                        self._client, bucket, key, whole, args, overwrite=overwrite, if_match=if_match,
                        sha256_hex=sha256 if self.checksums else None,
                    )  # fmt: skip
                except StoreError as error:
                    if self.checksums and _refuses_checksums(error.__cause__):
                        raise _ChecksumsRefused() from error
                    raise await self._refine(error, bucket) from None

            return await self._checked(send)
        except (AlreadyExists, NotFound) as error:
            raise self._precondition(error, bucket, key, if_match) from None

    async def _obstore_put(
        self,
        bucket: str,
        key: str,
        data: bytes | list[bytes],
        args: Mapping[str, Any],
        overwrite: bool,
        if_match: str | None,
    ) -> str | None:
        mode: Any = {"e_tag": fallback.quoted(if_match)} if if_match else ("overwrite" if overwrite else "create")

        async def send() -> str | None:
            try:
                result = await obstore.put_async(
                    await self._store(bucket), key, data, attributes=attributes_for(args), mode=mode,
                    use_multipart=False,
                )  # fmt: skip
            except OBSTORE_ERRORS as exc:
                if self.checksums and _refuses_checksums(exc):
                    raise _ChecksumsRefused() from exc
                raise await self._refine(from_obstore(exc, "write", bucket=bucket, key=key), bucket) from exc
            return strip_etag(result.get("e_tag"))

        return await self._checked(send)

    async def _checked(self, send: Any) -> Any:
        """Send a write; if the endpoint refuses checksum headers, say so once and send without."""
        try:
            return await send()
        except _ChecksumsRefused:
            self._drop_checksums()
            return await send()

    def _drop_checksums(self) -> None:
        self.checksums = False
        self._stores.clear()
        self.checksum_note = (
            f"the S3 endpoint {self.endpoint.endpoint_url or 'of AWS'} refused checksum headers: writes go "
            "without a checksum the store checks; run verify --deep to compare the bytes"
        )

    @staticmethod
    def _precondition(error: StoreError, bucket: str, key: str, if_match: str | None) -> StoreError:
        """A failed If-Match (412, or 404 when the object is gone) is someone else's write."""
        if if_match is None or isinstance(error, BucketNotFound):
            return error
        return PreconditionFailed(
            f"write object {key!r} in bucket {bucket}: it is no longer the version with ETag {if_match} "
            "(written by someone else since)",
            bucket=bucket,
            key=key,
        )

    # multipart uploads (MultipartUploads) -------------------------------------------------

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
    ) -> str:
        self._check_key(bucket, key)
        user = _user_metadata(metadata)
        args = fallback.write_args(
            content_type or DEFAULT_CONTENT_TYPE, cache_control, user, content_disposition=content_disposition,
            content_encoding=content_encoding, content_language=content_language, copied_from=copied_from,
        )  # fmt: skip
        try:
            return await fallback.create_upload(self._client, bucket, key, args, checksums=self.checksums)
        except StoreError as error:
            if not (self.checksums and _refuses_checksums(error.__cause__)):
                raise await self._refine(error, bucket) from None
            self._drop_checksums()
            return await fallback.create_upload(self._client, bucket, key, args, checksums=False)

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, data: bytes | bytearray, *, crc64nvme: str
    ) -> UploadedPart:
        crc = crc64nvme if self.checksums else None
        etag = await fallback.upload_part(self._client, bucket, key, upload_id, number, data, crc64nvme=crc)
        return UploadedPart(number, etag, crc64nvme)

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
    ) -> ObjectInfo:
        try:
            response = await fallback.complete_upload(
                self._client, bucket, key, upload_id, parts, crc64nvme=crc64nvme if self.checksums else None,
                size=size, overwrite=overwrite, if_match=if_match,
            )  # fmt: skip
        except (AlreadyExists, NotFound) as error:
            if isinstance(error, NotFound) and if_match is None:
                raise
            raise self._precondition(error, bucket, key, if_match) from None
        self._known_buckets.add(bucket)
        stored = response.get("ChecksumCRC64NVME")
        return ObjectInfo(key=key, size=size, etag=strip_etag(response.get("ETag")), crc64nvme=stored or None)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await fallback.abort_upload(self._client, bucket, key, upload_id)

    async def delete(self, bucket: str, key: str) -> None:
        self._check_key(bucket, key)
        try:
            if obstore_can_hold(key):
                try:
                    await obstore.delete_async(await self._store(bucket), key)
                except OBSTORE_ERRORS as exc:
                    raise from_obstore(exc, "delete", bucket=bucket, key=key) from exc
            else:
                await self._boto("delete", bucket, key, "delete_object", Bucket=bucket, Key=key)
        except NotFound as error:
            if isinstance(error, BucketNotFound):
                raise
            refined = await self._refine(error, bucket)
            if refined is not error:
                raise refined from None

    # URLs -------------------------------------------------------------------------------------

    def public_url(self, bucket: str, key: str) -> str:
        """Virtual-hosted on AWS, path-style on a custom endpoint, or under `public_base_url`."""
        return s3_public_url(self.endpoint, bucket, key)

    async def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        """A SigV4 presigned GET (boto3 signs any key, including those obstore cannot hold).

        `.`/`..` segments are sent as `%2E`, which S3 decodes back; checked on moto only, which
        does not verify signatures.
        """
        if not 1 <= expires_in <= 7 * 24 * 3600:
            raise UsageError(f"a signed URL lasts from 1 second to 7 days; {expires_in} seconds was asked")
        self._check_key(bucket, key)
        url = await self._boto(
            "sign",
            bucket,
            key,
            "generate_presigned_url",
            ClientMethod="get_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=expires_in,
        )
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/".join(keep_dots(s) for s in parts.path.split("/"))))


@register("s3")
def _from_config(
    endpoint: S3Endpoint,
    *,
    session: boto3.session.Session | None = None,
    client: Any = None,
    transfer: TransferConfig | None = None,
    **_: Any,
) -> S3Store:
    """The plan's `[transfer]` settings reach the store here: sizes, part concurrency, timeouts."""
    settings = transfer or TransferConfig()
    return S3Store(
        endpoint,
        session=session,
        client=client,
        multipart_threshold=settings.multipart_threshold,
        part_size=settings.part_size,
        part_concurrency=settings.part_concurrency,
        max_connections=settings.concurrency,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        request_timeout=settings.request_timeout,
        checksums=endpoint.checksums != "off",
    )

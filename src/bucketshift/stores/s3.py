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

from bucketshift.config import S3Endpoint
from bucketshift.errors import (
    AccessDenied,
    BucketNotFound,
    BucketshiftError,
    ConfigError,
    NotFound,
    StoreError,
    TransientError,
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
    SHA256_METADATA,
    Body,
    BucketInfo,
    ListPage,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Sha256Counter,
    aiter_body,
    strip_etag,
)
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


class _Source:
    """The caller's body as counted, hashed chunks.

    It remembers the caller's own failure, so that one is re-raised as it is and never
    mistaken for a store error; a body longer or shorter than the announced size fails
    before the write completes, so a truncated source never becomes an object.
    """

    def __init__(self, body: Body, size: int | None, bucket: str, key: str) -> None:
        self.counter = Sha256Counter()
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
                self.counter.update(chunk)
                if self._size is not None and self.counter.size > self._size:
                    raise self._wrong_size(f"more than {self._size}")
                yield chunk
            if self._size is not None and self.counter.size != self._size:
                raise self._wrong_size(str(self.counter.size))
        except BaseException as exc:
            self.error = exc
            raise


async def _prepend(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    while first:
        yield first.pop(0)
    async for chunk in rest:
        yield chunk


class S3Store(ObjectStore):
    """An S3 endpoint: obstore for object bytes, boto3 for listing, buckets and presigning.

    `multipart_threshold`: bodies larger than this are sent as multipart uploads of
    `part_size` parts with `part_concurrency` parts in flight, so one upload holds about
    `part_size * (part_concurrency + 1)` bytes.  `max_connections` sizes both HTTP pools.
    `timeout` bounds one request including its body (a large GET streams within it);
    `store_checksums` asks S3 to keep a SHA-256 checksum of single-part writes (default: on for
    AWS, off for custom endpoints, where support varies).  `session` and `client` inject a boto3
    session or S3 client (tests); otherwise they are built from the endpoint: explicit keys, or
    the AWS default chain (environment, profile, SSO, instance or task role).
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
        timeout: float = 24 * 3600.0,
        connect_timeout: float = 10.0,
        store_checksums: bool | None = None,
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
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.store_checksums = endpoint.endpoint_url is None if store_checksums is None else store_checksums
        self._custom = endpoint.endpoint_url is not None
        self._session = session if session is not None else self._new_session()
        self._own_client = client is None
        self._client = client if client is not None else self._new_client()
        self._client.meta.events.register("after-call.s3", fill_error_code, unique_id="bucketshift-error-code")
        self._stores: dict[str, ObstoreS3] = {}
        self._credentials: Any = None
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
            read_timeout=300,
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
        store = self._stores.get(bucket)
        if store is None:
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
                    "timeout": timedelta(seconds=self.timeout),
                    "connect_timeout": timedelta(seconds=self.connect_timeout),
                    "pool_max_idle_per_host": str(self.max_connections),
                },
                retry_config={"max_retries": 0},
                **({"checksum_algorithm": "SHA256"} if self.store_checksums else {}),
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

    async def _bucket_exists(self, bucket: str) -> bool:
        """HeadBucket: 403 (someone else's) and 301 (another region) mean that it exists."""
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
            if not await self._bucket_exists(bucket):
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
            if await self._bucket_exists(bucket):
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
        infos = [
            ObjectInfo(
                key=entry["Key"],
                size=int(entry.get("Size") or 0),
                etag=strip_etag(entry.get("ETag")),
                last_modified=entry.get("LastModified"),
            )
            for entry in page.get("Contents", ())
        ]
        more = page.get("IsTruncated") and page.get("NextContinuationToken")
        return ListPage(infos, page["NextContinuationToken"] if more else None)

    async def head(self, bucket: str, key: str, *, checksum: bool = False) -> ObjectInfo:
        """The object's description; with `checksum`, also its stored SHA-256 when S3 has a full one.

        The checksum needs HeadObject with ChecksumMode, which obstore cannot send, so it costs a
        boto3 request (about 4x the CPU); the plain head stays on obstore with `sha256` None.
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

    @asynccontextmanager
    async def open(self, bucket: str, key: str) -> AsyncIterator[ObjectReader]:
        self._check_key(bucket, key)
        if not obstore_can_hold(key):
            try:
                reader = await fallback.open_reader(self._client, bucket, key, chunk_size=_READ_CHUNK)
            except NotFound as error:
                raise await self._refine(error, bucket) from None
            try:
                yield reader
            finally:
                await reader.aclose()
            return
        store = await self._store(bucket)
        try:
            result = await obstore.get_async(store, key)
        except OBSTORE_ERRORS as exc:
            raise await self._refine(from_obstore(exc, "read", bucket=bucket, key=key), bucket) from exc
        yield ObstoreReader(info_from_result(key, result.meta, result.attributes), result, bucket, _READ_CHUNK)

    @staticmethod
    def _check_key(bucket: str, key: str) -> None:
        if not key:
            raise StoreError(f"bucket {bucket}: an object key cannot be empty", bucket=bucket, key=key)

    def _part_size(self, size: int | None) -> int:
        if size is None:
            return self.part_size
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
    ) -> ObjectInfo:
        """Stream the body to S3; one PUT up to `multipart_threshold`, a multipart upload above.

        Up to the threshold the body is gathered first (a single PUT needs it whole), unless
        `size` already says it is larger.  obstore writes it; boto3 does when obstore cannot hold
        the key or metadata name, or for a large create-only write (obstore would buffer it all).
        """
        self._check_key(bucket, key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        user_metadata = {name.lower(): value for name, value in (metadata or {}).items()}
        via_obstore = obstore_can_hold(key) and not metadata_collides(user_metadata)
        source = _Source(body, size, bucket, key)
        chunks = source.chunks()
        buffered: list[bytes] = []
        whole = False
        if size is None or size <= self.multipart_threshold:
            gathered = 0
            whole = True
            async for chunk in chunks:
                buffered.append(chunk)
                gathered += len(chunk)
                if gathered > self.multipart_threshold:
                    whole = False
                    break
        user_metadata.pop(SHA256_METADATA, None)
        common = {"content_type": content_type, "cache_control": cache_control, "metadata": user_metadata}
        try:
            if whole:
                # The whole body is here before it is sent: its sha256 can travel with it, so a
                # later verify reads it back from HEAD instead of downloading the object.
                common["metadata"] = {**user_metadata, SHA256_METADATA: source.counter.hexdigest()}
                data = b"".join(buffered)
                buffered.clear()
                if via_obstore:
                    etag = await self._obstore_put(bucket, key, data, overwrite=overwrite, **common)
                else:
                    digest = source.counter.hexdigest() if self.store_checksums else None
                    etag = await fallback.put_single(
                        self._client, bucket, key, data, create_only=not overwrite, sha256_hex=digest, **common
                    )
            elif via_obstore and overwrite:
                etag = await self._obstore_multipart(bucket, key, _prepend(buffered, chunks), size, **common)
            else:
                etag = await fallback.put_multipart(
                    self._client,
                    bucket,
                    key,
                    _prepend(buffered, chunks),
                    part_size=self._part_size(size),
                    concurrency=self.part_concurrency,
                    create_only=not overwrite,
                    **common,
                )
        except BaseException as exc:
            if source.error is not None and not isinstance(exc, asyncio.CancelledError):
                raise source.error from None
            if isinstance(exc, BucketshiftError):
                raise
            if isinstance(exc, OBSTORE_ERRORS):
                raise await self._refine(from_obstore(exc, "write", bucket=bucket, key=key), bucket) from exc
            raise
        self._known_buckets.add(bucket)
        return ObjectInfo(
            key=key,
            size=source.counter.size,
            etag=etag,
            content_type=content_type,
            cache_control=cache_control,
            metadata=user_metadata,
            sha256=source.counter.hexdigest(),
        )

    async def _obstore_put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        overwrite: bool,
        content_type: str,
        cache_control: str | None,
        metadata: Mapping[str, str],
    ) -> str | None:
        result = await obstore.put_async(
            await self._store(bucket),
            key,
            data,
            attributes=attributes_for(content_type, cache_control, metadata),
            mode="overwrite" if overwrite else "create",
            use_multipart=False,
        )
        return strip_etag(result.get("e_tag"))

    async def _obstore_multipart(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        size: int | None,
        *,
        content_type: str,
        cache_control: str | None,
        metadata: Mapping[str, str],
    ) -> str | None:
        """obstore aborts its upload on a failure, but not when cancelled, and its abort can itself
        fail (a server busy with the parts still in flight): either way, abort what is left here."""
        store = await self._store(bucket)
        try:
            result = await obstore.put_async(
                store,
                key,
                chunks,
                attributes=attributes_for(content_type, cache_control, metadata),
                use_multipart=True,
                chunk_size=self._part_size(size),
                max_concurrency=self.part_concurrency,
            )
        except BaseException:
            await asyncio.shield(self._abort_uploads(bucket, key))
            raise
        return strip_etag(result.get("e_tag"))

    async def _abort_uploads(self, bucket: str, key: str) -> None:
        """Abort the unfinished uploads of exactly this key (the engine writes a key from one worker).

        Tried again when a request fails: the server may be busy with the parts that were in flight.
        """
        for attempt in range(fallback.ABORT_ATTEMPTS):
            try:
                listing = await self._boto(
                    "list uploads of", bucket, key, "list_multipart_uploads", Bucket=bucket, Prefix=key
                )
                for upload in listing.get("Uploads", ()):
                    if upload.get("Key") == key:
                        await self._boto(
                            "abort upload of",
                            bucket,
                            key,
                            "abort_multipart_upload",
                            Bucket=bucket,
                            Key=key,
                            UploadId=upload["UploadId"],
                        )
                return
            except BucketshiftError:
                await asyncio.sleep(0.25 * (attempt + 1))

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
    multipart_threshold: int = 16 * MiB,
    part_size: int = 8 * MiB,
    max_connections: int = 64,
    **_: Any,
) -> S3Store:
    return S3Store(
        endpoint,
        session=session,
        client=client,
        multipart_threshold=multipart_threshold,
        part_size=part_size,
        max_connections=max_connections,
    )

"""What only the S3 backend has to get right: addressing, the bucket-region quirk, the obstore and
boto3 paths meeting at every key, multipart clean-up, credentials and error mapping.

moto serves the real requests; a small scripted HTTP server stands in where moto cannot fail on
demand (503 SlowDown, namespaced error bodies, a body cut short, the credentials sent).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from bucketshift.config import S3Endpoint, TransferConfig
from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    ChecksumMismatch,
    ConfigError,
    InvalidKey,
    NotFound,
    PreconditionFailed,
    Throttled,
    TooLarge,
    TransientError,
)
from bucketshift.stores._s3_errors import WrongRegion
from bucketshift.stores.base import SHA256_METADATA
from bucketshift.stores.registry import open_store
from bucketshift.stores.s3 import S3Store, obstore_can_hold
from bucketshift_sandbox.scripted_http import Reply, ScriptedServer, run_scripted_server
from bucketshift_sandbox.servers import MotoServer, run_s3_fault_proxy

MiB = 1024 * 1024
ODD_KEYS = ["x/", "a//b", "a/./b", "a/../b", "/lead", "tab\there", "end/.", "..", "dir//"]
_names = count()


def s3(moto: MotoServer | None = None, **changes: Any) -> S3Endpoint:
    fields: dict[str, Any] = {"type": "s3", "region": "us-east-1"}
    if moto is not None:
        fields["endpoint_url"] = moto.endpoint_url
    fields.update(changes)
    return S3Endpoint(**fields)


@pytest.fixture
async def store(moto: MotoServer) -> AsyncIterator[S3Store]:
    """A store with a 1 MiB threshold and 5 MiB parts, so multipart paths run on small bodies."""
    async with S3Store(s3(moto), multipart_threshold=MiB, part_size=5 * MiB, checksums=True) as opened:
        yield opened  # type: ignore[misc]


@pytest.fixture
async def bucket(store: S3Store) -> str:
    name = f"s3-backend-{next(_names)}"
    await store.create_bucket(name)
    return name


def raw_client(moto: MotoServer, region: str = "us-east-1") -> Any:
    return boto3.client("s3", endpoint_url=moto.endpoint_url, region_name=region)


def open_uploads(moto: MotoServer, bucket: str) -> list[str]:
    return [u["Key"] for u in raw_client(moto).list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


async def read_all(store: S3Store, bucket: str, key: str) -> bytes:
    async with store.open(bucket, key) as reader:
        return b"".join([chunk async for chunk in reader])


async def chunks(total: int, chunk: int = MiB, fail: BaseException | None = None) -> AsyncIterator[bytes]:
    for index in range(total // chunk):
        yield bytes([index % 251]) * chunk
    if fail is not None:
        raise fail


def digest_of(total: int, chunk: int = MiB) -> str:
    hashed = hashlib.sha256()
    for index in range(total // chunk):
        hashed.update(bytes([index % 251]) * chunk)
    return hashed.hexdigest()


# addressing and URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/b.png", True),
        ("a b/ü#?%+.png", True),
        (".hidden/..x/a..b", True),
        *((key, False) for key in ODD_KEYS),
        ("bell\x07", False),
        ("del\x7f", False),
    ],
)
def test_obstore_can_hold_only_keys_it_sends_unchanged(key: str, expected: bool) -> None:
    assert obstore_can_hold(key) is expected


@pytest.mark.parametrize(
    ("endpoint", "bucket", "key", "url"),
    [
        (
            s3(region="eu-west-1"),
            "media",
            "a b/ü#?+%~.png",
            "https://media.s3.eu-west-1.amazonaws.com/a%20b/%C3%BC%23%3F%2B%25~.png",
        ),
        (s3(region="us-east-1"), "media", "k", "https://media.s3.us-east-1.amazonaws.com/k"),
        (s3(region="eu-west-1"), "my.media", "k", "https://s3.eu-west-1.amazonaws.com/my.media/k"),
        (s3(region="eu-west-1", addressing_style="path"), "media", "k", "https://s3.eu-west-1.amazonaws.com/media/k"),
        (s3(region="cn-north-1"), "media", "k", "https://media.s3.cn-north-1.amazonaws.com.cn/k"),
        (s3(endpoint_url="http://127.0.0.1:9000"), "media", "a/b c", "http://127.0.0.1:9000/media/a/b%20c"),
        (
            s3(endpoint_url="https://abc.supabase.co/storage/v1/s3"),
            "media",
            "k",
            "https://abc.supabase.co/storage/v1/s3/media/k",
        ),
        (
            s3(endpoint_url="https://minio.example.com", addressing_style="virtual"),
            "media",
            "k",
            "https://media.minio.example.com/k",
        ),
        (
            s3(region="eu-west-1", public_base_url="https://cdn.example.com"),
            "media",
            "k",
            "https://cdn.example.com/media/k",
        ),
        (
            s3(region="eu-west-1"),
            "media",
            "a/./b/../c/.",
            "https://media.s3.eu-west-1.amazonaws.com/a/%2E/b/%2E%2E/c/%2E",
        ),
        (s3(region="eu-west-1"), "media", "x//y/", "https://media.s3.eu-west-1.amazonaws.com/x//y/"),
    ],
)
def test_public_url_forms(endpoint: S3Endpoint, bucket: str, key: str, url: str) -> None:
    assert S3Store(endpoint).public_url(bucket, key) == url


async def test_public_and_signed_urls_fetch_every_key(store: S3Store) -> None:
    """Anonymous GETs of public_url work on a public bucket; signed URLs work for every key."""
    bucket = f"s3-public-{next(_names)}"
    await store.create_bucket(bucket, public=True)
    keys = ["a b/ü#?+%~&=.png", '😀/[x]{y}^`|"<>', *ODD_KEYS]
    async with httpx.AsyncClient(timeout=30) as http:
        for key in keys:
            body = f"body of {key!r}".encode()
            await store.put(bucket, key, body)
            public = await http.get(store.public_url(bucket, key))
            signed = await http.get(await store.signed_url(bucket, key, 300))
            assert (public.status_code, public.content) == (200, body), key
            assert (signed.status_code, signed.content) == (200, body), key


# buckets ----------------------------------------------------------------------------------------


async def test_create_bucket_sends_location_constraint_only_outside_us_east_1(moto: MotoServer) -> None:
    sent: list[bytes] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.body or b"")

    for region in ("us-east-1", "eu-west-1"):
        session = boto3.session.Session()
        session.events.register("before-send.s3.CreateBucket", capture)
        async with S3Store(s3(moto, region=region), session=session) as store:
            name = f"s3-region-{region}-{next(_names)}"
            await store.create_bucket(name)
            with pytest.raises(AlreadyExists):
                await store.create_bucket(name)
        location = raw_client(moto).get_bucket_location(Bucket=name)["LocationConstraint"]
        assert location == (None if region == "us-east-1" else region)
    assert len(sent) == 3, "us-east-1 must look an existing bucket up instead of re-creating it"
    assert b"LocationConstraint" not in sent[0]
    assert all(b"<LocationConstraint>eu-west-1</LocationConstraint>" in body for body in sent[1:])


async def test_bucket_lifecycle_errors(store: S3Store, bucket: str) -> None:
    listed = await store.list_buckets()
    assert bucket in {b.name for b in listed}
    assert all(b.public is None for b in listed)
    await store.put(bucket, "k", b"k")
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket(bucket)
    await store.delete(bucket, "k")
    await store.delete_bucket(bucket)
    with pytest.raises(BucketNotFound):
        await store.delete_bucket(bucket)


async def test_missing_bucket_is_bucket_not_found_everywhere(store: S3Store) -> None:
    missing = "s3-backend-no-such-bucket"
    with pytest.raises(BucketNotFound):
        await store.head(missing, "k")
    with pytest.raises(BucketNotFound):
        await store.head(missing, "x/")
    with pytest.raises(BucketNotFound):
        async with store.open(missing, "k"):
            pass
    with pytest.raises(BucketNotFound):
        await store.put(missing, "k", b"x")
    with pytest.raises(BucketNotFound):
        await store.put(missing, "a//b", b"x")
    with pytest.raises(BucketNotFound):
        await store.delete(missing, "k")
    with pytest.raises(BucketNotFound):
        [info async for info in store.list(missing)]


# objects ----------------------------------------------------------------------------------------


async def test_list_gives_full_keys_unquoted_etags_and_a_raw_prefix(store: S3Store, bucket: str) -> None:
    for key in ("p/a.txt", "p/ab", "pq", "q/p", "p//x", "p/"):
        await store.put(bucket, key, key.encode())
    listed = {info.key: info async for info in store.list(bucket, "p")}
    assert sorted(listed) == ["p/", "p//x", "p/a.txt", "p/ab", "pq"]
    head = await store.head(bucket, "p/a.txt")
    info = listed["p/a.txt"]
    assert info.size == len(b"p/a.txt")
    assert info.etag == head.etag == hashlib.md5(b"p/a.txt").hexdigest()  # noqa: S324 - S3's ETag
    assert info.last_modified is not None
    assert info.last_modified.tzinfo is not None
    assert dict(info.metadata) == {}


@pytest.mark.parametrize("key", ["plain/key.png", *ODD_KEYS])
async def test_every_key_round_trips_exactly_with_its_attributes(store: S3Store, bucket: str, key: str) -> None:
    body = f"bytes of {key!r}".encode()
    written = await store.put(
        bucket,
        key,
        body,
        content_type="image/png",
        cache_control="public, max-age=60",
        metadata={"Owner": "u-1", "x-amz-meta-odd": "kept"},
    )
    assert (written.size, written.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert [info.key async for info in store.list(bucket, key)] == [key]
    head = await store.head(bucket, key)
    assert (head.key, head.size, head.content_type, head.cache_control) == (
        key,
        len(body),
        "image/png",
        "public, max-age=60",
    )
    assert dict(head.metadata) == {"owner": "u-1", "x-amz-meta-odd": "kept"}
    assert head.etag == written.etag
    async with store.open(bucket, key) as reader:
        assert reader.info.content_type == "image/png"
        assert dict(reader.info.metadata) == {"owner": "u-1", "x-amz-meta-odd": "kept"}
        assert b"".join([chunk async for chunk in reader]) == body
    await store.delete(bucket, key)
    with pytest.raises(NotFound):
        await store.head(bucket, key)
    await store.delete(bucket, key)


async def test_trailing_slash_and_plain_key_stay_distinct(store: S3Store, bucket: str) -> None:
    await store.put(bucket, "x", b"file")
    await store.put(bucket, "x/", b"marker")
    assert await read_all(store, bucket, "x") == b"file"
    assert await read_all(store, bucket, "x/") == b"marker"
    assert sorted([info.key async for info in store.list(bucket, "x")]) == ["x", "x/"]


async def test_metadata_named_like_a_header_takes_the_boto3_path(store: S3Store, bucket: str) -> None:
    await store.put(bucket, "m", b"m", content_type="text/plain", metadata={"Content-Type": "not/this"})
    head = await store.head(bucket, "m")
    assert head.content_type == "text/plain"
    assert dict(head.metadata) == {"content-type": "not/this"}


async def test_create_only_on_every_write_path(store: S3Store, bucket: str, moto: MotoServer) -> None:
    for key in ("small", "odd//small"):
        await store.put(bucket, key, b"one", overwrite=False)
        with pytest.raises(AlreadyExists):
            await store.put(bucket, key, b"two", overwrite=False)
        assert await read_all(store, bucket, key) == b"one"
    big = 6 * MiB
    created = await store.put(bucket, "large", chunks(big), overwrite=False)
    assert created.sha256 == digest_of(big)
    with pytest.raises(AlreadyExists):
        await store.put(bucket, "large", chunks(big), size=big, overwrite=False)
    assert (await store.head(bucket, "large")).size == big
    assert open_uploads(moto, bucket) == []


@pytest.mark.parametrize("key", ["big/obstore.bin", "big/odd//boto3.bin"])
async def test_multipart_streams_and_reads_back(store: S3Store, bucket: str, key: str) -> None:
    total = 11 * MiB
    written = await store.put(bucket, key, chunks(total), content_type="application/x-test")
    assert (written.size, written.sha256) == (total, digest_of(total))
    assert str(written.etag).endswith("-3"), "expected three parts of at most 5 MiB"
    head = await store.head(bucket, key)
    assert (head.size, head.content_type) == (total, "application/x-test")
    hashed, received = hashlib.sha256(), 0
    async with store.open(bucket, key) as reader:
        async for chunk in reader:
            hashed.update(chunk)
            received += len(chunk)
    assert (received, hashed.hexdigest()) == (total, digest_of(total))


class SourceFailed(Exception):
    """The caller's own body failing part-way."""


@pytest.mark.parametrize(
    ("key", "overwrite"), [("abort/obstore.bin", True), ("abort/create-only.bin", False), ("abort//odd.bin", True)]
)
async def test_failed_multipart_upload_is_aborted(
    store: S3Store, bucket: str, moto: MotoServer, key: str, overwrite: bool
) -> None:
    failure = SourceFailed("source went away")
    with pytest.raises(SourceFailed) as raised:
        await store.put(bucket, key, chunks(11 * MiB, fail=failure), overwrite=overwrite)
    assert raised.value is failure, "the caller's own exception must come back unchanged"
    assert open_uploads(moto, bucket) == []
    with pytest.raises(NotFound):
        await store.head(bucket, key)


async def test_cancelled_multipart_upload_is_aborted(store: S3Store, bucket: str, moto: MotoServer) -> None:
    sent = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for index in range(40):
            yield bytes([index]) * MiB
            if index == 11:
                sent.set()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(store.put(bucket, "cancel/me.bin", slow()))
    await asyncio.wait_for(sent.wait(), 30)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert open_uploads(moto, bucket) == []


async def test_body_not_matching_its_announced_size_is_never_written(store: S3Store, bucket: str) -> None:
    with pytest.raises(TransientError, match="announced"):
        await store.put(bucket, "short", b"12345", size=10)
    with pytest.raises(TransientError, match="announced"):
        await store.put(bucket, "long", chunks(7 * MiB), size=6 * MiB)
    for key in ("short", "long"):
        with pytest.raises(NotFound):
            await store.head(bucket, key)


@pytest.mark.parametrize("key", ["sum/x", "sum/x/"])
async def test_every_write_carries_a_checksum_the_store_keeps(store: S3Store, bucket: str, key: str) -> None:
    """Single PUTs (obstore and boto3 paths) store a full SHA-256; a multipart upload a full-object
    CRC64NVME, so verify can read back what S3 itself checked."""
    written = await store.put(bucket, key, b"checked bytes")
    stored = await store.head(bucket, key, checksum=True)
    assert stored.sha256 == written.sha256 == hashlib.sha256(b"checked bytes").hexdigest()
    plain = await store.head(bucket, key)
    assert plain.sha256 is None, "a plain HEAD does not say what the store checked"
    assert plain.copied_from is not None
    assert plain.copied_from.sha256 == written.sha256
    assert SHA256_METADATA not in plain.metadata
    multi = await store.put(bucket, key + "multi", chunks(6 * MiB))
    stored = await store.head(bucket, key + "multi", checksum=True)
    assert stored.sha256 is None, "a multipart object has no full-object SHA-256"
    assert stored.crc64nvme == multi.crc64nvme is not None


async def test_a_body_corrupted_in_transit_is_refused_by_the_store(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    """A flipped byte on the way: S3 (here moto_s3) refuses it by its checksum, on every write path;
    without checksums the same corruption is stored silently (the twin)."""
    with run_s3_fault_proxy(moto.endpoint_url, slowdown_rate=0.0, corrupt_rate=1.0, workdir=tmp_path) as proxy:
        async with S3Store(s3(endpoint_url=proxy.endpoint_url), multipart_threshold=MiB, part_size=5 * MiB) as via:
            for key, body in (("bad/single", b"x" * 1000), ("bad/odd//single", b"y" * 1000)):
                with pytest.raises(ChecksumMismatch):
                    await via.put(bucket, key, body)
            with pytest.raises(ChecksumMismatch):
                await via.put(bucket, "bad/multi", chunks(6 * MiB))
        refused = moto.checks()["rejected_bodies"]
        assert refused >= 3
        async with S3Store(
            s3(endpoint_url=proxy.endpoint_url), multipart_threshold=MiB, part_size=5 * MiB, checksums=False
        ) as blind:
            await blind.put(bucket, "bad/unchecked", b"z" * 1000)
    async with S3Store(s3(moto)) as direct:
        assert await read_all(direct, bucket, "bad/unchecked") != b"z" * 1000
        for key in ("bad/single", "bad/odd//single", "bad/multi"):
            with pytest.raises(NotFound):
                await direct.head(bucket, key)
    assert open_uploads(moto, bucket) == []


@pytest.mark.parametrize("size", [100, 6 * MiB])
async def test_if_match_replaces_only_the_version_it_names(store: S3Store, bucket: str, size: int) -> None:
    first = await store.put(bucket, f"cond/{size}", b"a" * 100)
    body = b"b" * size
    with pytest.raises(PreconditionFailed):
        await store.put(bucket, f"cond/{size}", body, if_match="0" * 32)
    assert await read_all(store, bucket, f"cond/{size}") == b"a" * 100
    assert first.etag is not None
    await store.put(bucket, f"cond/{size}", body, if_match=first.etag)
    assert await read_all(store, bucket, f"cond/{size}") == body
    with pytest.raises(PreconditionFailed):
        await store.put(bucket, f"cond/gone-{size}", body, if_match=first.etag)


async def test_ranged_open_reads_from_the_offset_and_knows_the_whole_size(store: S3Store, bucket: str) -> None:
    body = bytes(range(256)) * 40
    for key in ("range/plain", "range/odd//key"):
        await store.put(bucket, key, body)
        async with store.open(bucket, key, offset=1000) as reader:
            assert reader.info.size == len(body)
            assert b"".join([chunk async for chunk in reader]) == body[1000:]


async def test_the_plan_transfer_settings_reach_the_store(moto: MotoServer) -> None:
    settings = TransferConfig(
        multipart_threshold=32 * MiB, part_size=16 * MiB, part_concurrency=3, connect_timeout=4, read_timeout=7,
        request_timeout=90, concurrency=12,
    )  # fmt: skip
    store = open_store(s3(moto), transfer=settings)
    assert isinstance(store, S3Store)
    assert (store.multipart_threshold, store.part_size, store.part_concurrency) == (32 * MiB, 16 * MiB, 3)
    assert (store.connect_timeout, store.read_timeout, store.request_timeout) == (4, 7, 90)
    assert store.max_connections == 12
    assert store._client.meta.config.read_timeout == 7
    await store.aclose()
    default = open_store(s3(moto))
    assert isinstance(default, S3Store)
    assert (default.multipart_threshold, default.part_size) == (16 * MiB, 8 * MiB)
    await default.aclose()


async def test_an_endpoint_refusing_checksums_is_said_and_written_without(fake: FakeS3) -> None:
    def script(method: str, path: str) -> Reply:
        if any(name.startswith("x-amz-checksum-") for name in fake.seen[-1][2]):
            return Reply(400, b"<Error><Code>InvalidRequest</Code><Message>x-amz-checksum-sha256 is not supported"
                              b"</Message></Error>")  # fmt: skip
        return Reply(headers={"ETag": '"e"'})

    fake.script = script
    async with S3Store(s3(endpoint_url=fake.url, access_key_id="k", secret_access_key="s")) as store:
        assert store.checksum_note is None
        written = await store.put("bucket-one", "k", b"body")
        assert written.etag == "e"
        assert store.checksum_note is not None
        assert "refused checksum headers" in store.checksum_note
        assert not store.writes_checksums
    sent = [headers for method, _, headers in fake.seen if method == "PUT"]
    assert any("x-amz-checksum-sha256" in h for h in sent)
    assert "x-amz-checksum-sha256" not in sent[-1]


# a scripted S3 stand-in -------------------------------------------------------------------------


FakeS3 = ScriptedServer


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeS3]:
    with run_scripted_server(lambda method, path: Reply(headers={"ETag": '"e"'})) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeS3) -> FakeS3:
    """The shared scripted server, back to answering 200 and with nothing recorded."""
    fake_server.reset()
    return fake_server


SECRET = "SECRET-never-in-a-message"


def error_xml(code: str, *, namespaced: bool = False) -> bytes:
    xmlns = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"' if namespaced else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error{xmlns}><Code>{code}</Code><Message>m</Message></Error>'.encode()
    )


def fake_store(fake: FakeS3, **changes: Any) -> S3Store:
    fields = {"endpoint_url": fake.url, "access_key_id": "AKIAFAKE", "secret_access_key": SECRET, **changes}
    return S3Store(s3(None, **fields))


@pytest.fixture(scope="module")
async def failing(fake_server: FakeS3) -> AsyncIterator[S3Store]:
    """One store for the error matrix (building a store loads botocore's models: 0.1-0.4 s)."""
    async with fake_store(fake_server) as store:
        yield store  # type: ignore[misc]


ERROR_CASES = [
    (Reply(503, error_xml("SlowDown")), Throttled),
    (Reply(503, error_xml("SlowDown", namespaced=True)), Throttled),
    (Reply(429), Throttled),
    (Reply(500, b"oops"), TransientError),
    (Reply(502), TransientError),
    (Reply(403, error_xml("AccessDenied", namespaced=True)), AccessDenied),
    (Reply(400, error_xml("InvalidKey", namespaced=True)), InvalidKey),
    (Reply(400, error_xml("EntityTooLarge")), TooLarge),
    (Reply(413), TooLarge),
    (Reply(404, error_xml("NoSuchBucket", namespaced=True)), BucketNotFound),
    (Reply(409, error_xml("BucketNotEmpty", namespaced=True)), BucketNotEmpty),
    (Reply(412, error_xml("PreconditionFailed")), AlreadyExists),
    (Reply(301, error_xml("PermanentRedirect"), {"x-amz-bucket-region": "eu-west-1"}), WrongRegion),
    (Reply(400, error_xml("AuthorizationHeaderMalformed", namespaced=True)), WrongRegion),
]


@pytest.mark.parametrize(("reply", "expected"), ERROR_CASES)
@pytest.mark.parametrize("path", ["obstore", "boto3"])
async def test_errors_map_by_code_and_status(
    fake: FakeS3, failing: S3Store, reply: Reply, expected: type, path: str
) -> None:
    """The same answer maps to the same error whichever SDK met it, namespaced body or not."""
    fake.script = lambda method, _: reply
    key = "k" if path == "obstore" else "k//"
    with pytest.raises(expected) as raised:
        await failing.put("b", key, b"x")
    assert SECRET not in str(raised.value)
    assert raised.value.bucket == "b"


@pytest.mark.parametrize(("reply", "expected"), ERROR_CASES[:10])
async def test_bucket_and_listing_errors_map_too(fake: FakeS3, failing: S3Store, reply: Reply, expected: type) -> None:
    fake.script = lambda method, _: reply
    with pytest.raises(expected):
        [info async for info in failing.list("b")]
    if expected is not BucketNotFound:
        with pytest.raises(expected):
            await failing.delete_bucket("b")


async def test_namespaced_bucket_not_empty_from_delete_bucket(fake: FakeS3, failing: S3Store) -> None:
    fake.script = lambda method, _: Reply(409, error_xml("BucketNotEmpty", namespaced=True))
    with pytest.raises(BucketNotEmpty):
        await failing.delete_bucket("b")


async def test_head_404_without_body_asks_whether_the_bucket_exists(fake: FakeS3) -> None:
    fake.script = lambda method, path: Reply(200) if path == "/b" else Reply(404)
    async with fake_store(fake) as store:
        with pytest.raises(NotFound) as raised:
            await store.head("b", "k")
        assert type(raised.value) is NotFound
    fake.script = lambda method, path: Reply(404)
    async with fake_store(fake) as store:
        with pytest.raises(BucketNotFound):
            await store.head("b", "k")


@pytest.mark.parametrize("key", ["k", "x/"])
async def test_truncated_body_is_transient(fake: FakeS3, failing: S3Store, key: str) -> None:
    fake.script = lambda method, _: Reply(200, b"y" * 1000, {"Content-Type": "text/plain"}, truncate_to=400)
    with pytest.raises(TransientError):
        async with failing.open("b", key) as reader:
            [chunk async for chunk in reader]


async def test_connection_refused_is_transient(fake: FakeS3) -> None:
    store = fake_store(fake, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(TransientError):
        await store.head("b", "k")
    with pytest.raises(TransientError):
        [info async for info in store.list("b")]
    await store.aclose()


# credentials ------------------------------------------------------------------------------------


def credential_ids(fake: FakeS3) -> set[str]:
    ids = set()
    for _, _, headers in fake.seen:
        auth = headers.get("authorization", "")
        if "Credential=" in auth:
            ids.add(auth.split("Credential=", 1)[1].split("/", 1)[0])
    return ids


async def exercise(store: S3Store) -> None:
    await store.put("b", "k", b"x")
    [info async for info in store.list("b")]


async def test_credentials_come_from_the_environment_chain(fake: FakeS3, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.script = lambda method, _: Reply(200, b"<ListBucketResult/>" if method == "GET" else b"", {"ETag": '"e"'})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    async with S3Store(s3(None, endpoint_url=fake.url)) as store:
        await exercise(store)
    assert credential_ids(fake) == {"AKIAFROMENV"}
    assert len(fake.seen) == 2


async def test_credentials_come_from_a_profile(fake: FakeS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake.script = lambda method, _: Reply(200, b"<ListBucketResult/>" if method == "GET" else b"", {"ETag": '"e"'})
    credentials = tmp_path / "credentials"
    credentials.write_text("[shift]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    async with S3Store(s3(None, endpoint_url=fake.url, profile="shift")) as store:
        await exercise(store)
    assert credential_ids(fake) == {"AKIAPROFILE"}


async def test_explicit_keys_ignore_a_stray_session_token(fake: FakeS3, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.script = lambda method, _: Reply(200, b"<ListBucketResult/>" if method == "GET" else b"", {"ETag": '"e"'})
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-of-another-account")
    async with fake_store(fake) as store:
        await exercise(store)
    assert credential_ids(fake) == {"AKIAFAKE"}
    assert all("x-amz-security-token" not in headers for _, _, headers in fake.seen)


async def test_no_credentials_is_a_config_error(fake: FakeS3, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    async with S3Store(s3(None, endpoint_url=fake.url)) as store:
        with pytest.raises(ConfigError, match="credentials"):
            await store.put("b", "k", b"x")
        with pytest.raises(ConfigError, match="credentials"):
            [info async for info in store.list("b")]
    with pytest.raises(ConfigError, match="profile"):
        S3Store(s3(None, endpoint_url=fake.url, profile="no-such-profile"))


@pytest.mark.parametrize(("key", "size"), [("hdr/plain", 100), ("hdr//boto3", 100), ("hdr/multi", 6 * MiB)])
async def test_disposition_encoding_and_language_are_kept_on_every_write_path(
    store: S3Store, bucket: str, key: str, size: int
) -> None:
    await store.put(
        bucket, key, chunks(size, chunk=min(size, MiB)) if size > MiB else b"x" * size, size=size,
        content_disposition='attachment; filename="a.bin"', content_encoding="identity", content_language="de",
    )  # fmt: skip
    head = await store.head(bucket, key)
    assert (head.content_disposition, head.content_encoding, head.content_language) == (
        'attachment; filename="a.bin"', "identity", "de",
    )  # fmt: skip

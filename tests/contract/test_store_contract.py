"""The contract every ObjectStore backend must pass, run against each one on a real server."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator

import httpx
import pytest

from bucketshift.errors import AlreadyExists, BucketNotEmpty, NotFound
from bucketshift.stores.base import ObjectStore

SPECIAL = "!*'() &$=@;:+,?-_."
DEEP = "l1/l2/l3/"
FOLDER_SIZE = 2000


def expected_listing() -> dict[str, int]:
    """2,000 objects in one folder three levels down, with files and folders beside them at each level."""
    keys = {f"{DEEP}obj-{i:04d}.png": 10 + i % 7 for i in range(FOLDER_SIZE)}
    keys.update({"root-a.txt": 3, "l1/a.txt": 4, "l1/l2/b.txt": 5, "l1/m/c.txt": 6, "l1/l2/zz/d.txt": 7})
    keys.update({f"{DEEP}m-sub/e-{i}.txt": 8 for i in range(3)})
    keys.update({"l1/l2/l3z/f.txt": 9})
    return keys


async def seed(store: ObjectStore, bucket: str, objects: dict[str, int], concurrency: int = 48) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(key: str, size: int) -> None:
        async with gate:
            await store.put(bucket, key, key.encode()[:1] * size, content_type="image/png")

    await asyncio.gather(*(one(k, v) for k, v in objects.items()))


@pytest.fixture(scope="session")
async def listed_bucket(case) -> str:
    bucket = await case.new_bucket()
    await seed(case.store, bucket, expected_listing())
    return bucket


async def collect(store: ObjectStore, bucket: str, prefix: str = "") -> list[tuple[str, int]]:
    return [(info.key, info.size) async for info in store.list(bucket, prefix)]


async def test_list_is_complete_across_pages_and_folders(case, listed_bucket) -> None:
    listed = await collect(case.store, listed_bucket)
    assert len(listed) == len(set(listed)), "an object was listed twice"
    assert dict(listed) == expected_listing()


async def test_list_by_prefix_is_a_raw_string_prefix(case, listed_bucket) -> None:
    expected = expected_listing()
    for prefix in (DEEP, f"{DEEP}obj-01", "l1/l2/l3", "l1/l2/", "nothing-here/"):
        listed = dict(await collect(case.store, listed_bucket, prefix))
        assert listed == {k: v for k, v in expected.items() if k.startswith(prefix)}, prefix


@pytest.mark.parametrize(
    "key",
    [*(f"special/a{c}b.txt" for c in SPECIAL), f"special/all {SPECIAL}.png", "special/dir (1)/x&y=z;@+,.txt"],
)
async def test_special_characters_round_trip(case, special_bucket, key: str) -> None:
    store: ObjectStore = case.store
    body = f"body of {key}".encode()
    written = await store.put(special_bucket, key, body, content_type="text/plain")
    assert written.size == len(body)
    assert (await store.head(special_bucket, key)).size == len(body)
    assert [info.key async for info in store.list(special_bucket, key)] == [key]
    assert await read_all(store, special_bucket, key) == body
    async with httpx.AsyncClient(timeout=30) as http:
        public = await http.get(store.public_url(special_bucket, key))
        signed = await http.get(await store.signed_url(special_bucket, key, 300))
    assert public.status_code == 200, public.text[:200]
    assert public.content == body
    assert signed.status_code == 200, signed.text[:200]
    assert signed.content == body


@pytest.fixture(scope="session")
async def special_bucket(case) -> str:
    return await case.new_bucket(public=True)


async def read_all(store: ObjectStore, bucket: str, key: str) -> bytes:
    async with store.open(bucket, key) as reader:
        return b"".join([chunk async for chunk in reader])


async def test_zero_byte_object(case, special_bucket) -> None:
    store: ObjectStore = case.store
    written = await store.put(special_bucket, "empty/.emptyFolderPlaceholder", b"")
    assert written.size == 0
    assert written.sha256 == hashlib.sha256(b"").hexdigest()
    assert (await store.head(special_bucket, "empty/.emptyFolderPlaceholder")).size == 0
    assert await read_all(store, special_bucket, "empty/.emptyFolderPlaceholder") == b""
    assert await collect(store, special_bucket, "empty/") == [("empty/.emptyFolderPlaceholder", 0)]


MB = 1024 * 1024
BIG = 50 * MB


async def big_body(total: int, chunk: int = MB) -> AsyncIterator[bytes]:
    block = random.Random(7).randbytes(chunk)
    for index in range(total // chunk):
        yield index.to_bytes(8, "big") + block[8:]


def big_digest(total: int, chunk: int = MB) -> str:
    digest = hashlib.sha256()
    block = random.Random(7).randbytes(chunk)
    for index in range(total // chunk):
        digest.update(index.to_bytes(8, "big") + block[8:])
    return digest.hexdigest()


async def test_50mb_streams_in_and_out_in_bounded_memory(case, special_bucket, peak_rss) -> None:
    store: ObjectStore = case.store
    expected = big_digest(BIG)
    with peak_rss() as upload:
        written = await store.put(special_bucket, "big/fifty.bin", big_body(BIG), size=BIG)
    assert written.size == BIG
    assert written.sha256 == expected
    digest, received = hashlib.sha256(), 0
    with peak_rss() as download:
        async with store.open(special_bucket, "big/fifty.bin") as reader:
            async for chunk in reader:
                digest.update(chunk)
                received += len(chunk)
    assert received == BIG
    assert digest.hexdigest() == expected
    assert upload["delta"] < 64 * MB, f"upload held {upload['delta'] / MB:.1f} MB"
    assert download["delta"] < 64 * MB, f"download held {download['delta'] / MB:.1f} MB"


async def test_content_type_cache_control_and_metadata_round_trip(case, special_bucket) -> None:
    store: ObjectStore = case.store
    await store.put(
        special_bucket,
        "meta/pic.png",
        b"\x89PNG....",
        content_type="image/png",
        cache_control="public, max-age=31536000, immutable",
        metadata={"owner": "user-17", "Source-Sha256": "abc123"},
    )
    info = await store.head(special_bucket, "meta/pic.png")
    assert info.content_type == "image/png"
    assert info.cache_control == "public, max-age=31536000, immutable"
    assert dict(info.metadata) == {"owner": "user-17", "source-sha256": "abc123"}
    async with store.open(special_bucket, "meta/pic.png") as reader:
        assert reader.info.content_type == "image/png"
        assert reader.info.size == 8


async def test_overwrite_replaces_and_create_only_refuses(case, special_bucket) -> None:
    store: ObjectStore = case.store
    await store.put(special_bucket, "ow/x.txt", b"one")
    await store.put(special_bucket, "ow/x.txt", b"two!")
    assert await read_all(store, special_bucket, "ow/x.txt") == b"two!"
    with pytest.raises(AlreadyExists):
        await store.put(special_bucket, "ow/x.txt", b"three", overwrite=False)
    assert await read_all(store, special_bucket, "ow/x.txt") == b"two!"
    created = await store.put(special_bucket, "ow/new.txt", b"fresh", overwrite=False)
    assert created.size == 5


async def test_missing_objects_and_buckets_are_not_found(case, special_bucket) -> None:
    store: ObjectStore = case.store
    with pytest.raises(NotFound):
        await store.head(special_bucket, "no/such/key.png")
    with pytest.raises(NotFound):
        async with store.open(special_bucket, "no/such/key.png"):
            pass
    with pytest.raises(NotFound):
        await store.head("contract-no-such-bucket", "k")
    with pytest.raises(NotFound):
        await collect(store, "contract-no-such-bucket")


async def test_delete_is_idempotent(case, special_bucket) -> None:
    store: ObjectStore = case.store
    await store.put(special_bucket, "del/x.txt", b"x")
    await store.delete(special_bucket, "del/x.txt")
    with pytest.raises(NotFound):
        await store.head(special_bucket, "del/x.txt")
    await store.delete(special_bucket, "del/x.txt")


async def test_bucket_lifecycle(case) -> None:
    store: ObjectStore = case.store
    bucket = await case.new_bucket()
    with pytest.raises(AlreadyExists):
        await store.create_bucket(bucket)
    assert bucket in {b.name for b in await store.list_buckets()}
    await store.put(bucket, "k.txt", b"k")
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket(bucket)
    await store.delete(bucket, "k.txt")
    await store.delete_bucket(bucket)
    assert bucket not in {b.name for b in await store.list_buckets()}


async def test_private_objects_need_a_signed_url(case) -> None:
    store: ObjectStore = case.store
    bucket = await case.new_bucket(public=False)
    await store.put(bucket, "videos/job 1.mp4", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    async with httpx.AsyncClient(timeout=30) as http:
        signed = await http.get(await store.signed_url(bucket, "videos/job 1.mp4", 120))
        anonymous = await http.get(store.public_url(bucket, "videos/job 1.mp4"))
    assert signed.status_code == 200
    assert signed.content == b"\x00\x00\x00\x18ftypmp42"
    if case.enforces_access:
        assert anonymous.status_code in (400, 403, 404), "a private object was readable without a signature"
    else:
        assert case.name == "local", "only the local directory store has no access control"

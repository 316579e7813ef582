"""`SupabaseStore.put` through Supabase's resumable (TUS) upload, against the emulator.

Bodies above `resumable_above` go resumable at once; smaller ones go as a standard upload from
bytes in hand, and again resumable when the project refuses them as too large (its
standard-upload limit, set low here and put back afterwards).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from bucketshift.errors import AlreadyExists, TooLarge
from bucketshift.retry import RetryPolicy
from bucketshift.stores.supabase import SupabaseStore
from bucketshift_sandbox.servers import EmulatorServer
from bucketshift_sandbox.supabase.settings import DEFAULT_FAULTS

MiB = 1024 * 1024
CHUNK = 6 * MiB
BIG = os.urandom(13 * MiB + 17)  # three 6 MiB chunks, the last one short
SMALL = os.urandom(300 * 1024)


class SourceBroke(Exception):
    """The caller's own body failing."""


async def stream(data: bytes, piece: int = MiB, *, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        if fail_after is not None and start >= fail_after:
            raise SourceBroke("the source went away")
        yield data[start : start + piece]


async def no_wait(_: float) -> None:
    return None


@pytest.fixture
def emu(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session's emulator with a low standard-upload limit; every switch restored afterwards."""
    emulator.settings(standard_upload_limit=100 * 1024)
    emulator.reset_stats()
    yield emulator
    emulator.settings(
        standard_upload_limit=None,
        resumable=True,
        fault_rate=0,
        faults=list(DEFAULT_FAULTS),
        fault_routes=[],
        fault_seed=None,
    )


@pytest.fixture
async def store(emu: EmulatorServer) -> AsyncIterator[SupabaseStore]:
    async with SupabaseStore(emu.url, emu.service_role_key, resumable_retry=RetryPolicy(sleep=no_wait)) as made:
        yield made


@pytest.fixture
async def bucket(emu: EmulatorServer, store: SupabaseStore) -> str:
    name = f"tus-{uuid.uuid4().hex[:10]}"
    await store.create_bucket(name)
    emu.reset_stats()
    return name


async def read(store: SupabaseStore, bucket: str, key: str) -> bytes:
    async with store.open(bucket, key) as reader:
        return b"".join([chunk async for chunk in reader])


def routes(emu: EmulatorServer) -> dict[str, int]:
    return {route: n for route, n in emu.stats()["by_route"].items() if route != "GET object/info"}


async def test_a_large_body_goes_resumable_whole_with_its_metadata(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    info = await store.put(
        bucket, "v/big.mp4", stream(BIG), size=len(BIG), content_type="video/mp4",
        cache_control="max-age=3600", metadata={"Origin": "s3"},
    )  # fmt: skip
    assert routes(emu) == {"POST upload/resumable": 1, "PATCH upload/resumable": 3}, "no standard upload tried"
    assert info.sha256 == hashlib.sha256(BIG).hexdigest()
    assert info.size == len(BIG)
    stored = await store.head(bucket, "v/big.mp4")
    assert (stored.size, stored.content_type, stored.cache_control) == (len(BIG), "video/mp4", "max-age=3600")
    assert dict(stored.metadata) == {"origin": "s3"}
    assert stored.md5 == hashlib.md5(BIG).hexdigest()  # noqa: S324 - the emulator's ETag is the MD5
    assert hashlib.sha256(await read(store, bucket, "v/big.mp4")).digest() == hashlib.sha256(BIG).digest()


async def test_length_unknown_is_declared_with_the_last_chunk(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    info = await store.put(bucket, "k", stream(BIG[: 12 * MiB]))
    assert info.sha256 == hashlib.sha256(BIG[: 12 * MiB]).hexdigest()
    assert routes(emu) == {"POST upload/resumable": 1, "PATCH upload/resumable": 2}
    assert await read(store, bucket, "k") == BIG[: 12 * MiB]


async def test_below_the_limit_a_standard_upload_and_above_it_resumable(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    await store.put(bucket, "small", stream(SMALL[:50_000]), size=50_000)
    assert routes(emu) == {"POST object": 1}, "under the standard limit nothing else is asked"
    emu.reset_stats()
    info = await store.put(bucket, "over", stream(SMALL), size=len(SMALL), metadata={"a": "b"})
    assert routes(emu) == {"POST object": 1, "POST upload/resumable": 1, "PATCH upload/resumable": 1}
    assert info.sha256 == hashlib.sha256(SMALL).hexdigest()
    assert await read(store, bucket, "over") == SMALL
    assert dict((await store.head(bucket, "over")).metadata) == {"a": "b"}


async def test_a_failed_patch_resumes_without_sending_earlier_chunks_again(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    emu.settings(fault_rate=0.5, faults=["500", "reset"], fault_routes=["PATCH upload/resumable"], fault_seed=3)
    emu.reset_stats()
    info = await store.put(bucket, "k", stream(BIG), size=len(BIG))
    stats = emu.stats()
    faults = stats["faults_injected"]
    assert faults >= 2, "the seed gives faults to resume from"
    assert stats["by_route"]["PATCH upload/resumable"] == 3 + faults, "each chunk sent once, plus the failed tries"
    assert stats["by_route"]["HEAD upload/resumable"] == faults, "each retry asks where the server got"
    assert stats["by_route"]["POST upload/resumable"] == 1
    assert info.sha256 == hashlib.sha256(BIG).hexdigest()
    assert await read(store, bucket, "k") == BIG


async def test_patch_faults_past_the_retry_policy_fail_and_end_the_upload(emu: EmulatorServer, bucket: str) -> None:
    emu.settings(fault_rate=1, faults=["500"], fault_routes=["PATCH upload/resumable"])
    policy = RetryPolicy(max_attempts=2, sleep=no_wait)
    async with SupabaseStore(emu.url, emu.service_role_key, resumable_retry=policy) as store:
        with pytest.raises(Exception, match="500") as failed:
            await store.put(bucket, "k", stream(BIG), size=len(BIG))
    assert type(failed.value).__name__ == "TransientError"
    assert emu.stats()["by_route"]["PATCH upload/resumable"] == 2
    assert emu.stats()["by_route"]["DELETE upload/resumable"] == 1, "the abandoned upload is terminated"


async def test_the_callers_body_error_is_raised_as_it_is(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    with pytest.raises(SourceBroke):
        await store.put(bucket, "k", stream(BIG, fail_after=7 * MiB), size=len(BIG))
    assert emu.stats()["by_route"]["DELETE upload/resumable"] == 1
    assert not [info async for info in store.list(bucket)], "no object from a broken body"


async def test_overwrite_rules_match_the_standard_path(emu: EmulatorServer, store: SupabaseStore, bucket: str) -> None:
    await store.put(bucket, "k", b"old")
    with pytest.raises(AlreadyExists):
        await store.put(bucket, "k", stream(BIG), size=len(BIG), overwrite=False)
    assert await read(store, bucket, "k") == b"old"
    await store.put(bucket, "k", stream(BIG), size=len(BIG))
    assert await read(store, bucket, "k") == BIG
    await store.put(bucket, "new", stream(BIG), size=len(BIG), overwrite=False)
    assert (await store.head(bucket, "new")).size == len(BIG), "a free key is written without overwrite"


async def test_no_resumable_upload_is_one_sentence_naming_the_limit(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    emu.settings(resumable=False)
    for body, size in ((stream(SMALL), len(SMALL)), (stream(BIG), len(BIG))):
        with pytest.raises(TooLarge) as refused:
            await store.put(bucket, "k", body, size=size)
        message = str(refused.value)
        assert "standard-upload size limit" in message
        assert "does not serve resumable uploads" in message
        assert "\n" not in message
    assert routes(emu)["POST object"] == 2, "a large body falls back to the standard upload, which is refused"
    emu.settings(resumable=True)
    async with SupabaseStore(emu.url, emu.service_role_key, resumable_above=None) as plain:
        with pytest.raises(TooLarge, match="resumable uploads are off for this store"):
            await plain.put(bucket, "k", stream(SMALL), size=len(SMALL))
    await store.put(bucket, "k", stream(SMALL), size=len(SMALL))
    assert await read(store, bucket, "k") == SMALL, "the same object goes with resumable uploads on"


async def test_a_cache_control_resumable_cannot_keep_goes_standard(
    emu: EmulatorServer, store: SupabaseStore, bucket: str
) -> None:
    emu.settings(standard_upload_limit=None)
    await store.put(bucket, "k", stream(BIG), size=len(BIG), cache_control="public, max-age=60")
    assert routes(emu) == {"POST object": 1}
    assert (await store.head(bucket, "k")).cache_control == "public, max-age=60"
    emu.settings(standard_upload_limit=100 * 1024)
    with pytest.raises(TooLarge, match="cache control 'public, max-age=60' cannot go through"):
        await store.put(bucket, "j", stream(SMALL), size=len(SMALL), cache_control="public, max-age=60")

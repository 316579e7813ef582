"""A large object bound for Supabase (no multipart uploads) is streamed, not held whole.

The engine's copier reads from S3 (moto) and writes to the Supabase emulator, whose store sends a
large body through the resumable (TUS) upload.  Memory is measured as the operating system sees it
(the peak resident set of a child process doing one copy): `MemoryBudget.peak` cannot show it, as
a reservation above the budget is cut to the budget.  A read corrupted on the way (a proxy in front
of moto flips one byte of the object's body at a random place) fails its MD5 check before the
upload can complete: no object appears at Supabase.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bucketshift.config import S3Endpoint, TransferConfig
from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import MappingSpec, Write
from bucketshift.engine.objects import Copied, ObjectCopier, Tallies
from bucketshift.errors import ChecksumMismatch, NotFound
from bucketshift.retry import RetryPolicy
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase import SupabaseStore
from bucketshift_sandbox.servers import EmulatorServer, MotoServer

MiB = 1024 * 1024
BUDGET = 5 * MiB
BIG = os.urandom(24 * MiB - 1000)  # four 6 MiB TUS chunks, the last one short
MEDIUM = BIG[: 13 * MiB]  # three chunks: the corruption cases, at half the cost
HUGE = BIG + BIG  # the memory test: twice the size, for the copy held whole to stand out
HOLDS = 24 * MiB
"""What a streamed copy may hold at most, whatever the object's size: the engine's chunk held back and
the one read ahead, Supabase's resumable upload's 6 MiB chunk and the socket's copy of it being sent."""
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


async def no_wait(_: float) -> None:
    return None


RETRY = RetryPolicy(max_attempts=3, sleep=no_wait)


@dataclass
class Sides:
    s3_endpoint: S3Endpoint
    s3_bucket: str
    supabase_bucket: str


@pytest.fixture(scope="module")
async def sides(moto: MotoServer, emulator: EmulatorServer) -> Sides:
    """One S3 bucket holding the objects, one Supabase bucket to copy them to."""
    tag = uuid.uuid4().hex[:8]
    endpoint = S3Endpoint(type="s3", region="us-east-1", endpoint_url=moto.endpoint_url)
    made = Sides(endpoint, f"stream-src-{tag}", f"stream-dst-{tag}")
    # One PUT each (no multipart), so that their ETags are their MD5s and the copy checks its reads.
    single = TransferConfig(multipart_threshold=128 * MiB, part_size=64 * MiB, memory_budget=128 * MiB)
    async with (
        open_store(endpoint, transfer=single) as s3,
        SupabaseStore(emulator.url, emulator.service_role_key) as supabase,
    ):
        await s3.create_bucket(made.s3_bucket)
        await supabase.create_bucket(made.supabase_bucket)
        for key, body in (("big.mp4", BIG), ("medium.mp4", MEDIUM), ("huge.mp4", HUGE)):
            await s3.put(made.s3_bucket, key, body, size=len(body), content_type="video/mp4", metadata={"job": "7"})
    return made


def copier(source: ObjectStore, dest: ObjectStore, sides: Sides, budget: MemoryBudget) -> ObjectCopier:
    spec = MappingSpec(sides.s3_bucket, sides.supabase_bucket)
    return ObjectCopier(source, dest, spec, retry=RETRY, budget=budget, tallies=Tallies())


async def read_back(store: SupabaseStore, bucket: str, key: str) -> bytes:
    async with store.open(bucket, key) as reader:
        return b"".join([chunk async for chunk in reader])


def tus_routes(emulator: EmulatorServer) -> dict[str, int]:
    return {
        r: n for r, n in emulator.stats()["by_route"].items() if r.endswith("upload/resumable") or r == "POST object"
    }


async def test_a_large_object_goes_to_supabase_streamed_through_tus_whole(
    sides: Sides, emulator: EmulatorServer
) -> None:
    budget = MemoryBudget(BUDGET)
    async with open_store(sides.s3_endpoint) as s3, SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        made = copier(s3, supabase, sides, budget)
        info = await s3.head(sides.s3_bucket, "big.mp4")
        emulator.reset_stats()
        copied = await made.copy(info, Write())
        routes = tus_routes(emulator)
        stored = await supabase.head(sides.supabase_bucket, "big.mp4")
        body = await read_back(supabase, sides.supabase_bucket, "big.mp4")
    assert routes == {"POST upload/resumable": 1, "PATCH upload/resumable": 4}, "resumable, chunk by chunk"
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(BIG).hexdigest() == copied.sha256
    assert (stored.size, stored.content_type, dict(stored.metadata)) == (len(BIG), "video/mp4", {"job": "7"})
    assert stored.copied_from is not None
    assert stored.copied_from.matches(info.etag, len(BIG)), "marked with the S3 version it was copied from"
    assert made.tallies.md5_matches == 1, "the read was checked against S3's MD5"
    assert (budget.peak, budget.used) == (BUDGET, 0), "a bounded reservation, given back"


_CHILD = """
import asyncio, hashlib, json, sys
from bucketshift.config import S3Endpoint, TransferConfig
from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import MappingSpec, Write
from bucketshift.engine.objects import ObjectCopier, Tallies
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase import SupabaseStore

def kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

async def main(a):
    endpoint = S3Endpoint(type="s3", region="us-east-1", endpoint_url=a["moto"])
    async with open_store(endpoint) as s3, SupabaseStore(a["url"], a["key"]) as supabase:
        budget = MemoryBudget(a["budget"])
        made = ObjectCopier(s3, supabase, MappingSpec(a["source"], a["dest"]), retry=__import__(
            "bucketshift.retry").retry.RetryPolicy(), budget=budget, tallies=Tallies())
        if a["whole"]:
            made.stream_above = 1 << 62
        info = await s3.head(a["source"], a["key_name"])
        await supabase.list_buckets()
        before = kib("VmRSS")
        copied = await made.copy(info, Write(if_match=None))
        grown = kib("VmHWM") - before
    print(json.dumps({"grown": grown * 1024, "peak": budget.peak, "sha256": copied.sha256}))

asyncio.run(main(json.loads(sys.argv[1])))
"""


def child_copy(sides: Sides, emulator: EmulatorServer, *, whole: bool) -> dict[str, int | str]:
    """One copy of `huge.mp4` in a fresh process: how far its resident set grew during the copy.

    The allocator is told to give every buffer of 64 KiB or more back when it is freed, so the peak
    counts the bytes held at once, not how the allocator reuses its heap."""
    spec = {
        "moto": sides.s3_endpoint.endpoint_url, "url": emulator.url, "key": emulator.service_role_key,
        "budget": BUDGET, "source": sides.s3_bucket, "dest": sides.supabase_bucket, "key_name": "huge.mp4",
        "whole": whole,
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


@pytest.fixture
async def empty_destination(sides: Sides, emulator: EmulatorServer) -> AsyncIterator[None]:
    async with SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        await supabase.delete(sides.supabase_bucket, "huge.mp4")
        yield
        await supabase.delete(sides.supabase_bucket, "huge.mp4")


@pytest.mark.usefixtures("empty_destination")
async def test_memory_stays_near_the_budget_not_the_object_size(sides: Sides, emulator: EmulatorServer) -> None:
    streamed = child_copy(sides, emulator, whole=False)
    async with SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        await supabase.delete(sides.supabase_bucket, "huge.mp4")
    held = child_copy(sides, emulator, whole=True)
    expected = hashlib.sha256(HUGE).hexdigest()
    assert streamed["sha256"] == held["sha256"] == expected
    assert streamed["peak"] == held["peak"] == BUDGET, "the budget's own peak cannot tell the two apart"
    assert int(streamed["grown"]) < HOLDS, streamed
    # The negative: the same copy holding the object whole grows by at least its size.
    assert int(held["grown"]) >= len(HUGE), held


class CorruptingProxy:
    """In front of moto: flips one byte, at a random place, of the first `corrupt` GET bodies of `key`
    (every one when `corrupt` is None); everything else is forwarded byte for byte."""

    def __init__(self, upstream: str, key: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.key = key
        self.corrupt: int | None = 0
        self.corrupted = 0
        self.rng = random.Random(13)
        self.session: aiohttp.ClientSession | None = None

    def _should(self, request: web.Request, status: int) -> bool:
        if request.method != "GET" or not request.path.endswith("/" + self.key) or status not in (200, 206):
            return False
        return self.corrupt is None or self.corrupted < self.corrupt

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = URL(self.upstream + request.raw_path, encoded=True)
        async with self.session.request(
            request.method, target, headers=headers, data=body or None, allow_redirects=False, auto_decompress=False
        ) as answer:
            out = web.StreamResponse(
                status=answer.status,
                headers={k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP},
            )
            flip = -1
            if self._should(request, answer.status):
                self.corrupted += 1
                flip = self.rng.randrange(int(answer.headers.get("Content-Length", "1")))
            await out.prepare(request)
            seen = 0
            async for chunk in answer.content.iter_chunked(256 * 1024):
                if seen <= flip < seen + len(chunk):
                    at = flip - seen
                    chunk = chunk[:at] + bytes([chunk[at] ^ 0x01]) + chunk[at + 1 :]
                seen += len(chunk)
                await out.write(chunk)
            await out.write_eof()
            return out


@contextlib.asynccontextmanager
async def corrupting_proxy(upstream: str, key: str) -> AsyncIterator[tuple[CorruptingProxy, str]]:
    proxy = CorruptingProxy(upstream, key)
    app = web.Application(client_max_size=64 * MiB)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        proxy.session = session
        try:
            yield proxy, f"http://{host}:{port}"
        finally:
            await runner.cleanup()


@pytest.fixture
async def proxied(sides: Sides) -> AsyncIterator[tuple[CorruptingProxy, S3Endpoint]]:
    upstream = sides.s3_endpoint.endpoint_url
    assert upstream is not None
    assert upstream.startswith("http://127.0.0.1:")
    async with corrupting_proxy(upstream, "medium.mp4") as (proxy, url):
        yield proxy, S3Endpoint(type="s3", region="us-east-1", endpoint_url=url)


async def copy_medium(endpoint: S3Endpoint, sides: Sides, emulator: EmulatorServer, tallies: list[Tallies]) -> Copied:
    async with open_store(endpoint) as s3, SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        made = copier(s3, supabase, sides, MemoryBudget(BUDGET))
        tallies.append(made.tallies)
        return await made.copy(await s3.head(sides.s3_bucket, "medium.mp4"), Write())


async def test_a_read_corrupted_every_time_is_refused_and_no_object_appears(
    sides: Sides, emulator: EmulatorServer, proxied: tuple[CorruptingProxy, S3Endpoint]
) -> None:
    proxy, endpoint = proxied
    proxy.corrupt = None
    emulator.reset_stats()
    tallies: list[Tallies] = []
    with pytest.raises(ChecksumMismatch, match="do not match the source's MD5"):
        await copy_medium(endpoint, sides, emulator, tallies)
    routes = tus_routes(emulator)
    assert proxy.corrupted == 2, "two passes, each from the first byte"
    assert tallies[0].md5_mismatches == 2
    # Each pass sent at most its first two 6 MiB chunks (the second may still be on its way, and be cut
    # off, when the MD5 fails); the last, held back until the MD5 was known, never left.
    patches = routes.pop("PATCH upload/resumable", 0)
    assert routes == {"POST upload/resumable": 2, "DELETE upload/resumable": 2}
    assert 2 <= patches <= 4, patches
    async with SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        with pytest.raises(NotFound):
            await supabase.head(sides.supabase_bucket, "medium.mp4")


async def test_a_read_corrupted_once_is_read_again_from_the_start_and_arrives_whole(
    sides: Sides, emulator: EmulatorServer, proxied: tuple[CorruptingProxy, S3Endpoint]
) -> None:
    proxy, endpoint = proxied
    proxy.corrupt = 1
    tallies: list[Tallies] = []
    async with SupabaseStore(emulator.url, emulator.service_role_key) as supabase:
        await supabase.delete(sides.supabase_bucket, "medium.mp4")
        try:
            copied = await copy_medium(endpoint, sides, emulator, tallies)
            body = await read_back(supabase, sides.supabase_bucket, "medium.mp4")
        finally:
            await supabase.delete(sides.supabase_bucket, "medium.mp4")
    assert proxy.corrupted == 1
    assert copied.attempts == 2
    assert (tallies[0].md5_mismatches, tallies[0].md5_matches) == (1, 1)
    assert hashlib.sha256(body).digest() == hashlib.sha256(MEDIUM).digest()


@pytest.fixture(autouse=True)
def _stats_left_clean(emulator: EmulatorServer) -> Iterator[None]:
    yield
    emulator.reset_stats()

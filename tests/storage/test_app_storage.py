"""`bucketshift.storage` against real servers: each backend stores what it is given with its
attributes, hands back the value a row keeps, and turns every stored form into a URL a browser can
fetch now; private objects are never given a URL that works without signing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.storage.storage_helpers import Sides, fetch

from bucketshift.errors import AlreadyExists, BucketshiftError, ConfigError, InvalidKey, NotFound, StoredValueError
from bucketshift.storage import AsyncStorage, Storage
from bucketshift.urls import build_supabase_url, s3_uri

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
MP4 = b"\x00\x00\x00\x18ftypmp42" + os.urandom(50_000)
BACKENDS = [("s3", None), ("supabase", None), ("mirror", "supabase"), ("mirror", "s3")]
BACKEND_IDS = ["s3", "supabase", "mirror-supabase-primary", "mirror-s3-primary"]


def host(url: str) -> str:
    return urlsplit(url).netloc


@pytest.mark.parametrize(("backend", "primary"), BACKENDS, ids=BACKEND_IDS)
async def test_upload_stores_bytes_and_attributes_on_every_side_in_use(
    sides: Sides, backend: str, primary: str | None
) -> None:
    storage = sides.storage(backend, primary)
    await storage.check()
    key = sides.key("frames/frame_001.png")
    stored = await storage.upload("images", key, PNG, cache_control="max-age=60", metadata={"frame": "1"})
    assert (stored.bucket, stored.key, stored.size, stored.content_type) == ("images", key, len(PNG), "image/png")
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored.mirrored is (True if backend == "mirror" else None)
    in_use = storage.settings.sides
    for side in ("s3", "supabase"):
        store, bucket = sides.side(side), sides.bucket(side, "images")
        if side not in in_use:
            with pytest.raises(NotFound):
                await store.head(bucket, key)
            continue
        info = await store.head(bucket, key)
        assert (info.size, info.content_type, info.cache_control) == (len(PNG), "image/png", "max-age=60")
        assert dict(info.metadata) == {"frame": "1"}
    primary_host = host(sides.moto.endpoint_url if in_use[0] == "s3" else sides.emulator.url)
    assert host(stored.stored_value) == primary_host
    assert fetch(stored.stored_value).content == PNG
    assert await storage.download("images", key) == PNG
    assert await storage.exists("images", key)
    assert not await storage.exists("images", sides.key("frames/none.png"))


@pytest.mark.parametrize(("backend", "primary"), BACKENDS, ids=BACKEND_IDS)
async def test_a_private_object_is_kept_as_a_reference_and_read_through_a_signed_url(
    sides: Sides, backend: str, primary: str | None
) -> None:
    storage = sides.storage(backend, primary)
    key = sides.key("videos/job_7.mp4")
    stored = await storage.upload("videos", key, MP4)
    assert stored.content_type == "video/mp4"
    if storage.primary.name == "s3":
        assert stored.stored_value == s3_uri(sides.s3_buckets["videos"], key)
    else:
        assert stored.stored_value == build_supabase_url(sides.emulator.url, "videos", key, "authenticated")
        assert fetch(stored.stored_value).status_code in (400, 401, 403)
    public_forms = [sides.s3.public_url(sides.s3_buckets["videos"], key), sides.supabase.public_url("videos", key)]
    for unsigned in public_forms:
        assert fetch(unsigned).status_code >= 400, unsigned
    signed = await storage.url_for(stored.stored_value)
    assert fetch(signed).content == MP4
    assert fetch(await storage.signed_url("videos", key, expires_in=60)).content == MP4
    with pytest.raises(ConfigError, match="bucket 'videos' is private: its objects have no public URL"):
        await storage.public_url("videos", key)


@pytest.mark.parametrize("backend", ["s3", "supabase"])
async def test_url_for_turns_every_stored_form_into_a_url_that_fetches_the_bytes(sides: Sides, backend: str) -> None:
    """What url_for gives, per form: a public bucket's object -> its public URL on the backend in
    use (a render URL -> the original object, unresized); a private one's -> a URL signed for
    `expires_in`, whatever the form (an expired Supabase signed URL is signed afresh)."""
    storage = sides.storage(backend)
    image, video = sides.key("frames/frame 1+(a).png"), sides.key("videos/v 1.mp4")
    for side in ("s3", "supabase"):
        await sides.side(side).put(sides.bucket(side, "images"), image, PNG, content_type="image/png")
        await sides.side(side).put(sides.bucket(side, "videos"), video, MP4, content_type="video/mp4")
    origin, s3_images, s3_videos = sides.emulator.url, sides.s3_buckets["images"], sides.s3_buckets["videos"]
    image_forms = {
        "s3-public-url": sides.s3.public_url(s3_images, image),
        "supabase-public": build_supabase_url(origin, "images", image, "public"),
        "supabase-authenticated": build_supabase_url(origin, "images", image, "authenticated"),
        "supabase-sign-expired": build_supabase_url(origin, "images", image, "sign", query="token=expired.jwt.x"),
        "supabase-render": build_supabase_url(
            origin, "images", image, "public", transformed=True, query="width=320&quality=75"
        ),
        "supabase-uri-encoded": build_supabase_url(origin, "images", image, "public", encoding="uri"),
    }
    video_forms = {
        "s3-uri": s3_uri(s3_videos, video),
        "s3-public-url": sides.s3.public_url(s3_videos, video),
        "supabase-authenticated": build_supabase_url(origin, "videos", video, "authenticated"),
        "supabase-public": build_supabase_url(origin, "videos", video, "public"),
        "supabase-sign-expired": build_supabase_url(origin, "videos", video, "sign", query="token=expired.jwt.x"),
    }
    own_host = host(sides.moto.endpoint_url if backend == "s3" else origin)
    for name, value in image_forms.items():
        url = await storage.url_for(value)
        assert host(url) == own_host, name
        assert fetch(url).content == PNG, name
        assert "?" not in url, f"{name}: a public object needs no signature"
    assert await storage.url_for(image, bucket="images") == await storage.url_for(image_forms["supabase-public"])
    for name, value in {**video_forms, "bare-key": video}.items():
        url = await storage.url_for(value, bucket="videos", expires_in=120)
        assert host(url) == own_host, name
        assert fetch(url).content == MP4, name
        assert ("X-Amz-Signature=" in url) if backend == "s3" else ("/object/sign/" in url and "token=" in url)
    with pytest.raises(StoredValueError, match="is a bare key; pass its bucket too"):
        await storage.url_for(video)
    with pytest.raises(StoredValueError, match="names Supabase bucket 'avatars'"):
        await storage.url_for(build_supabase_url(origin, "avatars", "a.png", "public"))


async def test_an_expired_signed_url_stops_working_and_url_for_signs_afresh(sides: Sides) -> None:
    storage = sides.storage("supabase")
    key = sides.key("videos/short.mp4")
    await storage.upload("videos", key, MP4)
    stale = await storage.signed_url("videos", key, expires_in=1)
    await asyncio.sleep(2.2)
    assert fetch(stale).status_code >= 400
    assert fetch(await storage.url_for(stale)).content == MP4


async def test_check_finds_a_bucket_that_does_not_exist_at_start_up(sides: Sides) -> None:
    env = {**sides.env("s3"), "S3_IMAGES_BUCKET": f"missing-images-{sides.prefix}"}
    async with AsyncStorage.from_env(env) as storage:
        with pytest.raises(ConfigError) as caught:
            await storage.check()
    message = str(caught.value)
    assert message.startswith(f"S3 bucket 'missing-images-{sides.prefix}' does not exist at 127.0.0.1:")
    assert message.endswith("; create it (bucketshift provision) or fix S3_IMAGES_BUCKET")
    env = {**sides.env("mirror", "s3"), "STORAGE_BUCKETS": "images,avatars", "S3_AVATARS_BUCKET": sides.s3_buckets["images"]}  # fmt: skip # noqa: E501
    async with AsyncStorage.from_env(env) as storage:
        refused = r"^Supabase bucket 'avatars' does not exist at 127\.0\.0\.1:\d+; create it or fix STORAGE_BUCKETS$"
        with pytest.raises(ConfigError, match=refused):
            await storage.check()
    async with AsyncStorage.from_env(sides.env("mirror", "supabase")) as storage:
        await storage.check()


async def test_an_unknown_bucket_or_bad_key_is_refused_before_any_request(sides: Sides) -> None:
    storage = sides.storage("s3")
    with pytest.raises(ConfigError, match=r"bucket 'avatars' is not one of the application's buckets"):
        await storage.upload("avatars", "a.png", PNG)
    for key in ("", "/a.png", "a//b.png", "dir/"):
        with pytest.raises(InvalidKey):
            await storage.upload("images", key, PNG)
    with pytest.raises(TypeError, match="not a str"):
        await storage.upload("images", sides.key("a.png"), "text is not bytes")  # type: ignore[arg-type]


async def test_overwrite_false_never_replaces_an_object(sides: Sides) -> None:
    storage = sides.storage("s3")
    key = sides.key("assets/once.png")
    await storage.upload("asset-images", key, PNG, overwrite=False)
    with pytest.raises(AlreadyExists):
        await storage.upload("asset-images", key, b"other", overwrite=False)
    assert await storage.download("asset-images", key) == PNG


def sync_chunks(data: bytes, size: int = 300_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def async_chunks(data: bytes, size: int = 300_000) -> AsyncIterator[bytes]:
    for chunk in sync_chunks(data, size):
        await asyncio.sleep(0)
        yield chunk


class Pipe(io.RawIOBase):
    """A file that can only be read forward (a socket or pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


BIG = os.urandom(18 * 1024 * 1024 + 12345)
"""Above the S3 store's 16 MiB multipart threshold."""


@pytest.mark.parametrize(("backend", "primary"), [("s3", None), ("mirror", "supabase"), ("mirror", "s3")],
                         ids=["s3", "mirror-supabase-primary", "mirror-s3-primary"])  # fmt: skip
@pytest.mark.parametrize(
    "form", ["bytes", "path", "path-large", "file-at-offset", "async-stream", "sync-stream", "pipe", "stream-large"]
)
async def test_every_kind_of_body_arrives_whole_on_every_side(
    sides: Sides, tmp_path: Path, backend: str, primary: str | None, form: str
) -> None:
    data = BIG if form.endswith("large") else MP4
    path = tmp_path / "body.bin"
    path.write_bytes(b"HEADER" + data)
    handle = path.open("rb")
    handle.seek(6)
    bodies = {
        "bytes": bytearray(data),
        "path": path,
        "path-large": path,
        "file-at-offset": handle,
        "async-stream": async_chunks(data),
        "sync-stream": sync_chunks(data),
        "pipe": io.BufferedReader(Pipe(data)),
        "stream-large": async_chunks(data, 1024 * 1024),
    }
    if form.startswith("path"):
        data = b"HEADER" + data
    storage = sides.storage(backend, primary)
    key = sides.key(f"videos/{form}.mp4")
    try:
        stored = await storage.upload("videos", key, bodies[form])
    finally:
        handle.close()
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert stored.mirrored is (True if backend == "mirror" else None)
    for side in storage.settings.sides:
        store, bucket = sides.side(side), sides.bucket(side, "videos")
        async with store.open(bucket, key) as reader:
            got = hashlib.sha256()
            async for chunk in reader:
                got.update(chunk)
        assert got.hexdigest() == stored.sha256, side
        assert (await store.head(bucket, key)).content_type == "video/mp4"


@pytest.mark.parametrize("primary", ["supabase", "s3"])
async def test_mirror_reads_fall_back_to_the_secondary_and_deletes_reach_both(sides: Sides, primary: str) -> None:
    storage = sides.storage("mirror", primary)
    secondary = "s3" if primary == "supabase" else "supabase"
    only_there = sides.key("frames/written-before-the-mirror.png")
    await sides.side(secondary).put(sides.bucket(secondary, "images"), only_there, PNG, content_type="image/png")
    assert await storage.exists("images", only_there)
    assert await storage.download("images", only_there) == PNG
    secondary_host = host(sides.moto.endpoint_url if secondary == "s3" else sides.emulator.url)
    url = await storage.public_url("images", only_there)
    assert host(url) == secondary_host
    assert fetch(url).content == PNG
    assert fetch(await storage.url_for(only_there, bucket="images")).content == PNG

    both = sides.key("frames/both.png")
    await storage.upload("images", both, PNG)
    assert host(await storage.public_url("images", both)) != secondary_host
    await storage.delete("images", both)
    for side in ("s3", "supabase"):
        with pytest.raises(NotFound):
            await sides.side(side).head(sides.bucket(side, "images"), both)
    assert not await storage.exists("images", both)
    with pytest.raises(NotFound):
        await storage.download("images", both)
    assert storage.missed_count == 0


async def test_the_blocking_client_serves_many_threads_on_one_loop(sides: Sides) -> None:
    env = sides.env("mirror", "s3")

    def work() -> list[str]:
        with Storage.from_env(env) as storage:
            storage.check()
            results: list[str] = []

            def upload(n: int) -> None:
                stored = storage.upload("images", sides.key(f"threads/{n}.png"), PNG + bytes([n]))
                results.append(stored.stored_value)

            threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            with storage.open("images", sides.key("threads/3.png")) as reader:
                assert b"".join(reader) == PNG + bytes([3])
            assert storage.download("images", sides.key("threads/5.png")) == PNG + bytes([5])
            video = storage.upload("videos", sides.key("threads/v.mp4"), MP4)
            assert fetch(storage.url_for(video.stored_value)).content == MP4
            with pytest.raises(ConfigError, match="is private"):
                storage.public_url("videos", video.key)
            assert storage.missed_count == 0
        with pytest.raises(RuntimeError, match="closed"):
            storage.exists("images", "a.png")
        return results

    results = await asyncio.to_thread(work)
    assert len(results) == 8
    assert all(fetch(url).status_code == 200 for url in results)


BLOCKED_IMPORTS = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rich", "typer", "psycopg", "psycopg_binary"):
            raise ImportError(f"{name} is made unimportable for this test")

sys.meta_path.insert(0, Refuse())
from bucketshift.storage import Storage

with Storage.from_env() as storage:
    storage.check()
    stored = storage.upload("images", sys.argv[1], b"pixels")
    video = storage.upload("videos", sys.argv[2], b"frames")
    print(stored.stored_value)
    print(storage.url_for(video.stored_value))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "typer", "psycopg"))
assert not loaded, loaded
"""


@pytest.mark.parametrize("backend", ["s3", "mirror"])
def test_the_client_works_with_the_cli_libraries_unimportable(sides: Sides, backend: str) -> None:
    env = {**os.environ, **sides.env(backend, "supabase" if backend == "mirror" else None)}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORTS, sides.key("blocked/a.png"), sides.key("blocked/v.mp4")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    public, signed = done.stdout.split()
    assert fetch(public).content == b"pixels"
    assert fetch(signed).content == b"frames"
    refused = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORTS.replace("from bucketshift.storage import Storage", "import bucketshift.cli.main")],  # noqa: E501
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "made unimportable for this test" in refused.stderr


async def failing_stream() -> AsyncIterator[bytes]:
    yield b"x" * 1000
    raise ValueError("the generator broke")


@pytest.mark.parametrize("backend", ["s3", "supabase"])
async def test_the_callers_own_stream_error_is_raised_as_it_is(sides: Sides, backend: str) -> None:
    storage = sides.storage(backend)
    key = sides.key("videos/broken.mp4")
    with pytest.raises(ValueError, match="the generator broke"):
        await storage.upload("videos", key, failing_stream())
    assert not await storage.exists("videos", key)


@pytest.mark.parametrize(("backend", "primary"), [("s3", None), ("supabase", None), ("mirror", "s3")])
@pytest.mark.parametrize("length", [len(BIG), len(MP4)], ids=["large", "small"])
async def test_a_declared_size_is_held_to(sides: Sides, backend: str, primary: str | None, length: int) -> None:
    storage = sides.storage(backend, primary)
    data = BIG[:length]
    key = sides.key(f"videos/declared-{length}.mp4")
    stored = await storage.upload("videos", key, async_chunks(data), size=length)
    assert (stored.size, stored.sha256) == (length, hashlib.sha256(data).hexdigest())
    short = sides.key(f"videos/short-{length}.mp4")
    with pytest.raises((ValueError, BucketshiftError)):
        await storage.upload("videos", short, async_chunks(data[:-1]), size=length)
    for side in ("s3", "supabase"):
        with pytest.raises(NotFound):
            await sides.side(side).head(sides.bucket(side, "videos"), short)
    with pytest.raises(ValueError, match="size says 5 bytes but the body holds 6"):
        await storage.upload("videos", short, b"123456", size=5)


def heads(sides: Sides) -> int:
    routes = sides.emulator.stats()["by_route"]
    return sum(count for route, count in routes.items() if route.startswith("HEAD ") or "object/info" in route)


async def test_mirror_urls_look_for_an_object_once(sides: Sides) -> None:
    storage = sides.storage("mirror", "supabase")
    written = sides.key("frames/written.png")
    await storage.upload("images", written, PNG)
    placed = sides.key("frames/placed.png")
    await sides.supabase.put("images", placed, PNG, content_type="image/png")
    sides.emulator.reset_stats()
    for _ in range(5):
        await storage.url_for(written, bucket="images")
    assert heads(sides) == 0, "an object written through the client is known to be on the primary"
    for _ in range(5):
        await storage.url_for(placed, bucket="images")
    assert heads(sides) == 1
    await storage.delete("images", placed)
    await sides.s3.put(sides.s3_buckets["images"], placed, PNG, content_type="image/png")
    url = await storage.url_for(placed, bucket="images")
    assert host(url) == host(sides.moto.endpoint_url), "a deleted object is looked for again"

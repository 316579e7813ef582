"""The media service, the same test code on every backend: s3 (moto), supabase (the emulator) and
mirror with either primary.  Every check reads behind the service's back: the stores' own heads
and listings, the database's rows, and plain HTTP without credentials for what a browser gets."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from examples.media_service.app import create_app
from examples.media_service.errors import DatabaseUnavailable
from examples.media_service.local import tiny_png
from tests.examples.media_world import MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, SourceServer, World

from bucketshift.storage import ConfigError
from bucketshift_sandbox.app_database import EXPIRED_TOKEN
from bucketshift_sandbox.servers import EmulatorServer, free_port, run_emulator

JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MP4_START = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
CHUNK = 64 * 1024


def fetch(url: str) -> httpx.Response:
    """What a browser gets: plain HTTP, no credentials."""
    return httpx.get(url, timeout=30)


def nothing_on(world: World) -> dict[str, list[str]]:
    """What `world.keys` gives where no side holds an object."""
    return {side: [] for side in world.sides}


def sentence(answer: httpx.Response, status: int) -> str:
    """The error answer's one sentence, checked to be only that."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["error"], body
    text = body["error"]
    assert text
    assert "\n" not in text
    assert "Traceback" not in text
    return str(text)


def streamed(data: bytes) -> Iterator[bytes]:
    """A body sent in chunks with no length (chunked transfer encoding), as a generator sends it."""
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


# -- localize ----------------------------------------------------------------------------------


def test_localize_stores_the_image_and_points_both_assets_at_it(world: World, source: SourceServer) -> None:
    image = JPEG_START + os.urandom(40_000)
    url = source.put(f"/{world.project}/photos/hero.jpg?size=large", image, "image/jpeg")
    asset = uuid.uuid4()

    answer = world.http.post(
        f"/projects/{world.project}/branches/7/assets/{asset}/localize",
        json={"source_url": url, "global_asset_id": 41, "name": "hero"},
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    key, value = body["key"], body["stored_value"]
    assert re.fullmatch(rf"project_{world.project}/branch_7/master-assets/{asset}_\d{{13}}_[0-9a-f]{{8}}\.jpg", key)
    assert (body["asset_id"], body["global_asset_id"], body["size"]) == (str(asset), 41, len(image))
    assert world.content_types("asset-images", key) == dict.fromkeys(world.sides, "image/jpeg")
    rows = world.query("SELECT project, image_key_url FROM project_assets WHERE id = %s", asset)
    assert rows == [(f"project_{world.project}", value)]
    assert world.query("SELECT id, name, image_key_url FROM global_assets") == [(41, "hero", value)]
    assert urlsplit(value).netloc == world.primary_netloc
    got = fetch(value)
    assert got.status_code == 200
    assert got.content == image
    for side, public in world.unsigned_urls("asset-images", key).items():
        assert fetch(public).content == image, f"the {side} side's public URL"


def test_localize_takes_the_extension_from_the_content_type(world: World, source: SourceServer) -> None:
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(3000)
    png = tiny_png(rgb=(1, 2, 3))
    made = {
        "webp": source.put(f"/{world.project}/render?id=3", webp, "image/webp"),
        "png": source.put(f"/{world.project}/plain.png", png, None),
    }
    keys = {}
    for name, url in made.items():
        answer = world.http.post(
            f"/projects/{world.project}/branches/1/assets/{uuid.uuid4()}/localize", json={"source_url": url}
        )
        assert answer.status_code == 201, answer.text
        keys[name] = answer.json()["key"]

    assert keys["webp"].endswith(".webp")
    assert world.content_types("asset-images", keys["webp"]) == dict.fromkeys(world.sides, "image/webp")
    assert keys["png"].endswith(".png"), "a source without a content type: the URL's extension says it"
    assert world.content_types("asset-images", keys["png"]) == dict.fromkeys(world.sides, "image/png")
    assert world.query("SELECT count(*) FROM project_assets") == [(2,)]
    assert world.query("SELECT count(*) FROM global_assets") == [(0,)], "no global asset was named"


def test_localize_refuses_a_source_that_is_not_an_image_and_stores_nothing(world: World, source: SourceServer) -> None:
    big = JPEG_START + os.urandom(MAX_IMAGE_BYTES)
    p = world.project
    cases = [
        (source.put(f"/{p}/gone.png", b"not here", "text/plain", status=404), 502, "answered HTTP 404"),
        (source.put(f"/{p}/broken.png", b"oops", "text/plain", status=500), 502, "answered HTTP 500"),
        (source.put(f"/{p}/page.png", b"<html></html>", "text/html"), 502, "text/html, not an image"),
        (source.put(f"/{p}/big.jpg", big, "image/jpeg"), 422, f"larger than the {MAX_IMAGE_BYTES} bytes"),
        (source.put(f"/{p}/big-unsaid.jpg", big, "image/jpeg", length=False), 422, "larger than"),
        (source.put(f"/{p}/cut.jpg", big[:90_000], "image/jpeg", cut_at=30_000), 502, "broke off after"),
        (f"ftp://127.0.0.1/{p}/image.png", 422, "http or https URL"),
        (f"http://127.0.0.1:{free_port()}/{p}/image.png", 502, "could not be fetched"),
    ]
    for url, status, said in cases:
        answer = world.http.post(
            f"/projects/{p}/branches/1/assets/{uuid.uuid4()}/localize", json={"source_url": url + "?token=hidden"}
        )
        text = sentence(answer, status)
        assert said in text, (url, text)
        assert "hidden" not in text, "a source URL's query (where tokens live) is never repeated"

    assert world.query("SELECT count(*) FROM project_assets") == [(0,)]
    assert world.keys("asset-images", f"project_{p}/") == nothing_on(world)


# -- frames ------------------------------------------------------------------------------------


def test_a_frame_is_stored_as_png_and_its_url_serves_it(world: World) -> None:
    png = tiny_png(width=16, height=9, rgb=(10, 200, 30))

    answer = world.http.put(
        f"/projects/{world.project}/branches/2/frames/1", content=png, headers={"content-type": "image/png"}
    )

    assert answer.status_code == 201, answer.text
    key, value = answer.json()["key"], answer.json()["stored_value"]
    assert re.fullmatch(rf"project_{world.project}/branch_2/frames/1_\d{{13}}\.png", key)
    assert world.content_types("images", key) == dict.fromkeys(world.sides, "image/png")
    assert world.query("SELECT project, image_url FROM frames WHERE id = 1") == [(f"project_{world.project}", value)]
    assert urlsplit(value).netloc == world.primary_netloc
    assert fetch(value).content == png
    url = world.http.get("/frames/1").json()["url"]
    assert urlsplit(url).netloc == world.primary_netloc
    assert fetch(url).content == png


def test_a_frame_that_is_not_a_small_png_is_refused(world: World) -> None:
    p = world.project
    gif = world.http.put(f"/projects/{p}/branches/2/frames/2", content=b"GIF89a" + os.urandom(100))
    assert "not a PNG" in sentence(gif, 415)
    large = tiny_png() + os.urandom(MAX_IMAGE_BYTES)
    assert "larger than" in sentence(world.http.put(f"/projects/{p}/branches/2/frames/3", content=large), 413)
    unsaid = world.http.put(f"/projects/{p}/branches/2/frames/4", content=streamed(large))
    assert "larger than" in sentence(unsaid, 413)
    bad_name = world.http.put(f"/projects/{p}.x/branches/2/frames/5", content=tiny_png())
    assert "project" in sentence(bad_name, 422)

    assert world.query("SELECT count(*) FROM frames") == [(0,)]
    assert world.keys("images", f"project_{p}/") == nothing_on(world)


def test_a_frame_url_is_given_for_every_form_its_row_may_hold(world: World) -> None:
    png = tiny_png(width=3, height=5, rgb=(7, 7, 7))
    stored = world.http.put(f"/projects/{world.project}/branches/1/frames/1", content=png)
    assert stored.status_code == 201, stored.text
    key = stored.json()["key"]
    supabase = f"{world.emulator.url}/storage/v1"
    forms = {
        "supabase public URL": f"{supabase}/object/public/images/{key}",
        "supabase render URL": f"{supabase}/render/image/public/images/{key}?width=320&quality=75",
        "supabase signed URL, expired": f"{supabase}/object/sign/images/{key}?token={EXPIRED_TOKEN}",
        "supabase authenticated URL": f"{supabase}/object/authenticated/images/{key}",
        "S3 URL": f"{world.moto.endpoint_url}/{world.s3_buckets['images']}/{key}",
        "s3:// reference": f"s3://{world.s3_buckets['images']}/{key}",
        "bare key": key,
    }
    for frame_id, value in enumerate(forms.values(), start=100):
        world.query("INSERT INTO frames (id, project, image_url) VALUES (%s, 'p', %s)", frame_id, value)

    for frame_id, form in enumerate(forms, start=100):
        answer = world.http.get(f"/frames/{frame_id}")
        assert answer.status_code == 200, (form, answer.text)
        url = answer.json()["url"]
        assert urlsplit(url).netloc == world.primary_netloc, form
        assert fetch(url).content == png, form


def test_a_frame_row_naming_no_image_is_one_sentence(world: World) -> None:
    rows = {
        1: f"s3://{world.s3_buckets['videos']}/project_1/videos/1_1.mp4",
        2: "ftp://files.example.com/frame.png",
        3: None,
    }
    for frame_id, value in rows.items():
        world.query("INSERT INTO frames (id, project, image_url) VALUES (%s, 'p', %s)", frame_id, value)

    assert "not in 'images'" in sentence(world.http.get("/frames/1"), 500)
    assert "neither an S3 URL" in sentence(world.http.get("/frames/2"), 500)
    assert "has no image yet" in sentence(world.http.get("/frames/3"), 404)
    assert "does not exist" in sentence(world.http.get("/frames/424242"), 404)


# -- videos ------------------------------------------------------------------------------------


def test_a_video_is_streamed_into_the_private_bucket_and_plays_through_a_signed_url(world: World) -> None:
    video = MP4_START + os.urandom(MAX_VIDEO_BYTES // 2)

    answer = world.http.put(
        f"/projects/{world.project}/videos/9", content=streamed(video), headers={"content-type": "video/mp4"}
    )

    assert answer.status_code == 201, answer.text
    key, value = answer.json()["key"], answer.json()["stored_value"]
    assert re.fullmatch(rf"project_{world.project}/videos/9_\d{{13}}\.mp4", key)
    assert world.content_types("videos", key) == dict.fromkeys(world.sides, "video/mp4")
    assert world.query("SELECT status, video_url FROM video_generation_jobs WHERE id = 9") == [("done", value)]
    if world.primary == "s3":
        assert value == f"s3://{world.s3_buckets['videos']}/{key}"
    else:
        assert value == f"{world.emulator.url}/storage/v1/object/authenticated/videos/{key}"
        assert 400 <= fetch(value).status_code < 500, "the row's URL must not read without signing"
    assert "/object/public/" not in value
    for side, unsigned in world.unsigned_urls("videos", key).items():
        assert 400 <= fetch(unsigned).status_code < 500, f"the {side} side serves the video unsigned"

    play = world.http.get("/videos/9/play", follow_redirects=False)

    assert play.status_code == 307
    assert play.headers["cache-control"] == "no-store"
    location = play.headers["location"]
    assert urlsplit(location).netloc == world.primary_netloc
    assert fetch(location).content == video
    assert world.http.get("/health").json()["mirror_misses"] == 0, "the mirror's secondary took every write"


def test_a_video_that_is_not_a_small_mp4_is_refused(world: World) -> None:
    p = world.project
    webm = world.http.put(f"/projects/{p}/videos/1", content=streamed(b"\x1aE\xdf\xa3" + os.urandom(1000)))
    assert "not an MP4" in sentence(webm, 415)
    large = MP4_START + os.urandom(MAX_VIDEO_BYTES)
    said = world.http.put(f"/projects/{p}/videos/2", content=large)
    assert "larger than" in sentence(said, 413)
    unsaid = world.http.put(f"/projects/{p}/videos/3", content=streamed(large))
    assert "larger than" in sentence(unsaid, 413)

    assert world.query("SELECT count(*) FROM video_generation_jobs") == [(0,)]
    assert world.keys("videos", f"project_{p}/") == nothing_on(world)


def test_playing_an_unknown_job_or_a_job_without_video_is_404(world: World) -> None:
    world.query("INSERT INTO video_generation_jobs (id, status, video_url) VALUES (5, 'running', NULL)")

    assert "job 424242 does not exist" in sentence(world.http.get("/videos/424242/play", follow_redirects=False), 404)
    assert "has no video yet" in sentence(world.http.get("/videos/5/play", follow_redirects=False), 404)


# -- start-up ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """A Supabase project without the app's buckets."""
    with run_emulator(tmp_path_factory.mktemp("empty-emulator")) as server:
        yield server


def start(env: dict[str, str]) -> None:
    """Run the app's start-up and shut-down (its lifespan) as a server would, and nothing else."""
    app = create_app(env)

    async def lifespan() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(lifespan())


def test_start_up_fails_on_a_bucket_that_does_not_exist(setting: World, empty_emulator: EmulatorServer) -> None:
    start(setting.env)  # the setting as it is starts
    for side in setting.sides:
        env = dict(setting.env)
        if side == "s3":
            missing = f"media-missing-{uuid.uuid4().hex[:8]}"
            env["S3_VIDEOS_BUCKET"] = missing
            names = rf"S3 bucket '{missing}' does not exist at .*; create it \(bucketshift provision\) or fix S3_VIDEOS_BUCKET"  # noqa: E501
        else:
            env["SUPABASE_URL"] = empty_emulator.url
            names = r"Supabase bucket 'asset-images' does not exist at .*; create it or fix STORAGE_BUCKETS"
        with pytest.raises(ConfigError, match=names):
            start(env)


def test_start_up_fails_on_a_database_it_cannot_reach(setting: World) -> None:
    env = {**setting.env, "DATABASE_URL": f"postgresql://app:s3cret-pw@127.0.0.1:{free_port()}/media"}

    with pytest.raises(DatabaseUnavailable) as raised:
        start(env)

    assert "database media at 127.0.0.1:" in raised.value.message
    assert "DATABASE_URL" in raised.value.message
    assert "s3cret-pw" not in raised.value.message


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"MEDIA_MAX_VIDEO_BYTES": "lots"}, "MEDIA_MAX_VIDEO_BYTES is 'lots'"),
        ({"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND is 'gcs'"),
        ({"AWS_REGION": ""}, "AWS_REGION is not set"),
    ],
)
def test_start_up_fails_on_a_missing_or_wrong_setting(change: dict[str, str], names: str) -> None:
    env = {
        "STORAGE_BACKEND": "s3",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "DATABASE_URL": "postgresql://127.0.0.1:9/media",
        **change,
    }
    with pytest.raises(ConfigError, match=re.escape(names)):
        start(env)


def test_a_malformed_request_is_one_sentence(world: World) -> None:
    base = f"/projects/{world.project}/branches/1/assets"

    assert "asset_id" in sentence(world.http.post(f"{base}/not-a-uuid/localize", json={"source_url": "x"}), 422)
    assert "source_url: Field required" in sentence(world.http.post(f"{base}/{uuid.uuid4()}/localize", json={}), 422)
    broken = world.http.post(
        f"{base}/{uuid.uuid4()}/localize", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "the request body" in sentence(broken, 422)
    assert sentence(world.http.get("/no/such/route"), 404) == "Not Found"

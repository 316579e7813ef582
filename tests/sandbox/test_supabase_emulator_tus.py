"""The resumable (tus) upload at ``/upload/resumable``, and the standard-upload limit beside it."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.sandbox.supabase_emulator_helpers import error_body, new_bucket, storage_client

from bucketshift_sandbox.servers import EmulatorServer
from bucketshift_sandbox.supabase.settings import EmulatorSettings, SettingsError
from bucketshift_sandbox.supabase.tus_routes import decode_upload_id, parse_metadata

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = {"Content-Type": "application/offset+octet-stream"}
BODY = bytes(range(256)) * 48  # 12 KiB, three chunks of 4 KiB


def metadata(bucket: str, name: str, **extra: str) -> str:
    pairs = {"bucketName": bucket, "objectName": name, **extra}
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def create(client: httpx.Client, bucket: str, name: str, length: int, **headers: str) -> httpx.Response:
    sent = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(bucket, name), **headers}
    return client.post("/upload/resumable", headers=sent)


def patch(client: httpx.Client, location: str, offset: int, data: bytes, **headers: str) -> httpx.Response:
    return client.patch(location, content=data, headers={**TUS, **OFFSET_TYPE, "Upload-Offset": str(offset), **headers})


def offset_of(client: httpx.Client, location: str) -> int:
    response = client.head(location, headers=TUS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return int(response.headers["upload-offset"])


def upload(client: httpx.Client, bucket: str, name: str, data: bytes, **headers: str) -> httpx.Response:
    created = create(client, bucket, name, len(data), **headers)
    assert created.status_code == 201, created.text
    return patch(client, created.headers["location"], 0, data, **headers)


@pytest.fixture
def limits(sandbox_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The switches these tests turn, back to their defaults afterwards."""
    yield sandbox_emulator
    sandbox_emulator.settings(standard_upload_limit=None, resumable=True, file_size_limit=5 * 1024**3)


def test_chunks_head_and_the_object_a_standard_upload_makes(service: httpx.Client, bucket: str) -> None:
    user = {"origin": "s3", "n": 1}
    described = {
        "contentType": "video/mp4",
        "cacheControl": "3600",
        "metadata": json.dumps(user),
    }
    headers = {**TUS, "Upload-Length": str(len(BODY)), "Upload-Metadata": metadata(bucket, "v/a.mp4", **described)}
    created = service.post("/upload/resumable", headers=headers)
    assert created.status_code == 201
    location = created.headers["location"]
    assert urlsplit(location).path.startswith("/storage/v1/upload/resumable/")
    assert decode_upload_id(location.rpartition("/")[2])[:2] == (bucket, "v/a.mp4")
    assert offset_of(service, location) == 0
    for start in range(0, len(BODY), 4096):
        assert service.get(f"/object/info/{bucket}/v/a.mp4").status_code == 400, "no object before the last byte"
        response = patch(service, location, start, BODY[start : start + 4096])
        assert response.status_code == 204
        assert int(response.headers["upload-offset"]) == start + 4096
        assert offset_of(service, location) == start + 4096
    assert response.headers["tus-complete"] == "1"
    head = service.head(location, headers=TUS)
    assert head.headers["upload-length"] == str(len(BODY))
    assert parse_metadata(head.headers["upload-metadata"])["cacheControl"] == "max-age=3600"

    standard = service.post(
        f"/object/{bucket}/v/b.mp4",
        content=BODY,
        headers={
            "Content-Type": "video/mp4",
            "Cache-Control": "max-age=3600",
            "x-metadata": base64.b64encode(json.dumps(user).encode()).decode(),
        },
    )
    assert standard.status_code == 200
    resumable, plain = (service.get(f"/object/info/{bucket}/v/{name}.mp4").json() for name in ("a", "b"))
    for field in ("size", "content_type", "cache_control", "etag", "metadata"):
        assert resumable[field] == plain[field], field
    assert resumable["etag"] == f'"{hashlib.md5(BODY).hexdigest()}"'  # noqa: S324 - the ETag is an MD5
    assert service.get(f"/object/{bucket}/v/a.mp4").content == BODY


def test_unknown_upload_and_missing_tus_headers(service: httpx.Client, bucket: str) -> None:
    created = create(service, bucket, "k", 10)
    location = created.headers["location"]
    missing = location.rpartition("/")[0] + "/" + base64.urlsafe_b64encode(f"{bucket}/k/nope".encode()).decode()
    assert service.head(missing, headers=TUS).status_code == 404
    assert patch(service, missing, 0, b"x").text == "The file for this url was not found\n"
    assert service.patch(location, content=b"x", headers={**OFFSET_TYPE, "Upload-Offset": "0"}).status_code == 412
    no_offset = service.patch(location, content=b"x", headers={**TUS, **OFFSET_TYPE})
    assert (no_offset.status_code, no_offset.text) == (403, "Upload-Offset header required\n")
    wrong_type = service.patch(location, content=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "a/b"})
    assert (wrong_type.status_code, wrong_type.text) == (400, "Invalid content-type\n")
    no_length = service.post("/upload/resumable", headers={**TUS, "Upload-Metadata": metadata(bucket, "k")})
    assert no_length.status_code == 400
    no_bucket = create(service, "no-such-bucket", "k", 10)
    assert (no_bucket.status_code, no_bucket.text) == (404, "Bucket not found")
    assert patch(service, location, 0, b"0123456789").status_code == 204, "the same upload, asked properly, works"


def test_wrong_offset_is_a_conflict_and_changes_nothing(service: httpx.Client, bucket: str) -> None:
    location = create(service, bucket, "k", len(BODY)).headers["location"]
    assert patch(service, location, 0, BODY[:100]).status_code == 204
    for wrong in (0, 50, 200):
        response = patch(service, location, wrong, BODY[wrong : wrong + 100])
        assert (response.status_code, response.text) == (409, "Upload-Offset conflict\n")
        assert offset_of(service, location) == 100
    assert patch(service, location, 100, BODY[100:]).status_code == 204
    assert service.get(f"/object/{bucket}/k").content == BODY


def test_more_than_the_length_is_refused(service: httpx.Client, bucket: str) -> None:
    location = create(service, bucket, "k", 10).headers["location"]
    response = patch(service, location, 0, b"x" * 11)
    assert (response.status_code, response.text) == (413, "upload's size exceeded\n")
    assert offset_of(service, location) == 0
    assert patch(service, location, 0, b"x" * 10).status_code == 204


def wait_for_offset(client: httpx.Client, location: str, wanted: int) -> int:
    """HEAD until the server is at `wanted` (bytes in flight reach it a moment later), for 10 s at most."""
    offset = -1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        offset = offset_of(client, location)
        if offset == wanted:
            break
        time.sleep(0.02)
    return offset


def test_a_dropped_chunk_resumes_from_the_offset_head_gives(
    sandbox_emulator: EmulatorServer, service: httpx.Client, bucket: str
) -> None:
    location = create(service, bucket, "k", len(BODY)).headers["location"]
    head = (
        f"PATCH {urlsplit(location).path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {sandbox_emulator.service_role_key}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sandbox_emulator.port), timeout=10) as sock:
        sock.sendall(head.encode() + BODY[:5000])
        assert wait_for_offset(service, location, 5000) == 5000, "bytes are kept as they arrive"
    # The connection dropped with the rest of the chunk unsent: the server stays where it got.
    stale = patch(service, location, 0, BODY)
    assert stale.status_code == 409, "resending from the start is refused"
    assert offset_of(service, location) == 5000
    assert patch(service, location, 5000, BODY[5000:]).status_code == 204
    assert service.get(f"/object/{bucket}/k").content == BODY


def test_upsert_rules(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/taken", content=b"old")
    refused = create(service, bucket, "taken", 3)
    assert (refused.status_code, refused.text) == (409, "The resource already exists")
    assert upload(service, bucket, "taken", b"new", **{"x-upsert": "true"}).status_code == 204
    assert service.get(f"/object/{bucket}/taken").content == b"new"

    location = create(service, bucket, "raced", 3).headers["location"]
    service.post(f"/object/{bucket}/raced", content=b"first")
    late = patch(service, location, 0, b"two")
    assert (late.status_code, late.text) == (409, "The resource already exists")
    assert service.get(f"/object/{bucket}/raced").content == b"first", "an upload without upsert never overwrites"
    assert upload(service, bucket, "fresh", b"new").status_code == 204, "without upsert, a free key is written"


def test_authorisation(
    sandbox_emulator: EmulatorServer, service: httpx.Client, anon: httpx.Client, bucket: str
) -> None:
    refused = create(anon, bucket, "k", 3)
    assert (refused.status_code, refused.text) == (403, "new row violates row-level security policy")
    with storage_client(sandbox_emulator) as nobody:
        assert create(nobody, bucket, "k", 3).status_code == 403
    forged = sandbox_emulator.service_role_key[:-4] + "AAAA"
    with storage_client(sandbox_emulator, forged) as bad:
        response = create(bad, bucket, "k", 3)
    assert response.status_code == 400
    assert response.json() == error_body(403, "AccessDenied", "Unauthorized", "signature verification failed")
    location = create(service, bucket, "k", 3).headers["location"]
    assert patch(anon, location, 0, b"abc").status_code == 403
    assert offset_of(service, location) == 0
    with storage_client(sandbox_emulator, secret := sandbox_emulator.secret_key) as by_secret:
        assert secret.startswith("sb_secret_")
        assert patch(by_secret, location, 0, b"abc").status_code == 204


def test_terminate_and_options(service: httpx.Client, bucket: str) -> None:
    location = create(service, bucket, "k", 3).headers["location"]
    assert service.delete(location, headers=TUS).status_code == 204
    assert service.head(location, headers=TUS).status_code == 404
    done = create(service, bucket, "d", 3).headers["location"]
    assert patch(service, done, 0, b"abc").status_code == 204
    assert service.delete(done, headers=TUS).status_code == 409, "canUpload runs first: the object exists now"
    finished = service.delete(done, headers={**TUS, "x-upsert": "true"})
    assert (finished.status_code, finished.text) == (400, "Cannot terminate an already completed upload")
    options = service.options("/upload/resumable")
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    assert "creation" in options.headers["tus-extension"].split(",")


def test_deferred_length(service: httpx.Client, bucket: str) -> None:
    headers = {**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": metadata(bucket, "k")}
    location = service.post("/upload/resumable", headers=headers).headers["location"]
    assert patch(service, location, 0, BODY[:6000]).status_code == 204
    assert service.head(location, headers=TUS).headers["upload-defer-length"] == "1"
    assert service.get(f"/object/info/{bucket}/k").status_code == 400
    assert patch(service, location, 6000, BODY[6000:], **{"Upload-Length": str(len(BODY))}).status_code == 204
    assert service.get(f"/object/{bucket}/k").content == BODY


def test_signed_resumable_upload(service: httpx.Client, anon: httpx.Client, bucket: str) -> None:
    token = service.post(f"/object/upload/sign/{bucket}/k").json()["token"]
    headers = {**TUS, "Upload-Length": "3", "Upload-Metadata": metadata(bucket, "k")}
    unsigned = anon.post("/upload/resumable/sign", headers=headers)
    assert (unsigned.status_code, unsigned.text) == (400, "Missing x-signature header")
    created = anon.post("/upload/resumable/sign", headers={**headers, "x-signature": token})
    assert created.status_code == 201
    location = created.headers["location"]
    assert "/upload/resumable/sign/" in location
    assert patch(anon, location, 0, b"abc", **{"x-signature": token}).status_code == 204
    assert service.get(f"/object/{bucket}/k").content == b"abc"
    other = anon.post(
        "/upload/resumable/sign", headers={**headers, "x-signature": token, "Upload-Metadata": metadata(bucket, "j")}
    )
    assert other.status_code == 400, "a token is for its own object only"


def test_standard_upload_limit(limits: EmulatorServer, service: httpx.Client, bucket: str) -> None:
    limits.settings(standard_upload_limit=1000)
    too_large = service.post(f"/object/{bucket}/big", content=b"x" * 1001)
    assert too_large.status_code == 400
    assert too_large.json() == error_body(
        413, "EntityTooLarge", "Payload too large", "The object exceeded the maximum allowed size"
    )
    assert service.put(f"/object/{bucket}/big", content=b"x" * 1001).json()["code"] == "EntityTooLarge"
    assert service.post(f"/object/{bucket}/fits", content=b"x" * 1000).status_code == 200
    assert upload(service, bucket, "big", b"x" * 5000).status_code == 204, "resumable goes past it"
    limits.settings(standard_upload_limit=None)
    assert service.post(f"/object/{bucket}/big2", content=b"x" * 1001).status_code == 200


def test_resumable_uploads_keep_to_the_file_size_limit(limits: EmulatorServer, service: httpx.Client) -> None:
    limits.settings(file_size_limit=4000)
    bucket = new_bucket(service)
    response = create(service, bucket, "k", 4001)
    assert (response.status_code, response.text) == (413, "Maximum size exceeded\n")
    small = new_bucket(service, file_size_limit=100)
    assert create(service, small, "k", 101).status_code == 413, "and to the bucket's"
    assert create(service, small, "k", 100).status_code == 201


def test_resumable_switched_off(limits: EmulatorServer, service: httpx.Client, bucket: str) -> None:
    limits.settings(resumable=False)
    response = create(service, bucket, "k", 3)
    assert response.status_code == 404
    assert response.json()["message"] == "Route POST:/storage/v1/upload/resumable not found"
    limits.settings(resumable=True)
    assert create(service, bucket, "k", 3).status_code == 201


def test_requests_are_counted_by_route(limits: EmulatorServer, service: httpx.Client, bucket: str) -> None:
    limits.reset_stats()
    location = create(service, bucket, "k", 3).headers["location"]
    offset_of(service, location)
    patch(service, location, 0, b"abc")
    service.options("/upload/resumable")
    routes = limits.stats()["by_route"]
    assert routes == {
        "POST upload/resumable": 1,
        "HEAD upload/resumable": 1,
        "PATCH upload/resumable": 1,
        "OPTIONS upload/resumable": 1,
    }


def test_settings_and_flag() -> None:
    assert EmulatorSettings().standard_limit() == EmulatorSettings().file_size_limit
    assert EmulatorSettings(standard_upload_limit=10).standard_limit() == 10
    assert EmulatorSettings(standard_upload_limit=0).standard_limit() == EmulatorSettings().file_size_limit
    with pytest.raises(SettingsError):
        EmulatorSettings(standard_upload_limit=-1)
    settings = EmulatorSettings()
    with pytest.raises(SettingsError, match="standard_upload_limit"):
        settings.update({"standard_upload_limit": "1 MB"})
    with pytest.raises(SettingsError, match="resumable"):
        settings.update({"resumable": "no"})
    settings.update({"standard_upload_limit": 5, "resumable": False})
    assert (settings.standard_upload_limit, settings.resumable) == (5, False)

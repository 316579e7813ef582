"""Reading, writing, deleting, moving and copying objects through the emulator."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from urllib.parse import quote

import httpx
import pytest
from tests.sandbox.supabase_emulator_helpers import error_body, new_bucket

NO_SUCH_KEY = error_body(404, "NoSuchKey", "not_found", "Object not found")
NO_SUCH_BUCKET = error_body(404, "NoSuchBucket", "Bucket not found", "Bucket not found")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - the ETag is an MD5 by definition


def test_upload_answers_id_and_key(service: httpx.Client, bucket: str) -> None:
    response = service.post(f"/object/{bucket}/dir/cat.png", content=b"meow", headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"Id", "Key"}
    assert UUID.match(body["Id"])
    assert body["Key"] == f"{bucket}/dir/cat.png"


def test_download_headers(service: httpx.Client, bucket: str) -> None:
    data = b"0123456789"
    service.post(
        f"/object/{bucket}/file.bin",
        content=data,
        headers={"Content-Type": "application/x-thing", "Cache-Control": "public, max-age=60"},
    )
    response = service.get(f"/object/{bucket}/file.bin")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/x-thing"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["etag"] == md5_etag(data)
    assert response.headers["content-length"] == "10"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["last-modified"].endswith(" GMT")
    assert "content-disposition" not in response.headers
    authenticated = service.get(f"/object/authenticated/{bucket}/file.bin")
    assert authenticated.content == data


def test_defaults_for_content_type_and_cache_control(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/plain", content=b"x", headers={"Content-Type": ""})
    response = service.get(f"/object/{bucket}/plain")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == "no-cache"


def test_html_is_served_as_text(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/page.html", content=b"<b>hi</b>", headers={"Content-Type": "text/html"})
    assert service.get(f"/object/{bucket}/page.html").headers["content-type"] == "text/plain"


def test_info_has_the_documented_fields(service: httpx.Client, bucket: str) -> None:
    metadata = {"owner": "alice", "n": 3}
    encoded = base64.b64encode(json.dumps(metadata).encode()).decode()
    uploaded = service.post(
        f"/object/{bucket}/a/b.txt",
        content=b"hello",
        headers={"Content-Type": "text/plain", "x-metadata": encoded, "Cache-Control": "max-age=5"},
    ).json()
    info = service.get(f"/object/info/{bucket}/a/b.txt")
    assert info.status_code == 200
    body = info.json()
    assert set(body) == {
        "id",
        "name",
        "version",
        "bucket_id",
        "size",
        "content_type",
        "cache_control",
        "etag",
        "metadata",
        "last_modified",
        "created_at",
    }
    assert body["id"] == uploaded["Id"]
    assert body["name"] == "a/b.txt"
    assert body["bucket_id"] == bucket
    assert body["size"] == 5
    assert body["content_type"] == "text/plain"
    assert body["cache_control"] == "max-age=5"
    assert body["etag"] == md5_etag(b"hello")
    assert body["metadata"] == metadata
    assert UUID.match(body["version"])
    assert service.get(f"/object/info/authenticated/{bucket}/a/b.txt").json() == body
    assert service.get(f"/object/info/{bucket}/nope").json() == NO_SUCH_KEY


def test_user_metadata_defaults_to_empty(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/m", content=b"m")
    assert service.get(f"/object/info/{bucket}/m").json()["metadata"] == {}


def test_create_refuses_an_existing_key_unless_upsert(service: httpx.Client, bucket: str) -> None:
    first = service.post(f"/object/{bucket}/k", content=b"one").json()
    duplicate = service.post(f"/object/{bucket}/k", content=b"two")
    assert duplicate.status_code == 400
    assert duplicate.json() == error_body(409, "KeyAlreadyExists", "Duplicate", "The resource already exists")
    assert service.get(f"/object/{bucket}/k").content == b"one"
    upserted = service.post(f"/object/{bucket}/k", content=b"three", headers={"x-upsert": "true"})
    assert upserted.status_code == 200
    assert upserted.json()["Id"] == first["Id"]
    assert service.get(f"/object/{bucket}/k").content == b"three"
    assert service.post(f"/object/{bucket}/k", content=b"no", headers={"x-upsert": "false"}).status_code == 400


def test_put_always_overwrites_and_creates(service: httpx.Client, bucket: str) -> None:
    created = service.put(f"/object/{bucket}/p", content=b"new")
    assert created.status_code == 200
    version = service.get(f"/object/info/{bucket}/p").json()["version"]
    service.put(f"/object/{bucket}/p", content=b"newer")
    assert service.get(f"/object/{bucket}/p").content == b"newer"
    assert service.get(f"/object/info/{bucket}/p").json()["version"] != version


def test_multipart_upload(service: httpx.Client, bucket: str) -> None:
    data = bytes(range(256)) * 4000
    response = service.post(
        f"/object/{bucket}/form/blob.bin",
        data={"cacheControl": "3600", "metadata": json.dumps({"from": "form"})},
        files={"": ("blob", data, "image/webp")},
    )
    assert response.status_code == 200, response.text
    info = service.get(f"/object/info/{bucket}/form/blob.bin").json()
    assert info["size"] == len(data)
    assert info["content_type"] == "image/webp"
    assert info["cache_control"] == "max-age=3600"
    assert info["metadata"] == {"from": "form"}
    assert info["etag"] == md5_etag(data)
    assert service.get(f"/object/{bucket}/form/blob.bin").content == data


def test_multipart_content_type_field_wins(service: httpx.Client, bucket: str) -> None:
    service.post(
        f"/object/{bucket}/form/typed",
        data={"contentType": "text/csv"},
        files={"file": ("typed", b"a,b", "application/octet-stream")},
    )
    info = service.get(f"/object/info/{bucket}/form/typed").json()
    assert info["content_type"] == "text/csv"
    assert info["cache_control"] == "no-cache"


def test_multipart_without_a_file_part(service: httpx.Client, bucket: str) -> None:
    response = service.post(f"/object/{bucket}/form/none", files={"cacheControl": (None, "60")})
    assert response.status_code == 400
    assert response.json() == error_body(400, "InvalidRequest", "InvalidRequest", "No content provided")


@pytest.mark.parametrize("key", ["naïve.txt", "日本.png", "tab\there", "back\\slash", "percent%"])
def test_invalid_keys_are_refused(service: httpx.Client, bucket: str, key: str) -> None:
    response = service.post(f"/object/{bucket}/{quote(key)}", content=b"x")
    assert response.status_code == 400
    assert response.json() == error_body(400, "InvalidKey", "InvalidKey", f"Invalid key: {key}")
    assert service.get(f"/object/{bucket}/{quote(key)}").json()["code"] == "InvalidKey"


def test_every_allowed_key_character(service: httpx.Client, bucket: str) -> None:
    key = "Az09_/!-.*'() &$@=;:+,?"
    response = service.post(f"/object/{bucket}/{key.replace('?', '%3F')}", content=b"ok")
    assert response.status_code == 200, response.text
    assert response.json()["Key"] == f"{bucket}/{key}"
    assert service.get(f"/object/{bucket}/{key.replace('?', '%3F')}").content == b"ok"


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=-50", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=0-1,4-5", 200, b"0123456789", None),
    ],
)
def test_ranges(
    service: httpx.Client, bucket: str, header: str, status: int, body: bytes, content_range: str | None
) -> None:
    service.post(f"/object/{bucket}/digits", content=b"0123456789")
    response = service.get(f"/object/{bucket}/digits", headers={"Range": header})
    assert response.status_code == status
    assert response.content == body
    assert response.headers.get("content-range") == content_range
    assert response.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=20-30", "bytes=5-2", "bytes=-0", "bytes=x-y"])
def test_unsatisfiable_ranges_are_416(service: httpx.Client, bucket: str, header: str) -> None:
    service.post(f"/object/{bucket}/digits", content=b"0123456789")
    response = service.get(f"/object/{bucket}/digits", headers={"Range": header})
    assert response.status_code == 416
    assert response.json() == error_body(416, "InvalidRange", "invalid_range", "invalid range provided")
    assert response.headers["content-range"] == "bytes */10"


def test_download_parameter(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/d.txt", content=b"d")
    plain = service.get(f"/object/{bucket}/d.txt", params={"download": ""})
    assert plain.headers["content-disposition"] == "attachment;"
    named = service.get(f"/object/{bucket}/d.txt?download=my file (1).txt")
    assert named.headers["content-disposition"] == (
        "attachment; filename=my%20file%20(1).txt; filename*=UTF-8''my%20file%20(1).txt;"
    )


def test_head(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/h.txt", content=b"head!", headers={"Content-Type": "text/plain"})
    response = service.head(f"/object/{bucket}/h.txt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "5"
    assert response.headers["etag"] == md5_etag(b"head!")
    assert response.headers["content-type"] == "text/plain"
    missing = service.head(f"/object/{bucket}/nothing-here")
    assert missing.status_code == 400
    assert missing.content == b""


def test_missing_object_and_bucket(service: httpx.Client, bucket: str) -> None:
    response = service.get(f"/object/{bucket}/missing")
    assert response.status_code == 400
    assert response.json() == NO_SUCH_KEY
    assert service.get("/object/no-such-bucket-here/x").json() == NO_SUCH_BUCKET
    assert service.post("/object/no-such-bucket-here/x", content=b"x").json() == NO_SUCH_BUCKET


def test_conditional_get(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/c", content=b"cached")
    etag = service.get(f"/object/{bucket}/c").headers["etag"]
    assert service.get(f"/object/{bucket}/c", headers={"If-None-Match": etag}).status_code == 304


def test_empty_folder_placeholder_must_be_empty(service: httpx.Client, bucket: str) -> None:
    assert service.post(f"/object/{bucket}/dir/.emptyFolderPlaceholder", content=b"").status_code == 200
    refused = service.post(f"/object/{bucket}/other/.emptyFolderPlaceholder", content=b"x")
    assert refused.json()["code"] == "EntityTooLarge"


def test_delete_one(service: httpx.Client, bucket: str) -> None:
    service.post(f"/object/{bucket}/gone", content=b"x")
    assert service.delete(f"/object/{bucket}/gone").json() == {"message": "Successfully deleted"}
    assert service.get(f"/object/{bucket}/gone").json() == NO_SUCH_KEY
    again = service.delete(f"/object/{bucket}/gone")
    assert again.status_code == 400
    assert again.json() == NO_SUCH_KEY


def test_delete_many_returns_the_deleted_rows(service: httpx.Client, bucket: str) -> None:
    for key in ("x/1", "x/2"):
        service.post(f"/object/{bucket}/{key}", content=key.encode())
    response = service.request("DELETE", f"/object/{bucket}", json={"prefixes": ["x/1", "x/2", "x/missing"]})
    assert response.status_code == 200
    rows = response.json()
    assert sorted(row["name"] for row in rows) == ["x/1", "x/2"]
    assert set(rows[0]) == {
        "name",
        "bucket_id",
        "owner",
        "owner_id",
        "version",
        "id",
        "updated_at",
        "created_at",
        "last_accessed_at",
        "metadata",
        "user_metadata",
    }
    assert rows[0]["bucket_id"] == bucket
    assert rows[0]["owner"] == ""
    assert service.request("DELETE", f"/object/{bucket}", json={"prefixes": []}).status_code == 400


def test_move_within_and_across_buckets(service: httpx.Client, bucket: str) -> None:
    other = new_bucket(service)
    uploaded = service.post(f"/object/{bucket}/src.txt", content=b"moving").json()
    moved = service.post("/object/move", json={"bucketId": bucket, "sourceKey": "src.txt", "destinationKey": "dst.txt"})
    assert moved.json() == {"message": "Successfully moved"}
    assert service.get(f"/object/{bucket}/src.txt").json() == NO_SUCH_KEY
    assert service.get(f"/object/{bucket}/dst.txt").content == b"moving"
    assert service.get(f"/object/info/{bucket}/dst.txt").json()["id"] == uploaded["Id"]
    service.post(
        "/object/move",
        json={"bucketId": bucket, "sourceKey": "dst.txt", "destinationBucket": other, "destinationKey": "far.txt"},
    )
    assert service.get(f"/object/{other}/far.txt").content == b"moving"
    missing = service.post("/object/move", json={"bucketId": bucket, "sourceKey": "nope", "destinationKey": "x"})
    assert missing.json() == NO_SUCH_KEY
    service.post(f"/object/{other}/taken.txt", content=b"t")
    taken = service.post(
        "/object/move", json={"bucketId": other, "sourceKey": "far.txt", "destinationKey": "taken.txt"}
    )
    assert taken.json() == error_body(409, "ResourceAlreadyExists", "Duplicate", "The resource already exists")


def test_copy(service: httpx.Client, bucket: str) -> None:
    encoded = base64.b64encode(b'{"k": "v"}').decode()
    service.post(
        f"/object/{bucket}/orig.txt",
        content=b"copy me",
        headers={"Content-Type": "text/plain", "x-metadata": encoded},
    )
    copied = service.post("/object/copy", json={"bucketId": bucket, "sourceKey": "orig.txt", "destinationKey": "c.txt"})
    assert copied.status_code == 200
    body = copied.json()
    assert body["Key"] == f"{bucket}/c.txt"
    assert body["Id"] == body["id"]
    assert body["name"] == "c.txt"
    assert body["metadata"]["mimetype"] == "text/plain"
    assert body["metadata"]["eTag"] == md5_etag(b"copy me")
    assert body["user_metadata"] == {"k": "v"}
    assert service.get(f"/object/{bucket}/c.txt").content == b"copy me"
    assert service.get(f"/object/{bucket}/orig.txt").content == b"copy me"

    duplicate = service.post(
        "/object/copy", json={"bucketId": bucket, "sourceKey": "orig.txt", "destinationKey": "c.txt"}
    )
    assert duplicate.json()["code"] == "KeyAlreadyExists"
    overwritten = service.post(
        "/object/copy",
        json={
            "bucketId": bucket,
            "sourceKey": "orig.txt",
            "destinationKey": "c.txt",
            "copyMetadata": False,
            "metadata": {"mimetype": "application/json", "cacheControl": "max-age=9"},
        },
        headers={"x-upsert": "true"},
    )
    assert overwritten.status_code == 200
    info = service.get(f"/object/info/{bucket}/c.txt").json()
    assert info["content_type"] == "application/json"
    assert info["cache_control"] == "max-age=9"
    assert info["metadata"] is None


def test_copy_to_another_bucket(service: httpx.Client, bucket: str) -> None:
    other = new_bucket(service)
    service.post(f"/object/{bucket}/x", content=b"x")
    response = service.post(
        "/object/copy",
        json={"bucketId": bucket, "sourceKey": "x", "destinationBucket": other, "destinationKey": "y"},
    )
    assert response.json()["Key"] == f"{other}/y"
    assert service.get(f"/object/{other}/y").content == b"x"
    missing = service.post(
        "/object/copy",
        json={
            "bucketId": bucket,
            "sourceKey": "x",
            "destinationBucket": f"nope-{uuid.uuid4().hex}",
            "destinationKey": "y",
        },
    )
    assert missing.json()["statusCode"] == "404"


def test_unknown_route_is_a_fastify_404(service: httpx.Client) -> None:
    response = service.get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {
        "message": "Route GET:/storage/v1/nothing/here not found",
        "error": "Not Found",
        "statusCode": 404,
    }

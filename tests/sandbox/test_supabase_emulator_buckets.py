"""Bucket routes of the emulator, compared with the shapes the real server sends."""

from __future__ import annotations

import re
import uuid

import httpx
from tests.sandbox.supabase_emulator_helpers import error_body, new_bucket

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_SUCH_BUCKET = error_body(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def test_created_bucket_lists_with_every_field(service: httpx.Client) -> None:
    name = f"shape-{uuid.uuid4().hex[:8]}"
    created = service.post(
        "/bucket",
        json={"name": name, "public": True, "file_size_limit": "1.5MB", "allowed_mime_types": ["image/*", ""]},
    )
    assert created.status_code == 200
    assert created.json() == {"name": name}

    listed = [item for item in service.get("/bucket").json() if item["id"] == name]
    assert len(listed) == 1
    item = listed[0]
    assert set(item) == {
        "id",
        "name",
        "owner",
        "public",
        "type",
        "file_size_limit",
        "allowed_mime_types",
        "created_at",
        "updated_at",
    }
    assert item["name"] == name
    assert item["owner"] == ""
    assert item["public"] is True
    assert item["type"] == "STANDARD"
    assert item["file_size_limit"] == 1_500_000
    assert item["allowed_mime_types"] == ["image/*"]
    assert ISO.match(item["created_at"])
    assert ISO.match(item["updated_at"])
    assert service.get(f"/bucket/{name}").json() == item


def test_bucket_id_may_differ_from_name(service: httpx.Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    response = service.post("/bucket", json={"name": f"name-{suffix}", "id": f"id-{suffix}"})
    assert response.json() == {"name": f"name-{suffix}"}
    assert service.get(f"/bucket/id-{suffix}").json()["name"] == f"name-{suffix}"


def test_duplicate_bucket_is_409_in_a_400(service: httpx.Client) -> None:
    name = new_bucket(service)
    response = service.post("/bucket", json={"name": name})
    assert response.status_code == 400
    assert response.json() == error_body(409, "BucketAlreadyExists", "Duplicate", "The resource already exists")


def test_bucket_names_are_validated(service: httpx.Client) -> None:
    for bad in ["a/b", "x" * 101, "café", ""]:
        response = service.post("/bucket", json={"name": bad})
        assert response.status_code == 400
        assert response.json() == error_body(400, "InvalidBucketName", "Invalid Input", "Bucket name invalid")
    ok = "A-z_0.9!*'() &$@=;:+,?" + uuid.uuid4().hex[:6]
    assert service.post("/bucket", json={"name": ok}).status_code == 200


def test_missing_name_is_a_validation_error(service: httpx.Client) -> None:
    response = service.post("/bucket", json={"public": True})
    assert response.status_code == 400
    assert response.json()["statusCode"] == "400"
    assert "name" in response.json()["message"]


def test_bucket_list_query_parameters(service: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"q{tag}-{letter}" for letter in "cab"]
    for name in names:
        service.post("/bucket", json={"name": name})
    found = service.get("/bucket", params={"search": tag.upper(), "sortColumn": "name", "sortOrder": "asc"}).json()
    assert [item["name"] for item in found] == sorted(names)
    desc = service.get("/bucket", params={"search": tag, "sortColumn": "name", "sortOrder": "desc"}).json()
    assert [item["name"] for item in desc] == sorted(names, reverse=True)
    page = service.get(
        "/bucket", params={"search": tag, "sortColumn": "name", "sortOrder": "asc", "limit": 2, "offset": 1}
    ).json()
    assert [item["name"] for item in page] == sorted(names)[1:3]
    bad = service.get("/bucket", params={"sortColumn": "size"})
    assert bad.status_code == 400


def test_missing_bucket(service: httpx.Client) -> None:
    response = service.get("/bucket/does-not-exist")
    assert response.status_code == 400
    assert response.json() == NO_SUCH_BUCKET


def test_update_bucket(service: httpx.Client) -> None:
    name = new_bucket(service)
    response = service.put(f"/bucket/{name}", json={"public": True, "file_size_limit": 1000})
    assert response.json() == {"message": "Successfully updated"}
    item = service.get(f"/bucket/{name}").json()
    assert item["public"] is True
    assert item["file_size_limit"] == 1000
    service.put(f"/bucket/{name}", json={"file_size_limit": None, "allowed_mime_types": ["text/plain"]})
    item = service.get(f"/bucket/{name}").json()
    assert item["public"] is True
    assert item["file_size_limit"] is None
    assert item["allowed_mime_types"] == ["text/plain"]
    assert service.put("/bucket/nope-nope", json={"public": True}).json() == NO_SUCH_BUCKET


def test_delete_refuses_a_bucket_with_objects_then_empty_and_delete(service: httpx.Client) -> None:
    name = new_bucket(service)
    service.post(f"/object/{name}/a.txt", content=b"a")
    service.post(f"/object/{name}/dir/b.txt", content=b"b")
    refused = service.delete(f"/bucket/{name}")
    assert refused.status_code == 400
    assert refused.json() == error_body(
        409, "ResourceNotEmpty", "ResourceNotEmpty", "The bucket you tried to delete is not empty"
    )
    assert service.post(f"/bucket/{name}/empty").json() == {"message": "Successfully emptied"}
    assert service.post(f"/object/list/{name}", json={"prefix": ""}).json() == []
    assert service.delete(f"/bucket/{name}").json() == {"message": "Successfully deleted"}
    assert service.get(f"/bucket/{name}").json() == NO_SUCH_BUCKET
    assert service.delete(f"/bucket/{name}").json() == NO_SUCH_BUCKET


def test_bucket_file_size_limit_is_enforced(service: httpx.Client) -> None:
    name = new_bucket(service, file_size_limit=10)
    assert service.post(f"/object/{name}/ten", content=b"0123456789").status_code == 200
    response = service.post(f"/object/{name}/eleven", content=b"0123456789A")
    assert response.status_code == 400
    assert response.json() == error_body(
        413, "EntityTooLarge", "Payload too large", "The object exceeded the maximum allowed size"
    )
    assert service.get(f"/object/{name}/eleven").json()["code"] == "NoSuchKey"


def test_bucket_limit_above_server_limit_is_refused(service: httpx.Client) -> None:
    response = service.post("/bucket", json={"name": f"big-{uuid.uuid4().hex[:6]}", "file_size_limit": "6GB"})
    assert response.json()["code"] == "EntityTooLarge"
    bad_unit = service.post("/bucket", json={"name": f"unit-{uuid.uuid4().hex[:6]}", "file_size_limit": "5 parsecs"})
    assert bad_unit.json() == error_body(
        400, "InvalidRequest", "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"
    )


def test_allowed_mime_types_are_enforced(service: httpx.Client) -> None:
    name = new_bucket(service, allowed_mime_types=["image/*", "application/pdf"])
    ok = service.post(f"/object/{name}/a.png", content=b"png", headers={"Content-Type": "image/png"})
    assert ok.status_code == 200
    assert service.post(f"/object/{name}/a.pdf", content=b"%PDF", headers={"Content-Type": "application/pdf"})
    refused = service.post(f"/object/{name}/a.txt", content=b"text", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 400
    assert refused.json() == error_body(
        415, "InvalidMimeType", "invalid_mime_type", "mime type text/plain is not supported"
    )
    placeholder = service.post(f"/object/{name}/dir/.emptyFolderPlaceholder", content=b"")
    assert placeholder.status_code == 200


def test_invalid_allowed_mime_type_is_refused(service: httpx.Client) -> None:
    response = service.post("/bucket", json={"name": f"m-{uuid.uuid4().hex[:6]}", "allowed_mime_types": ["nope"]})
    assert response.json() == error_body(415, "InvalidMimeType", "invalid_mime_type", "mime type nope is not supported")

"""Legacy and list-v2 listings: shapes, order, paging and the limits a migration tool trips on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.sandbox.supabase_emulator_helpers import bulk_upload, error_body, new_bucket, storage_client

from bucketshift_sandbox.servers import EmulatorServer

FILE_FIELDS = {"name", "id", "updated_at", "created_at", "last_accessed_at", "metadata"}
METADATA_FIELDS = {"eTag", "size", "mimetype", "cacheControl", "lastModified", "contentLength", "httpStatusCode"}
BIG = 1510


@pytest.fixture(scope="module")
def big_bucket(sandbox_emulator: EmulatorServer) -> Iterator[str]:
    """``big/`` holds BIG files and three sub-folders; a few files sit at the root."""
    with storage_client(sandbox_emulator, sandbox_emulator.service_role_key) as client:
        bucket = new_bucket(client)
        keys = [f"big/f{index:05d}.txt" for index in range(BIG)]
        keys += [f"big/sub{index}/inner.txt" for index in range(3)]
        keys += ["root-a.txt", "root-b.txt", "big/sub0/deeper/x.txt"]
        bulk_upload(sandbox_emulator, bucket, keys)
        yield bucket


@pytest.fixture
def small_bucket(sandbox_emulator: EmulatorServer, service: httpx.Client) -> str:
    bucket = new_bucket(service)
    keys = ["B.txt", "a.txt", "_under.txt", "Zeta/one.txt", "alpha/two.txt", "alpha/deep/three.txt", "alpha.txt"]
    keys += ["docs/Report.PDF", "docs/readme.md", "docs/rEsume.txt"]
    bulk_upload(sandbox_emulator, bucket, keys)
    assert service.post(f"/object/{bucket}/docs/.emptyFolderPlaceholder", content=b"").status_code == 200
    return bucket


def legacy(client: httpx.Client, bucket: str, **body: object) -> list[dict[str, object]]:
    response = client.post(f"/object/list/{bucket}", json={"prefix": "", **body})
    assert response.status_code == 200, response.text
    return list(response.json())


def test_legacy_entries(service: httpx.Client, small_bucket: str) -> None:
    items = legacy(service, small_bucket)
    folders = [item for item in items if item["id"] is None]
    files = [item for item in items if item["id"] is not None]
    assert {item["name"] for item in folders} == {"Zeta", "alpha", "docs"}
    for folder in folders:
        assert folder == {
            "name": folder["name"],
            "id": None,
            "updated_at": None,
            "created_at": None,
            "last_accessed_at": None,
            "metadata": None,
        }
    for item in files:
        assert set(item) == FILE_FIELDS
        metadata = item["metadata"]
        assert isinstance(metadata, dict)
        assert set(metadata) == METADATA_FIELDS
        assert metadata["eTag"].startswith('"')
        assert metadata["httpStatusCode"] == 200


def test_legacy_order_is_lowercase_byte_order_with_folders_interleaved(
    service: httpx.Client, small_bucket: str
) -> None:
    names = [item["name"] for item in legacy(service, small_bucket)]
    # Rows are ordered by their whole lowercased key, so "alpha.txt" ('.' < '/') precedes folder "alpha".
    assert names == ["_under.txt", "a.txt", "alpha.txt", "alpha", "B.txt", "docs", "Zeta"]
    descending = [item["name"] for item in legacy(service, small_bucket, sortBy={"column": "name", "order": "desc"})]
    assert descending == list(reversed(names))


def test_legacy_prefix_is_one_level_and_relative(service: httpx.Client, small_bucket: str) -> None:
    names = [item["name"] for item in legacy(service, small_bucket, prefix="alpha")]
    assert names == ["deep", "two.txt"]
    assert [item["name"] for item in legacy(service, small_bucket, prefix="alpha/")] == names
    docs = [item["name"] for item in legacy(service, small_bucket, prefix="docs")]
    assert docs == [".emptyFolderPlaceholder", "readme.md", "Report.PDF", "rEsume.txt"]


def test_legacy_search_is_a_case_insensitive_prefix(service: httpx.Client, small_bucket: str) -> None:
    found = [item["name"] for item in legacy(service, small_bucket, prefix="docs", search="RE")]
    assert found == ["readme.md", "Report.PDF", "rEsume.txt"]
    assert [item["name"] for item in legacy(service, small_bucket, search="AL")] == ["alpha.txt", "alpha"]
    assert legacy(service, small_bucket, prefix="docs", search="adme") == []


def test_legacy_sort_by_timestamp_puts_folders_first(service: httpx.Client, small_bucket: str) -> None:
    items = legacy(service, small_bucket, sortBy={"column": "created_at", "order": "desc"})
    kinds = ["folder" if item["id"] is None else "file" for item in items]
    assert kinds == ["folder"] * 3 + ["file"] * 4
    assert [item["name"] for item in items[:3]] == ["docs", "alpha", "Zeta"]


def test_legacy_default_limit_and_cap(service: httpx.Client, big_bucket: str) -> None:
    assert len(legacy(service, big_bucket, prefix="big")) == 100
    assert len(legacy(service, big_bucket, prefix="big", limit=5000)) == 1500


def test_legacy_paging_sees_everything_once(service: httpx.Client, big_bucket: str) -> None:
    seen: list[str] = []
    offset = 0
    pages = 0
    while True:
        page = legacy(service, big_bucket, prefix="big/", limit=1000, offset=offset)
        pages += 1
        seen += [str(item["name"]) for item in page]
        if len(page) < 1000:
            break
        offset += len(page)
    assert pages == 2
    assert len(seen) == BIG + 3
    assert len(set(seen)) == len(seen)
    assert seen[-3:] == ["sub0", "sub1", "sub2"]
    assert sorted(seen, key=str.lower) == seen


def test_legacy_bad_body(service: httpx.Client, bucket: str) -> None:
    response = service.post(f"/object/list/{bucket}", json={"limit": 10})
    assert response.status_code == 400
    assert response.json()["message"] == "body must have required property 'prefix'"
    assert service.post(f"/object/list/{bucket}", json={"prefix": "", "limit": 0}).status_code == 400


def test_listing_a_missing_bucket_is_empty(service: httpx.Client) -> None:
    assert legacy(service, "no-such-bucket-anywhere") == []


def v2(client: httpx.Client, bucket: str, **body: object) -> dict[str, object]:
    response = client.post(f"/object/list-v2/{bucket}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_v2_flat_scan_is_recursive_in_byte_order(service: httpx.Client, small_bucket: str) -> None:
    result = v2(service, small_bucket)
    assert result["hasNext"] is False
    assert "nextCursor" not in result
    assert result["folders"] == []
    objects = result["objects"]
    assert isinstance(objects, list)
    names = [item["name"] for item in objects]
    assert names == sorted(names)
    assert names[0] == "B.txt"
    assert "alpha/deep/three.txt" in names
    assert set(objects[0]) == {"id", "name", "metadata", "updated_at", "created_at", "last_accessed_at"}
    assert set(objects[0]["metadata"]) == METADATA_FIELDS


def test_v2_prefix_is_case_sensitive(service: httpx.Client, small_bucket: str) -> None:
    result = v2(service, small_bucket, prefix="docs/R")
    assert [item["name"] for item in result["objects"]] == ["docs/Report.PDF"]


def test_v2_with_delimiter(service: httpx.Client, small_bucket: str) -> None:
    result = v2(service, small_bucket, with_delimiter=True)
    assert [folder["name"] for folder in result["folders"]] == ["Zeta/", "alpha/", "docs/"]
    assert result["folders"][0] == {
        "id": None,
        "name": "Zeta/",
        "bucket_id": small_bucket,
        "updated_at": None,
        "created_at": None,
        "last_accessed_at": None,
    }
    assert [item["name"] for item in result["objects"]] == ["B.txt", "_under.txt", "a.txt", "alpha.txt"]
    first = result["objects"][0]
    assert set(first) == FILE_FIELDS | {"key"}
    assert first["key"] == "B.txt"
    nested = v2(service, small_bucket, prefix="alpha/", with_delimiter=True)
    assert [folder["name"] for folder in nested["folders"]] == ["alpha/deep/"]
    assert [(item["key"], item["name"]) for item in nested["objects"]] == [("two.txt", "alpha/two.txt")]


def test_v2_cursor_paging_flat(service: httpx.Client, big_bucket: str) -> None:
    first = v2(service, big_bucket)
    assert len(first["objects"]) == 1000
    assert first["hasNext"] is True
    assert first["nextCursorKey"] == first["objects"][-1]["name"]
    capped = v2(service, big_bucket, limit=5000)
    assert len(capped["objects"]) == 1000
    names: list[str] = []
    cursor = None
    while True:
        page = v2(service, big_bucket, limit=700, cursor=cursor) if cursor else v2(service, big_bucket, limit=700)
        names += [item["name"] for item in page["objects"]]
        if not page["hasNext"]:
            assert "nextCursor" not in page
            break
        cursor = page["nextCursor"]
    assert len(names) == BIG + 6
    assert names == sorted(set(names))


def test_v2_cursor_paging_with_delimiter_skips_folders_once(service: httpx.Client, big_bucket: str) -> None:
    entries: list[str] = []
    cursor = None
    while True:
        body: dict[str, object] = {"prefix": "big/", "with_delimiter": True, "limit": 333}
        if cursor:
            body["cursor"] = cursor
        page = v2(service, big_bucket, **body)
        entries += [folder["name"] for folder in page["folders"]]
        entries += [item["name"] for item in page["objects"]]
        if not page["hasNext"]:
            break
        cursor = page["nextCursor"]
    assert len(entries) == BIG + 3
    assert len(set(entries)) == len(entries)
    assert sorted(name for name in entries if name.endswith("/")) == ["big/sub0/", "big/sub1/", "big/sub2/"]
    root = v2(service, big_bucket, with_delimiter=True)
    assert [folder["name"] for folder in root["folders"]] == ["big/"]
    assert [item["name"] for item in root["objects"]] == ["root-a.txt", "root-b.txt"]


def test_v2_descending_and_timestamp_sorts(service: httpx.Client, small_bucket: str) -> None:
    flat = v2(service, small_bucket, sortBy={"column": "name", "order": "desc"})
    names = [item["name"] for item in flat["objects"]]
    assert names == sorted(names, reverse=True)
    by_time = v2(service, small_bucket, sortBy={"column": "created_at", "order": "asc"}, limit=3)
    stamps = [item["created_at"] for item in by_time["objects"]]
    assert stamps == sorted(stamps)
    rest = v2(service, small_bucket, cursor=by_time["nextCursor"], limit=100)
    assert len(by_time["objects"]) + len(rest["objects"]) == 11


def test_v2_bad_cursor(service: httpx.Client, small_bucket: str) -> None:
    response = service.post(f"/object/list-v2/{small_bucket}", json={"cursor": "bm9wZQ=="})
    assert response.status_code == 400
    assert response.json() == error_body(
        400, "InvalidParameter", "InvalidParameter", "Invalid Parameter continuation token"
    )


def test_v2_can_be_switched_off_like_older_projects(
    service: httpx.Client, admin: httpx.Client, small_bucket: str
) -> None:
    assert admin.put("/settings", json={"list_v2": False}).json()["list_v2"] is False
    response = service.post(f"/object/list-v2/{small_bucket}", json={})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": "400",
        "code": "FeatureNotEnabled",
        "error": "FeatureNotEnabled",
        "message": "This feature is not available for your tenant",
    }
    assert len(legacy(service, small_bucket)) == 7

"""The emulator with ``--catalog-dsn``: its rows are real ``storage.buckets``/``storage.objects`` rows.

The rest of the emulator suite runs against both catalogs; these tests look at the database
itself, as bucketshift's ``storage.objects`` listing does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from tests.sandbox.supabase_emulator_helpers import new_bucket, scratch_database, storage_client

from bucketshift.stores.supabase_catalog import StorageCatalog
from bucketshift_sandbox.servers import EmulatorServer, PostgresCluster, run_emulator
from bucketshift_sandbox.supabase.__main__ import main as emulator_main
from bucketshift_sandbox.supabase.catalog import iso_timestamp
from bucketshift_sandbox.supabase.keys import DEFAULT_JWT_SECRET, make_jwt
from bucketshift_sandbox.supabase.pg_catalog import PostgresCatalog

METADATA_FIELDS = {"eTag", "size", "mimetype", "cacheControl", "lastModified", "contentLength", "httpStatusCode"}


@dataclass
class PgEmulator:
    server: EmulatorServer
    dsn: str
    client: httpx.Client

    def rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def pg(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgEmulator]:
    with (
        scratch_database(postgres.dsn) as dsn,
        run_emulator(tmp_path_factory.mktemp("pg-emulator"), catalog_dsn=dsn) as server,
        storage_client(server, server.service_role_key) as client,
    ):
        yield PgEmulator(server, dsn, client)


def object_rows(pg: PgEmulator, bucket: str) -> list[dict[str, Any]]:
    return pg.rows(
        "SELECT id::text AS id, bucket_id, name, owner::text AS owner, owner_id, version, metadata,"
        " metadata->>'size' AS size, metadata->>'mimetype' AS mimetype, user_metadata, path_tokens,"
        ' created_at, updated_at FROM storage.objects WHERE bucket_id = %s ORDER BY name COLLATE "C"',
        bucket,
    )


def test_uploaded_rows_are_in_storage_objects_and_deleted_rows_are_gone(pg: PgEmulator) -> None:
    client = pg.client
    bucket = new_bucket(client, public=True)
    user = {"project": "p1", "n": 3}
    uploaded = client.post(
        f"/object/{bucket}/dir/a.txt",
        content=b"hello",
        headers={
            "Content-Type": "text/plain",
            "Cache-Control": "max-age=60",
            "x-metadata": base64.b64encode(json.dumps(user).encode()).decode(),
        },
    ).json()
    client.post(f"/object/{bucket}/b.bin", content=b"\x00" * 7)

    rows = object_rows(pg, bucket)
    assert [(row["bucket_id"], row["name"]) for row in rows] == [(bucket, "b.bin"), (bucket, "dir/a.txt")]
    binary, text = rows
    assert text["id"] == uploaded["Id"]
    assert (text["size"], text["mimetype"]) == ("5", "text/plain")
    assert (binary["size"], binary["mimetype"]) == ("7", "application/octet-stream")
    assert text["user_metadata"] == user
    assert binary["user_metadata"] == {}
    assert set(text["metadata"]) == METADATA_FIELDS
    assert text["metadata"]["eTag"] == f'"{hashlib.md5(b"hello", usedforsecurity=False).hexdigest()}"'
    assert text["metadata"]["cacheControl"] == "max-age=60"
    assert text["path_tokens"] == ["dir", "a.txt"]
    assert (text["owner"], text["owner_id"]) == (None, None)
    assert text["version"]

    info = client.get(f"/object/info/{bucket}/dir/a.txt").json()
    assert info["created_at"] == iso_timestamp(text["created_at"])
    assert info["etag"] == text["metadata"]["eTag"]
    assert info["metadata"] == user

    assert client.delete(f"/object/{bucket}/dir/a.txt").status_code == 200
    assert [row["name"] for row in object_rows(pg, bucket)] == ["b.bin"]
    client.request("DELETE", f"/object/{bucket}", json={"prefixes": ["b.bin"]})
    assert object_rows(pg, bucket) == []


def test_bucket_rows(pg: PgEmulator) -> None:
    bucket = new_bucket(pg.client, public=True, file_size_limit=1000, allowed_mime_types=["image/*"])
    (row,) = pg.rows("SELECT *, type::text AS type FROM storage.buckets WHERE id = %s", bucket)
    assert row["name"] == bucket
    assert row["public"] is True
    assert row["file_size_limit"] == 1000
    assert row["allowed_mime_types"] == ["image/*"]
    assert row["type"] == "STANDARD"
    assert (row["owner"], row["owner_id"]) == (None, None)
    assert row["avif_autodetection"] is False
    pg.client.put(f"/bucket/{bucket}", json={"public": False, "allowed_mime_types": []})
    (row,) = pg.rows("SELECT public, allowed_mime_types FROM storage.buckets WHERE id = %s", bucket)
    assert (row["public"], row["allowed_mime_types"]) == (False, [])
    assert pg.client.delete(f"/bucket/{bucket}").status_code == 200
    assert pg.rows("SELECT 1 FROM storage.buckets WHERE id = %s", bucket) == []


def test_upsert_move_and_copy_keep_the_rows_right(pg: PgEmulator) -> None:
    client = pg.client
    bucket = new_bucket(client)
    created = client.post(f"/object/{bucket}/k.txt", content=b"one").json()
    (before,) = object_rows(pg, bucket)
    client.put(f"/object/{bucket}/k.txt", content=b"second", headers={"Content-Type": "text/csv"})
    (after,) = object_rows(pg, bucket)
    assert after["id"] == created["Id"] == before["id"]
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] > before["updated_at"]
    assert (after["size"], after["mimetype"]) == ("6", "text/csv")
    assert after["version"] != before["version"]

    client.post("/object/move", json={"bucketId": bucket, "sourceKey": "k.txt", "destinationKey": "d/e/k.txt"})
    (moved,) = object_rows(pg, bucket)
    assert (moved["id"], moved["name"], moved["path_tokens"]) == (created["Id"], "d/e/k.txt", ["d", "e", "k.txt"])

    copied = client.post(
        "/object/copy", json={"bucketId": bucket, "sourceKey": "d/e/k.txt", "destinationKey": "copy.txt"}
    ).json()
    names = {row["name"]: row for row in object_rows(pg, bucket)}
    assert set(names) == {"copy.txt", "d/e/k.txt"}
    assert names["copy.txt"]["id"] == copied["Id"] != created["Id"]
    assert names["copy.txt"]["metadata"]["eTag"] == names["d/e/k.txt"]["metadata"]["eTag"]


@pytest.mark.parametrize(
    ("sub", "owner"),
    [("2b9c7e3c-3f35-4a0c-9a53-7d4d1b9b1e44", "2b9c7e3c-3f35-4a0c-9a53-7d4d1b9b1e44"), ("user-7", None)],
)
def test_owner_is_the_subject_and_the_uuid_column_only_holds_uuids(pg: PgEmulator, sub: str, owner: str | None) -> None:
    token = make_jwt(DEFAULT_JWT_SECRET, {"role": "service_role", "sub": sub, "exp": 4_000_000_000})
    with storage_client(pg.server, token) as client:
        bucket = new_bucket(client)
        client.post(f"/object/{bucket}/mine.txt", content=b"m")
        assert client.get(f"/bucket/{bucket}").json()["owner"] == sub
        info = client.post("/object/copy", json={"bucketId": bucket, "sourceKey": "mine.txt", "destinationKey": "c"})
        assert info.json()["owner_id"] == sub
    (row,) = [row for row in object_rows(pg, bucket) if row["name"] == "mine.txt"]
    assert (row["owner"], row["owner_id"]) == (owner, sub)
    (bucket_row,) = pg.rows("SELECT owner::text AS owner, owner_id FROM storage.buckets WHERE id = %s", bucket)
    assert (bucket_row["owner"], bucket_row["owner_id"]) == (owner, sub)


def test_columns_are_shaped_like_the_servers(pg: PgEmulator) -> None:
    def columns(table: str) -> dict[str, str]:
        rows = pg.rows(
            "SELECT column_name, CASE data_type WHEN 'USER-DEFINED' THEN udt_name WHEN 'ARRAY' THEN udt_name"
            " ELSE data_type END AS type FROM information_schema.columns"
            " WHERE table_schema = 'storage' AND table_name = %s",
            table,
        )
        return {row["column_name"]: row["type"] for row in rows}

    stamp = "timestamp with time zone"
    assert columns("buckets") == {
        "id": "text",
        "name": "text",
        "owner": "uuid",
        "created_at": stamp,
        "updated_at": stamp,
        "public": "boolean",
        "avif_autodetection": "boolean",
        "file_size_limit": "bigint",
        "allowed_mime_types": "_text",
        "owner_id": "text",
        "type": "buckettype",
    }
    assert columns("objects") == {
        "id": "uuid",
        "bucket_id": "text",
        "name": "text",
        "owner": "uuid",
        "created_at": stamp,
        "updated_at": stamp,
        "last_accessed_at": stamp,
        "metadata": "jsonb",
        "path_tokens": "_text",
        "version": "text",
        "owner_id": "text",
        "user_metadata": "jsonb",
    }
    generated = pg.rows(
        "SELECT generation_expression FROM information_schema.columns"
        " WHERE table_schema = 'storage' AND table_name = 'objects' AND column_name = 'path_tokens'"
    )
    assert generated[0]["generation_expression"] == "string_to_array(name, '/'::text)"


def test_a_second_emulator_shares_the_database(pg: PgEmulator, tmp_path: Path) -> None:
    first = new_bucket(pg.client)
    pg.client.post(f"/object/{first}/one.txt", content=b"1")
    with (
        run_emulator(tmp_path / "second", catalog_dsn=pg.dsn) as other,
        storage_client(other, other.service_role_key) as client,
    ):
        second = new_bucket(client)
        client.post(f"/object/{second}/two.txt", content=b"22")
        assert client.get(f"/object/{second}/two.txt").content == b"22"
        names = {item["name"] for item in client.get("/bucket").json()}
        assert {first, second} <= names
        listed = client.post(f"/object/list-v2/{first}", json={}).json()
        assert [item["name"] for item in listed["objects"]] == ["one.txt"]
    assert [row["name"] for row in object_rows(pg, second)] == ["two.txt"]
    assert other.proc.returncode == 0


def test_sixty_four_concurrent_writers_and_listers(pg: PgEmulator) -> None:
    """Overwrites of one key, creates of others and listings at once: one row per key, no stray bytes."""
    bucket = new_bucket(pg.client)
    blobs = pg.server.data_dir / "blobs"
    before = {path.name for path in blobs.iterdir() if path.is_file()}
    bodies = [f"body-{index:03d}".encode() * (index + 1) for index in range(64)]

    def work(index: int) -> list[str]:
        hot = pg.client.put(f"/object/{bucket}/hot.txt", content=bodies[index])
        assert hot.status_code == 200, hot.text
        own = pg.client.post(f"/object/{bucket}/many/{index:03d}.txt", content=bodies[index])
        assert own.status_code == 200, own.text
        listed = pg.client.post(f"/object/list-v2/{bucket}", json={"prefix": "many/"})
        assert listed.status_code == 200, listed.text
        return [item["name"] for item in listed.json()["objects"]]

    with ThreadPoolExecutor(64) as pool:
        listings = list(pool.map(work, range(64)))
    for names in listings:
        assert names == sorted(set(names))

    rows = object_rows(pg, bucket)
    assert [row["name"] for row in rows] == ["hot.txt", *[f"many/{index:03d}.txt" for index in range(64)]]
    hot = pg.client.get(f"/object/{bucket}/hot.txt")
    assert hot.content in bodies
    assert rows[0]["metadata"]["eTag"] == f'"{hashlib.md5(hot.content, usedforsecurity=False).hexdigest()}"'
    after = {path.name for path in blobs.iterdir() if path.is_file()}
    assert after - before == {row["version"] for row in rows}, "one file per row: overwritten versions are removed"


async def test_bucketshift_lists_the_emulators_rows_from_the_database(pg: PgEmulator) -> None:
    bucket = new_bucket(pg.client)
    keys = ["Z.txt", "a.txt", "a/b.txt", "a-b.txt", "_x.txt"]
    for key in keys:
        pg.client.post(f"/object/{bucket}/{key}", content=key.encode(), headers={"Content-Type": "text/plain"})
    catalog = StorageCatalog(pg.dsn)
    try:
        page = await catalog.list_page(bucket)
    finally:
        await catalog.aclose()
    assert page.next_token is None
    assert [info.key for info in page.objects] == sorted(keys)
    api = pg.client.post(f"/object/list-v2/{bucket}", json={}).json()["objects"]
    assert [item["name"] for item in api] == [info.key for info in page.objects]
    for info, item in zip(page.objects, api, strict=True):
        assert info.size == item["metadata"]["size"] == len(info.key)
        assert info.content_type == "text/plain"
        assert isinstance(info.last_modified, datetime)


def test_an_unreachable_catalog_database_is_a_clear_start_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = uuid.uuid4().hex
    dsn = f"postgresql://someone:{password}@127.0.0.1:1/nothing"
    assert emulator_main(["--data", str(tmp_path), "--catalog-dsn", dsn]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bucketshift-emulator: cannot prepare the storage schema in the catalog database: ")
    assert password not in err
    assert emulator_main(["--data", str(tmp_path), "--catalog-dsn", f"host=x password={password} junk"]) == 2
    err = capsys.readouterr().err
    assert "not a valid PostgreSQL connection string" in err
    assert password not in err


async def test_racing_upserts_of_one_key_chain_their_versions(pg: PgEmulator) -> None:
    """Every overwrite reports the version it replaced, so the routes remove each old blob once."""
    bucket = new_bucket(pg.client)
    catalog = PostgresCatalog(pg.dsn, pool_size=4)
    versions = [f"v{index:02d}" for index in range(64)]
    try:
        results = await asyncio.gather(
            *(
                catalog.upsert_object(
                    bucket_id=bucket,
                    name="race",
                    new_id=str(uuid.uuid4()),
                    version=version,
                    owner=None,
                    metadata={"size": index},
                    user_metadata=None,
                )
                for index, version in enumerate(versions)
            )
        )
    finally:
        await catalog.close()
    replaced = [previous.version for _, previous in results if previous is not None]
    assert len(replaced) == 63, "exactly one writer created the row"
    (row,) = object_rows(pg, bucket)
    assert sorted([*replaced, row["version"]]) == versions
    assert len({current.id for current, _ in results}) == 1


async def test_a_cancelled_query_does_not_spoil_the_pool(pg: PgEmulator) -> None:
    bucket = new_bucket(pg.client)
    pg.client.post(f"/object/{bucket}/x", content=b"x")
    catalog = PostgresCatalog(pg.dsn, pool_size=1)
    try:
        for ticks in range(8):
            task = asyncio.create_task(catalog.get_object(bucket, "x"))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            row = await asyncio.wait_for(catalog.get_object(bucket, "x"), 10)
            assert row is not None
            assert row.name == "x"
    finally:
        await catalog.close()

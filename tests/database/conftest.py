"""An application database shaped like our first users', filled with every URL form, and a manifest."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from tests.database.manifest_helpers import record_verified

from bucketshift.engine.manifest import Manifest

ORIGIN = "https://abcd.supabase.co"
BASE = f"{ORIGIN}/storage/v1"
_numbers = itertools.count(1)

PLAN = """
[source]
type = "supabase"
url = "{origin}"
key = "service-role-key-for-tests"

[destination]
type = "s3"
region = "us-east-1"

[[buckets]]
source = "asset-images"
destination = "aiuteur-asset-images"
access = "public-read"

[[buckets]]
source = "images"
destination = "aiuteur-images"
access = "public-read"

[[buckets]]
source = "videos"
destination = "aiuteur-videos"
access = "private"

[database]
dsn = "{dsn}"
{columns}
"""

SCHEMA = """
CREATE TABLE global_assets (id bigint PRIMARY KEY, image_key_url text, name text);
CREATE TABLE project_assets (id uuid PRIMARY KEY, image_key_url varchar(2000));
CREATE TABLE frames (id bigint PRIMARY KEY, image_url text, notes text);
CREATE TABLE video_generation_jobs (id integer PRIMARY KEY, video_url text, settings jsonb, thumbnails text[]);
CREATE TABLE "Odd Table" ("Key Col" text PRIMARY KEY, "Image URL" text);
CREATE TABLE audit (id bigint PRIMARY KEY, payload json, happened_at timestamptz DEFAULT now());
CREATE TABLE no_pk (url text);
"""

URL_COLUMNS = {
    "global_assets.image_key_url",
    "project_assets.image_key_url",
    "frames.image_url",
    "video_generation_jobs.video_url",
    "video_generation_jobs.settings",
    "video_generation_jobs.thumbnails",
    '"Odd Table"."Image URL"',
    "audit.payload",
}


def public_s3(bucket: str, key: str) -> str:
    return f"https://aiuteur-{bucket}.s3.us-east-1.amazonaws.com/{quote(key, safe='/')}"


@dataclass
class Expected:
    """What a correct rewrite of the generated data must do, worked out while generating it."""

    urls: dict[str, int] = field(default_factory=dict)
    rewritten: dict[str, int] = field(default_factory=dict)
    unverified: dict[str, int] = field(default_factory=dict)
    rows_changed: dict[str, int] = field(default_factory=dict)

    def add(self, column: str, urls: int, rewritten: int, unverified: int) -> None:
        self.urls[column] = self.urls.get(column, 0) + urls
        self.rewritten[column] = self.rewritten.get(column, 0) + rewritten
        self.unverified[column] = self.unverified.get(column, 0) + unverified
        self.rows_changed[column] = self.rows_changed.get(column, 0) + (1 if rewritten else 0)


@dataclass
class AppDatabase:
    dsn: str
    plan_path: Path
    manifest_path: Path
    expected: Expected
    verified: dict[str, set[str]]
    url_columns: frozenset[str] = frozenset()

    @staticmethod
    def key_for(bucket: str, i: int) -> str:
        return key_for(bucket, i)

    @staticmethod
    def public_s3(bucket: str, key: str) -> str:
        return public_s3(bucket, key)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def table_hashes(self) -> dict[str, str]:
        tables = ["global_assets", "project_assets", "frames", "video_generation_jobs", '"Odd Table"', "audit", "no_pk"]
        with self.connect() as conn:
            return {
                t: conn.execute(
                    f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"  # noqa: S608
                ).fetchone()[0]
                for t in tables
            }


def key_for(bucket: str, i: int) -> str:
    if bucket == "videos":
        return f"project_{i % 7}/branch_{i % 3}/videos/job_{i}.mp4"
    if bucket == "asset-images":
        return f"project_{i % 7}/branch_{i % 3}/master-assets/asset{i}_1760000000_{i:06x}.png"
    return f"project_{i % 7}/branch_{i % 3}/frames/frame{i:06d}_1760000000.png"


FORMS = ["public", "authenticated", "plain", "sign", "render", "download", "buster"]


def supabase_url(bucket: str, key: str, form: str) -> str:
    path = quote(key, safe="/")
    return {
        "public": f"{BASE}/object/public/{bucket}/{path}",
        "authenticated": f"{BASE}/object/authenticated/{bucket}/{path}",
        "plain": f"{BASE}/object/{bucket}/{path}",
        "sign": f"{BASE}/object/sign/{bucket}/{path}?token=eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "render": f"{BASE}/render/image/public/{bucket}/{path}?width=320&height=180&resize=cover",
        "download": f"{BASE}/object/public/{bucket}/{path}?download=frame.png",
        "buster": f"{BASE}/object/public/{bucket}/{path}?v=3",
    }[form]


def _fill(conn: psycopg.Connection, rows: int, verified: dict[str, set[str]], expected: Expected) -> None:
    rng = random.Random(5)

    def url(bucket: str, i: int, column: str, *, whole: bool = True) -> str:
        key = key_for(bucket, i)
        form = FORMS[i % len(FORMS)]
        ok = i % 10 != 3
        if ok:
            verified.setdefault(bucket, set()).add(key)
        expected.add(column, 1, 1 if ok and (whole or bucket != "videos") else 0, 0 if ok else 1)
        return supabase_url(bucket, key, form)

    per = rows // 4
    with conn.cursor().copy("COPY global_assets (id, image_key_url, name) FROM STDIN") as copy:
        for i in range(per):
            copy.write_row((i, url("asset-images", i, "global_assets.image_key_url") if i % 50 else None, f"asset {i}"))
    with conn.cursor().copy("COPY project_assets (id, image_key_url) FROM STDIN") as copy:
        for i in range(per):
            u = (
                f"{ORIGIN}/rest/v1/project_assets?id=eq.{i}"
                if i % 25 == 0
                else url("asset-images", i, "project_assets.image_key_url")
            )
            copy.write_row((f"00000000-0000-4000-8000-{i:012d}", u))
    with conn.cursor().copy("COPY frames (id, image_url, notes) FROM STDIN") as copy:
        for i in range(per):
            note = (
                f"see {ORIGIN} for docs"
                if i % 3 == 0
                else f"listed with {BASE}/object/list/images"
                if i % 5 == 0
                else "ok"
            )
            copy.write_row((i, url("images", i, "frames.image_url"), note))
    with conn.cursor().copy("COPY video_generation_jobs (id, video_url, settings, thumbnails) FROM STDIN") as copy:
        for i in range(per):
            settings = {
                "poster": url("images", i + 10**6, "video_generation_jobs.settings"),
                "fps": 24,
                "nested": {"list": [url("asset-images", i + 2 * 10**6, "video_generation_jobs.settings"), 1]},
            }
            thumbs = [url("images", i + 3 * 10**6, "video_generation_jobs.thumbnails"), None, "plain text"]
            copy.write_row((i, url("videos", i, "video_generation_jobs.video_url"), json.dumps(settings), thumbs))
    # whole-row changes count once per row, not per URL
    expected.rows_changed["video_generation_jobs.settings"] = sum(
        1 for i in range(per) if (i + 10**6) % 10 != 3 or (i + 2 * 10**6) % 10 != 3
    )
    with conn.cursor().copy('COPY "Odd Table" ("Key Col", "Image URL") FROM STDIN') as copy:
        for i in range(200):
            copy.write_row((f"key {i}", url("images", i + 4 * 10**6, '"Odd Table"."Image URL"')))
    with conn.cursor().copy("COPY audit (id, payload) FROM STDIN") as copy:
        for i in range(200):
            video = url("videos", i + 5 * 10**6, "audit.payload", whole=False)
            text = f'<p>Watch <a href="{video}">this</a></p>'
            copy.write_row((i, json.dumps({"html": text, "kept": rng.random()}, indent=1)))
    expected.rows_changed["audit.payload"] = 0
    with conn.cursor().copy("COPY no_pk (url) FROM STDIN") as copy:
        for i in range(50):
            copy.write_row((supabase_url("images", key_for("images", i), "public"),))


@pytest.fixture(scope="module")
def app_database(postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppDatabase]:
    name = f"app_{next(_numbers)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    verified: dict[str, set[str]] = {}
    expected = Expected()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        _fill(conn, 100_000, verified, expected)
        conn.execute("ANALYZE")
    work = tmp_path_factory.mktemp("rewrite")
    plan = work / "plan.toml"
    plan.write_text(PLAN.format(origin=ORIGIN, dsn=dsn, columns=""), encoding="utf-8")
    manifest_path = work / "plan.manifest.sqlite3"
    with Manifest(manifest_path) as manifest:
        for source, dest in (("asset-images", "aiuteur-asset-images"), ("images", "aiuteur-images"),
                             ("videos", "aiuteur-videos")):  # fmt: skip
            mapping = f"{source}->{dest}"
            record_verified(manifest, mapping, {key: key for key in verified.get(source, set())})
    yield AppDatabase(dsn, plan, manifest_path, expected, verified, frozenset(URL_COLUMNS))
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

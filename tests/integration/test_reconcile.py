"""Listing from `storage.objects` and reconciling it with the API listing, against an emulator
that keeps its rows in PostgreSQL as the real server does."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from bucketshift.config import SupabaseEndpoint
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import APP_BUCKETS, SeedPlan, seed_app
from bucketshift_sandbox.servers import run_emulator

EXE = str(Path(sys.executable).with_name("bucketshift"))
_numbers = itertools.count(1)
DSN_PASSWORD = "pw-never-printed-7731"

PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "{key}"
dsn = "{dsn}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[[buckets]]
source = "asset-images"
destination = "rc-asset-images-{n}"
access = "public-read"

[[buckets]]
source = "images"
destination = "rc-images-{n}"
access = "public-read"

[[buckets]]
source = "videos"
destination = "rc-videos-{n}"
access = "private"
"""


def _dsn_for(base: str, database: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + database


def _create_database(base: str, name: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _dsn_for(base, name)


def _snapshot(world: World, base: str) -> str:
    """A copy of the emulator's storage rows in another database, as a stale replica would hold them."""
    target = _create_database(base, f"snapshot_{world.n}")
    with psycopg.connect(world.dsn) as source, psycopg.connect(target, autocommit=True) as copy:
        copy.execute("CREATE SCHEMA storage")
        copy.execute("CREATE TABLE storage.buckets (id text PRIMARY KEY, name text)")
        copy.execute(
            "CREATE TABLE storage.objects (id uuid DEFAULT gen_random_uuid(), bucket_id text, name text, "
            "metadata jsonb, user_metadata jsonb, updated_at timestamptz DEFAULT now())"
        )
        for row in source.execute("SELECT id, name FROM storage.buckets"):
            copy.execute("INSERT INTO storage.buckets VALUES (%s, %s)", row)
        with copy.cursor().copy("COPY storage.objects (bucket_id, name, metadata, user_metadata) FROM STDIN") as out:
            for row in source.execute(
                "SELECT bucket_id, name, metadata::text, user_metadata::text FROM storage.objects"
            ):
                out.write_row(row)
    return target


class World:
    def __init__(self, emulator, dsn: str, database: str, n: int, plan: Path, moto) -> None:
        self.emulator, self.dsn, self.database, self.n, self.plan, self.moto = emulator, dsn, database, n, plan, moto

    def write_plan(self, dsn: str) -> None:
        """The DSN carries a password (trust authentication ignores it): it must never be printed."""
        dsn = dsn.replace("postgresql://postgres@", f"postgresql://postgres:{DSN_PASSWORD}@")
        self.plan.write_text(
            PLAN.format(url=self.emulator.url, key=self.emulator.service_role_key, dsn=dsn,
                        endpoint=self.moto.endpoint_url, n=self.n),
            encoding="utf-8",
        )  # fmt: skip


@pytest.fixture
def world(postgres, moto, tmp_path: Path) -> Iterator[World]:
    n = next(_numbers)
    database = f"emulator_{n}"
    dsn = _create_database(postgres.dsn, database)
    with run_emulator(tmp_path / "emulator", catalog_dsn=dsn) as emulator:
        s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
        for bucket in APP_BUCKETS:
            s3.create_bucket(Bucket=f"rc-{bucket}-{n}")
        w = World(emulator, dsn, database, n, tmp_path / "plan.toml", moto)
        w.write_plan(dsn)
        yield w


async def _seed(world: World) -> int:
    endpoint = SupabaseEndpoint(type="supabase", url=world.emulator.url, key=world.emulator.service_role_key)
    async with open_store(endpoint) as store:
        seeded = await seed_app(store, SeedPlan(projects=1, branches=2, big_folder_entries=300))
        await store.put("videos", "project_1/branch_1/videos/tagged.mp4", b"\x00\x00\x00\x18ftypmp42",
                        content_type="video/mp4", metadata={"owner": "user-42", "job": "17"})  # fmt: skip
    return len(seeded.objects) + 1


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=600, env={**os.environ})


async def test_with_the_project_database_each_object_costs_one_source_request(world: World) -> None:
    """With [source] dsn the copy lists storage.objects (user metadata included) by default: the
    only per-object request to the source is the read itself."""
    total = await _seed(world)
    world.emulator.reset_stats()
    run = CopyRun(_plan(world), CopyRequest())
    reports = await run.run()
    assert run.failed == 0
    assert len(run.reconciled) == 3
    assert all(r.ok for r in run.reconciled)
    placeholders = sum(r.stats.decisions.get("placeholder", 0) for r in reports)
    copied = sum(r.stats.copied for r in reports)
    assert copied == total - placeholders
    routes = world.emulator.stats()["by_route"]
    assert "GET object/info" not in routes, "user metadata came with the rows: no per-object info request"
    assert routes["GET object/authenticated"] == copied
    assert sum(r.stats.tallies.source_requests for r in reports) == copied
    assert all("in the listing" in r.metadata_path for r in reports)
    head = boto3.client("s3", endpoint_url=world.moto.endpoint_url, region_name="us-east-1").head_object(
        Bucket=f"rc-videos-{world.n}", Key="project_1/branch_1/videos/tagged.mp4"
    )
    assert head["Metadata"].get("owner") == "user-42"
    verify = VerifyRun(_plan(world), VerifyRequest())
    await verify.run()
    assert verify.ok


async def test_listing_through_the_api_asks_for_metadata_per_object(world: World) -> None:
    """The twin: listed through the Storage API, each object costs its read and an object/info."""
    await _seed(world)
    world.emulator.reset_stats()
    run = CopyRun(_plan(world), CopyRequest(list_from="api", reconcile=False))
    reports = await run.run()
    copied = sum(r.stats.copied for r in reports)
    routes = world.emulator.stats()["by_route"]
    assert routes["GET object/info"] == copied
    assert routes["GET object/authenticated"] == copied
    assert sum(r.stats.tallies.source_requests for r in reports) == 2 * copied
    assert all("one request per object" in r.metadata_path for r in reports)
    head = boto3.client("s3", endpoint_url=world.moto.endpoint_url, region_name="us-east-1").head_object(
        Bucket=f"rc-videos-{world.n}", Key="project_1/branch_1/videos/tagged.mp4"
    )
    assert head["Metadata"].get("owner") == "user-42"


def _plan(world: World):
    from bucketshift.config import load_plan

    return load_plan(world.plan)


async def test_reconcile_agrees_then_reports_every_kind_of_difference(world: World, postgres) -> None:
    await _seed(world)
    agreed = cli("reconcile", "--config", str(world.plan), "--json")
    assert agreed.returncode == 0, agreed.stderr
    assert all(r["listed"] == r["in_database"] > 0 for r in json.loads(agreed.stdout))

    snapshot = _snapshot(world, postgres.dsn)
    with psycopg.connect(snapshot, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM storage.objects "
            "WHERE bucket_id = 'images' AND name LIKE 'project_1/branch_1/generated/thumb_0000%'"
        )
        conn.execute(
            "UPDATE storage.objects SET metadata = jsonb_set(metadata, '{size}', '1') WHERE bucket_id = 'asset-images' "
            "AND name = (SELECT min(name) FROM storage.objects WHERE bucket_id = 'asset-images')"
        )
        conn.execute(
            "INSERT INTO storage.objects (bucket_id, name, metadata) "
            """VALUES ('videos', 'project_9/ghost.mp4', '{"size": 5, "mimetype": "video/mp4"}')"""
        )
    world.write_plan(snapshot)
    differs = cli("reconcile", "--config", str(world.plan), "--json")
    assert differs.returncode == 1
    by_bucket = {r["bucket"]: r for r in json.loads(differs.stdout)}
    assert by_bucket["images"]["only_listed"] == 10
    assert by_bucket["asset-images"]["size_differs"] == 1
    assert by_bucket["videos"]["only_in_database"] == 1
    assert any("project_9/ghost.mp4" in s for s in by_bucket["videos"]["samples"])

    copied = cli("copy", "--config", str(world.plan), "--dry-run")
    assert copied.returncode == 0, copied.stderr
    assert "only in the database" in copied.stdout
    for done in (agreed, differs, copied):
        assert DSN_PASSWORD not in done.stdout + done.stderr


def test_reconcile_without_a_dsn_is_one_line(world: World) -> None:
    text = "\n".join(line for line in world.plan.read_text().splitlines() if not line.startswith("dsn = "))
    world.plan.write_text(text)
    done = cli("reconcile", "--config", str(world.plan))
    assert done.returncode == 2
    assert "dsn" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

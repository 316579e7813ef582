"""The cut-over window in mirror mode: the application keeps writing while one side fails, and
`sync` afterwards copies exactly what the failing side missed (what was mirrored is adopted, not
copied again).  Both directions: primary Supabase with S3 failing (before the switch), and primary
S3 with Supabase failing (after it, so that a rollback loses nothing)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from bucketshift.config import SupabaseEndpoint
from bucketshift.errors import NotFound
from bucketshift.retry import RetryPolicy
from bucketshift.storage import AsyncStorage
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import APP_BUCKETS
from bucketshift_sandbox.servers import free_port, run_s3_fault_proxy

EXE = str(Path(sys.executable).with_name("bucketshift"))
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, throttle_floor=0.01)


def png(n: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + hashlib.sha256(str(n).encode()).digest() * (40 + n)


def cli(*args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([EXE, *args, "--json"], capture_output=True, text=True, timeout=600, env={**os.environ})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def images(summary: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in summary["buckets"] if b["source"] == "images")


def app_env(migration: Any, primary: str, s3_endpoint: str) -> dict[str, str]:
    env = {
        "STORAGE_BACKEND": "mirror",
        "STORAGE_PRIMARY": primary,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "SUPABASE_URL": migration.emulator.url,
        "SUPABASE_SERVICE_ROLE_KEY": migration.emulator.service_role_key,
    }
    env.update({f"S3_{b.upper().replace('-', '_')}_BUCKET": migration.dest(b) for b in APP_BUCKETS})
    return env


async def create_source_buckets(migration: Any) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        for bucket, public in APP_BUCKETS.items():
            await store.create_bucket(bucket, public=public)


def s3_keys(migration: Any) -> set[str]:
    listed = migration.s3().list_objects_v2(Bucket=migration.dest("images"))
    return {item["Key"] for item in listed.get("Contents", [])}


async def supabase_keys(migration: Any, prefix: str) -> set[str]:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        return {info.key async for info in store.list("images", prefix)}


async def upload_all(storage: AsyncStorage, keys: list[str], start: int) -> list[bool | None]:
    flags = []
    for n, key in enumerate(keys, start):
        stored = await storage.upload("images", key, png(n))
        flags.append(stored.mirrored)
    return flags


async def test_s3_failing_before_the_switch_loses_nothing_and_sync_copies_exactly_the_missed(
    migration: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await create_source_buckets(migration)
    code, _ = cli("copy", "--config", str(migration.plan_path))
    assert code == 0
    with run_s3_fault_proxy(
        migration.moto.endpoint_url, slowdown_rate=0.0, workdir=migration.plan_path.parent
    ) as proxy:
        storage = AsyncStorage.from_env(app_env(migration, "supabase", proxy.endpoint_url), mirror_retry=FAST)
        async with storage:
            await storage.check()
            before = [f"live/before_{n}.png" for n in range(4)]
            during = [f"live/during_{n}.png" for n in range(3)]
            after = [f"live/after_{n}.png" for n in range(2)]
            assert await upload_all(storage, before, 0) == [True] * 4
            proxy.settings(slowdown_rate=1.0)
            with caplog.at_level(logging.WARNING, logger="bucketshift.storage"):
                started = time.monotonic()
                assert await upload_all(storage, during, 10) == [False] * 3
                elapsed = time.monotonic() - started
                await storage.delete("images", before[0])
            proxy.settings(slowdown_rate=0.0)
            assert await upload_all(storage, after, 20) == [True] * 2
            missed = [(m.action, m.side, m.bucket, m.key) for m in storage.missed]
            assert missed == [*(("upload", "s3", "images", key) for key in during),
                              ("delete", "s3", "images", before[0])]  # fmt: skip
            assert storage.missed_count == 4
    assert elapsed < 30, "a failing secondary must not hold the application's requests for long"
    logged = [r.getMessage() for r in caplog.records if r.name == "bucketshift.storage"]
    assert len(logged) == 4
    assert all("bucketshift sync copies it" in line for line in logged[:3])
    assert "delete it there by hand" in logged[3]
    assert not any(migration.emulator.service_role_key in line for line in logged)
    assert await supabase_keys(migration, "live/") == {*before[1:], *during, *after}
    assert s3_keys(migration) == {*before, *after}

    code, summary = cli("sync", "--config", str(migration.plan_path))
    assert code == 0, summary
    bucket = images(summary)
    assert (bucket["copied"], bucket["adopted"], bucket["failed"], bucket["conflicts"]) == (3, 5, 0, [])
    assert s3_keys(migration) == {*before, *during, *after}
    for n, key in enumerate(during, 10):
        got = migration.s3().get_object(Bucket=migration.dest("images"), Key=key)
        assert (got["Body"].read(), got["ContentType"]) == (png(n), "image/png")
    code, summary = cli("sync", "--config", str(migration.plan_path))
    assert (code, images(summary)["copied"], images(summary)["adopted"]) == (0, 0, 0)


REVERSE_PLAN = """
[source]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[destination]
type = "supabase"
url = "{url}"
key = "{key}"

[[buckets]]
source = "{images}"
destination = "images"
access = "public-read"
"""


async def test_supabase_failing_after_the_switch_is_made_whole_by_a_reverse_sync(migration: Any) -> None:
    await create_source_buckets(migration)
    storage = AsyncStorage.from_env(app_env(migration, "s3", migration.moto.endpoint_url), mirror_retry=FAST)
    keys = [f"after-switch/{n}.png" for n in range(6)]
    async with storage:
        assert await upload_all(storage, keys[:2], 0) == [True, True]
        migration.emulator.settings(fault_rate=1.0, faults=["503"], fault_routes=["POST object"], fault_seed=1)
        try:
            assert await upload_all(storage, keys[2:5], 2) == [False, False, False]
        finally:
            migration.emulator.settings(fault_rate=0.0, fault_routes=[])
        assert await upload_all(storage, keys[5:], 5) == [True]
        assert [m.key for m in storage.missed] == keys[2:5]
    assert await supabase_keys(migration, "after-switch/") == {*keys[:2], keys[5]}

    plan = migration.plan_path.with_name("back.toml")
    plan.write_text(
        REVERSE_PLAN.format(endpoint=migration.moto.endpoint_url, url=migration.emulator.url,
                            key=migration.emulator.service_role_key, images=migration.dest("images")),
        encoding="utf-8",
    )  # fmt: skip
    code, summary = cli("copy", "--config", str(plan))
    assert code == 0, summary
    bucket = summary["buckets"][0]
    assert (bucket["copied"], bucket["adopted"], bucket["failed"]) == (3, 3, 0)
    assert await supabase_keys(migration, "after-switch/") == set(keys)


async def test_a_stopped_secondary_never_fails_an_upload(migration: Any) -> None:
    await create_source_buckets(migration)
    nowhere = f"http://127.0.0.1:{free_port()}"
    storage = AsyncStorage.from_env(app_env(migration, "supabase", nowhere), mirror_retry=FAST)
    async with storage:
        stored = await storage.upload("images", "down/a.png", png(1))
        assert stored.mirrored is False
        assert await storage.download("images", "down/a.png") == png(1)
        assert storage.missed[0].side == "s3"
        assert "127.0.0.1" in storage.missed[0].error
        await storage.delete("images", "down/a.png")
        with pytest.raises(NotFound):
            await storage.download("images", "down/a.png")
        assert not await storage.exists("images", "down/a.png")
        assert [m.action for m in storage.missed] == ["upload", "delete"]
    s3 = boto3.client("s3", endpoint_url=migration.moto.endpoint_url, region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=migration.dest("images")).get("KeyCount") == 0

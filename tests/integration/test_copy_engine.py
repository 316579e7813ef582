"""The copy engine end to end: Supabase emulator -> moto, through the library and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from tests.integration.conftest import STATE_PASSWORD

from bucketshift.config import SupabaseEndpoint
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import SeedPlan, seed_app
from bucketshift_sandbox.servers import run_s3_fault_proxy

EXE = str(Path(sys.executable).with_name("bucketshift"))
MB = 1024 * 1024


async def seed(migration, plan: SeedPlan):
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        return await seed_app(store, plan)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ})


async def test_copy_then_verify_three_app_buckets(migration) -> None:
    seeded = await seed(migration, SeedPlan(big_folder_entries=1600, large_video_bytes=200 * MB))
    run = CopyRun(migration.plan, CopyRequest())
    reports = await run.run()
    assert run.failed == 0, [f for r in reports for f in r.failures][:3]
    by_bucket = {r.spec.source_bucket: r.stats for r in reports}
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert sum(s.copied for s in by_bucket.values()) == len(seeded.objects) - placeholders
    assert sum(s.decisions.get("placeholder", 0) for s in by_bucket.values()) == placeholders

    verify = VerifyRun(migration.plan, VerifyRequest())
    await verify.run()
    assert verify.ok
    assert sum(r.stats.missing + r.stats.differing for r in verify.reports) == 0
    assert sum(r.stats.verified for r in verify.reports) == len(seeded.objects) - placeholders

    s3 = migration.s3()
    checked = 0
    for obj in seeded.objects:
        if obj.key.endswith(".emptyFolderPlaceholder"):
            continue
        if "special" in obj.key or "videos" in obj.key or obj.size == 0 or checked < 40:
            head = s3.head_object(Bucket=migration.dest(obj.bucket), Key=obj.key)
            assert head["ContentLength"] == obj.size, obj.key
            assert head["ContentType"] == obj.content_type, obj.key
            assert head.get("CacheControl") == (obj.cache_control or "no-cache"), obj.key
            checked += 1
    assert checked >= 60


def _at_destination(migration) -> set[str]:
    """`bucket/key` of every complete object at the destination now (source bucket names)."""
    return {f"{bucket}/{key}" for bucket, keys in _destination_listing(migration).items() for key in keys}


def _copied_rows(state, manifest: Path) -> int:
    """0 until the run has made its manifest: the file exists a moment before its tables do (and a
    PostgreSQL state's schema a moment after the run starts)."""
    if state.arg is not None:
        with psycopg.connect(state.arg) as conn:
            if conn.execute("SELECT to_regclass('bucketshift_state.objects')").fetchone() in (None, (None,)):
                return 0
            row = conn.execute("SELECT count(*) FROM bucketshift_state.objects WHERE state = 'copied'").fetchone()
            return int(row[0]) if row else 0
    if not manifest.exists():
        return 0
    with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT count(*) FROM objects WHERE state = 'copied'").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0
            raise


def test_three_kills_fetch_again_only_what_was_in_flight(migration, state) -> None:
    """SIGKILL a copy three times at three moments: an object already at the destination when a run
    died is never read from the source again (not even a large one whose row was not committed: it
    carries its source version and is adopted), so the rereads are at most the objects in flight.
    On a PostgreSQL state each process is a worker of one shared run: the next one takes over the
    killed one's claims once their lease (2 s here) has run out."""
    seeded = asyncio.run(
        seed(migration, SeedPlan(projects=2, branches=2, big_folder_entries=400, videos_per_branch=3,
                                 video_size=(6 * MB, 9 * MB), special_keys=True))
    )  # fmt: skip
    concurrency = 8
    migration.emulator.settings(latency_ms=40)
    migration.write_plan(concurrency=concurrency, transfer="multipart_threshold = 5242880\npart_size = 5242880")
    manifest = migration.plan_path.with_name("plan.manifest.sqlite3")
    own = [*state.cli_args, "--lease", "2"]
    present_at_kill: list[tuple[set[str], dict[str, int]]] = []
    for target in (120, 300, 520):
        proc = subprocess.Popen(
            [EXE, "copy", "--config", str(migration.plan_path), *own],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline and _copied_rows(state, manifest) < target:
                assert proc.poll() is None, "the copy finished before it could be killed; seed more objects"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        present_at_kill.append((_at_destination(migration), dict(migration.emulator.stats()["object_reads"])))
    migration.emulator.settings(latency_ms=0)
    rerun = cli("copy", "--config", str(migration.plan_path), "--json", *own)
    assert rerun.returncode == 0, rerun.stderr
    reads = migration.emulator.stats()["object_reads"]
    for number, (present, reads_then) in enumerate(present_at_kill, 1):
        again = [k for k in present if reads.get(k, 0) > reads_then.get(k, 0)]
        assert again == [], f"kill {number}: {len(again)} objects already at the destination were read again"
    extra = sum(n - 1 for n in reads.values() if n > 1)
    assert extra <= 3 * concurrency, f"{extra} source reads beyond one per object"
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert len(reads) == len(seeded.objects) - placeholders
    verify = cli("verify", "--config", str(migration.plan_path), "--json", *state.cli_args)
    assert verify.returncode == 0, verify.stdout[-2000:]
    assert json.loads(verify.stdout)["ok"] is True


async def test_faults_at_both_ends_are_retried_to_completion(migration, state, tmp_path: Path) -> None:
    seeded = await seed(migration, SeedPlan(projects=1, branches=2, big_folder_entries=200))
    migration.emulator.settings(fault_rate=0.1, faults=["500", "503", "429", "544", "reset", "truncate"], fault_seed=3)
    with run_s3_fault_proxy(migration.moto.endpoint_url, slowdown_rate=0.1, workdir=tmp_path) as proxy:
        migration.write_plan(endpoint=proxy.endpoint_url, concurrency=16)
        run = CopyRun(migration.plan, CopyRequest(state=state.arg))
        reports = await run.run()
        injected = proxy.settings()["injected"]
    assert run.failed == 0, [f for r in reports for f in r.failures][:3]
    assert injected > 0
    assert sum(r.stats.retries for r in reports) > 0
    assert migration.emulator.stats()["faults_injected"] > 0
    migration.emulator.settings(fault_rate=0.0)
    migration.write_plan()
    verify = VerifyRun(migration.plan, VerifyRequest(deep=True, state=state.arg))
    await verify.run()
    assert verify.ok
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert sum(r.stats.verified for r in verify.reports) == len(seeded.objects) - placeholders


def test_access_denied_stops_with_one_clear_line(migration) -> None:
    text = migration.plan_path.read_text().replace(migration.emulator.service_role_key, "not-a-valid-jwt")
    migration.plan_path.write_text(text)
    done = cli("copy", "--config", str(migration.plan_path))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "403" in lines[0] or "denied" in lines[0].lower()
    assert "Traceback" not in done.stderr
    assert "not-a-valid-jwt" not in done.stderr + done.stdout


async def test_sync_copies_exactly_the_new_and_changed(migration, state) -> None:
    await seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=50))
    first = CopyRun(migration.plan, CopyRequest(state=state.arg))
    await first.run()
    assert first.failed == 0
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        for i in range(10):
            await store.put("images", f"project_1/branch_1/frames/new_{i}.png", b"\x89PNG new" * (i + 1))
        changed = [info.key async for info in store.list("asset-images")][:5]
        for key in changed:
            await store.put("asset-images", key, b"\x89PNG changed content", content_type="image/png")
    migration.emulator.reset_stats()
    sync = CopyRun(migration.plan, CopyRequest(mode="sync", state=state.arg))
    reports = await sync.run()
    assert sum(r.stats.copied for r in reports) == 15
    decisions = {k: sum(r.stats.decisions.get(k, 0) for r in reports) for k in ("new", "changed")}
    assert decisions == {"new": 10, "changed": 5}
    assert sum(migration.emulator.stats()["object_reads"].values()) == 15
    verify = VerifyRun(migration.plan, VerifyRequest(state=state.arg))
    await verify.run()
    assert verify.ok


@pytest.mark.parametrize("state", ["postgres"], indirect=True)
async def test_the_verbs_run_on_a_postgresql_state_and_never_show_its_password(migration, state) -> None:
    seeded = await seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=20))
    config = ["--config", str(migration.plan_path)]
    copied = cli("copy", *config, "--state", state.arg, "--json")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["manifest"].startswith("PostgreSQL ")
    through_env = subprocess.run(  # noqa: ASYNC221 - the CLI as a user runs it
        [EXE, "verify", *config], capture_output=True, text=True, timeout=600,
        env={**os.environ, "BUCKETSHIFT_STATE": state.arg},
    )  # fmt: skip
    assert through_env.returncode == 0, through_env.stderr
    status = cli("status", *config, "--state", state.arg)
    outputs = [copied, through_env, status]
    objects = [line.strip() for line in status.stdout.splitlines() if "objects of " in line]
    assert len(objects) == 3, status.stdout
    assert all(line.startswith("✓") and "verified" in line for line in objects), status.stdout
    assert status.returncode == 1, status.stderr  # exposure not provisioned here: lines unrelated to the state
    assert not migration.plan_path.with_name("plan.manifest.sqlite3").exists(), "no SQLite file beside the plan"
    rows = state.rows("")
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert len(rows) == len(seeded.objects) - placeholders
    assert {s for s, _ in rows.values()} == {"verified"}
    for done in outputs:
        for line in (done.stdout + done.stderr).splitlines():
            assert STATE_PASSWORD not in line, line
    wrong = cli("verify", *config, "--state", state.arg.rsplit("/", 1)[0] + "/no_such_database")
    assert wrong.returncode == 2, wrong.stderr
    assert STATE_PASSWORD not in wrong.stdout + wrong.stderr


def _destination_listing(migration) -> dict[str, list[str]]:
    s3 = migration.s3()
    out = {}
    for bucket in ("asset-images", "images", "videos"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=migration.dest(bucket))
        out[bucket] = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    return out


async def test_dry_run_writes_nothing(migration) -> None:
    seeded = await seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=20))
    manifest = migration.plan_path.with_name("plan.manifest.sqlite3")
    done = cli("copy", "--config", str(migration.plan_path), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    assert not manifest.exists()
    assert _destination_listing(migration) == {"asset-images": [], "images": [], "videos": []}
    planned = json.loads(done.stdout)
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert sum(b["to_copy"] for b in planned["buckets"]) == len(seeded.objects) - placeholders

    assert cli("copy", "--config", str(migration.plan_path)).returncode == 0
    before = manifest.read_bytes(), _destination_listing(migration)
    async with open_store(
        SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    ) as store:
        await store.put("images", "project_1/branch_1/frames/later.png", b"\x89PNG later")
    again = cli("sync", "--config", str(migration.plan_path), "--dry-run", "--json")
    assert again.returncode == 0, again.stderr
    assert sum(b["to_copy"] for b in json.loads(again.stdout)["buckets"]) == 1
    assert (manifest.read_bytes(), _destination_listing(migration)) == before


@pytest.mark.parametrize("list_api", ["legacy"])
async def test_copy_through_the_legacy_listing(migration, state, list_api: str) -> None:
    seeded = await seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=1600, special_keys=True))
    migration.write_plan(list_api=list_api)
    run = CopyRun(migration.plan, CopyRequest(state=state.arg))
    await run.run()
    verify = VerifyRun(migration.plan, VerifyRequest(state=state.arg))
    await verify.run()
    assert verify.ok
    placeholders = sum(1 for o in seeded.objects if o.key.endswith(".emptyFolderPlaceholder"))
    assert sum(r.stats.verified for r in verify.reports) == len(seeded.objects) - placeholders

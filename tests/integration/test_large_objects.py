"""Large objects over a flaky network, and reads checked against the source's own checksum.

A failed part is sent again on its own and a broken read resumes at its byte with a Range
request: the source serves a large object's bytes once.  A stalled read ends at the read timeout.
A read corrupted on the way fails its MD5 check and is read again before anything is written.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bucketshift.config import SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import APP_BUCKETS, large_body
from bucketshift_sandbox.servers import run_s3_fault_proxy

EXE = str(Path(sys.executable).with_name("bucketshift"))
MiB = 1024 * 1024
VIDEO = "project_1/branch_1/videos/long_take.mp4"
PARTS = "multipart_threshold = 8388608\npart_size = 8388608\npart_concurrency = 3"


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ})


async def seed_video(migration: Any, size: int, *, small: int = 0) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        for bucket, public in APP_BUCKETS.items():
            await store.create_bucket(bucket, public=public)
        await store.put("videos", VIDEO, large_body(size), size=size, content_type="video/mp4")
        for n in range(small):
            await store.put("images", f"project_1/branch_1/frames/f{n}.png", os.urandom(5000), content_type="image/png")


def copy(migration: Any, *extra: str) -> dict[str, Any]:
    done = cli("copy", "--config", str(migration.plan_path), "--json", *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def bucket(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in summary["buckets"] if b["source"] == name)


def verify_deep(migration: Any) -> None:
    done = cli("verify", "--config", str(migration.plan_path), "--deep", "--json")
    assert done.returncode == 0, done.stdout[-2000:]
    assert json.loads(done.stdout)["ok"] is True


async def test_a_200_mb_video_survives_failed_parts_and_broken_reads_reading_its_bytes_once(
    migration: Any, tmp_path: Path
) -> None:
    size = 200 * MiB
    await seed_video(migration, size)
    migration.emulator.settings(
        fault_rate=0.5,
        faults=["truncate", "truncate", "reset", "503"],
        fault_routes=["GET object/authenticated"],
        fault_seed=11,
    )
    with run_s3_fault_proxy(migration.moto.endpoint_url, slowdown_rate=0.15, seed=5, workdir=tmp_path) as proxy:
        migration.write_plan(endpoint=proxy.endpoint_url, transfer=PARTS)
        summary = copy(migration)
        failed_parts = proxy.settings()["injected"]
    stats = migration.emulator.stats()
    videos = bucket(summary, "videos")
    assert videos["copied"] == 1
    assert failed_parts > 0, "the destination refused some requests"
    assert stats["faults_injected"] > 0, "the source broke some reads"
    assert videos["retries"] > 0
    key = f"videos/{VIDEO}"
    assert stats["object_bytes"][key] <= size + 2 * MiB, "each byte read once (a chunk in flight at a cut aside)"
    assert stats["faults_by_kind"].get("truncate", 0) >= 1, "some reads were cut in the middle"
    assert stats["ranged_reads"].get(key, 0) >= 1, "a broken read resumed with a Range request"
    assert videos["resumed_reads"] >= 1
    head = migration.s3().head_object(Bucket=migration.dest("videos"), Key=VIDEO, ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-25"), "the plan's part_size (8 MiB) reached the store"
    assert head.get("ChecksumCRC64NVME"), "the multipart object carries its full-object checksum"
    assert head.get("ChecksumType") == "FULL_OBJECT"
    uploads = migration.s3().list_multipart_uploads(Bucket=migration.dest("videos")).get("Uploads", [])
    assert uploads == [], "no failed attempt left parts behind"
    migration.emulator.settings(fault_rate=0.0)
    migration.write_plan(transfer=PARTS)
    verify_deep(migration)


async def test_failed_parts_alone_never_read_the_source_again(migration: Any, tmp_path: Path) -> None:
    """The twin: with a clean source and failing parts, the source serves the video exactly once."""
    size = 40 * MiB
    await seed_video(migration, size)
    with run_s3_fault_proxy(migration.moto.endpoint_url, slowdown_rate=0.3, seed=9, workdir=tmp_path) as proxy:
        migration.write_plan(endpoint=proxy.endpoint_url, transfer=PARTS)
        summary = copy(migration)
        assert proxy.settings()["injected"] > 0
    stats = migration.emulator.stats()
    key = f"videos/{VIDEO}"
    assert stats["object_reads"][key] == 1
    assert stats["object_bytes"][key] == size
    assert bucket(summary, "videos")["resumed_reads"] == 0


async def test_a_stalled_read_ends_at_the_read_timeout_and_resumes(migration: Any) -> None:
    """Without a read timeout the stalled answers would hold the copy for 10 minutes each."""
    size = 24 * MiB
    await seed_video(migration, size)
    migration.emulator.settings(
        fault_rate=1.0, faults=["stall"], stall_seconds=600, fault_routes=["GET object/authenticated"], fault_seed=2
    )
    migration.write_plan(transfer=PARTS + "\nread_timeout = 1")

    async def clear_faults_after_first_stalls() -> None:
        await asyncio.sleep(4)
        migration.emulator.settings(fault_rate=0.0)

    clearing = asyncio.create_task(clear_faults_after_first_stalls())
    done = await asyncio.to_thread(cli, "copy", "--config", str(migration.plan_path), "--json", timeout=120)
    await clearing
    assert done.returncode == 0, done.stderr[-2000:]
    stats = migration.emulator.stats()
    assert stats["faults_by_kind"].get("stall", 0) > 0
    assert stats["ranged_reads"].get(f"videos/{VIDEO}", 0) >= 1
    assert stats["object_bytes"][f"videos/{VIDEO}"] <= size + 2 * MiB
    verify_deep(migration)


async def test_a_corrupted_read_fails_its_md5_check_and_is_read_again(migration: Any) -> None:
    await seed_video(migration, 20 * MiB, small=30)
    migration.emulator.settings(fault_rate=0.3, faults=["corrupt"], fault_routes=["GET object/authenticated"],
                                fault_seed=4)  # fmt: skip
    migration.write_plan(transfer=PARTS)
    summary = copy(migration)
    corrupted = migration.emulator.stats()["faults_by_kind"].get("corrupt", 0)
    assert corrupted > 0
    mismatches = sum(b["md5_mismatches"] for b in summary["buckets"])
    assert mismatches == corrupted, "every corrupted read was caught before it was written"
    migration.emulator.settings(fault_rate=0.0)
    verify_deep(migration)
    s3 = migration.s3()
    async with (
        open_store(
            SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
        ) as source,
        source.open("videos", VIDEO) as reader,
    ):
        original = b"".join([chunk async for chunk in reader])
    assert s3.get_object(Bucket=migration.dest("videos"), Key=VIDEO)["Body"].read() == original


async def test_clean_reads_meet_no_mismatch(migration: Any) -> None:
    """The twin of the corruption test: the check fires only on bytes that are wrong."""
    await seed_video(migration, 20 * MiB, small=30)
    migration.write_plan(transfer=PARTS)
    summary = copy(migration)
    assert sum(b["md5_mismatches"] for b in summary["buckets"]) == 0
    assert sum(b["copied"] for b in summary["buckets"]) == 31


async def test_a_source_whose_etag_is_no_md5_is_copied_and_said(migration: Any) -> None:
    """Supabase on S3 with SSE-KMS: an MD5-looking ETag that is not one.  The same bytes read twice are
    good; after three such objects the check stops (no bucket is read twice over), and the output says so."""
    migration.emulator.settings(etag_style="opaque")
    await seed_video(migration, 1 * MiB, small=40)
    migration.emulator.reset_stats()
    migration.write_plan(concurrency=4)
    summary = copy(migration)
    images = bucket(summary, "images")
    assert images["copied"] == 40
    assert images["md5_mismatches"] >= 6, "the first objects were read twice, the same bytes each time"
    assert any("not the MD5" in note for note in images["notes"])
    reads = migration.emulator.stats()["object_reads"]
    twice = sum(n - 1 for key, n in reads.items() if key.startswith("images/"))
    assert 3 <= twice <= 3 + 4, "read twice: the first three, and at most the ones in flight when it was seen"
    verify_deep(migration)

"""The estimate against the copy it predicts, counted on the servers themselves.

The emulator counts the requests it serves by route; moto's server logs one line per request
(method, path and query), read from its log file.  Both are the servers' own records, so the
comparison is with what was really served, not with what the copier believes it sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from bucketshift.config import Plan, SupabaseEndpoint, load_plan
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.estimate import Estimate, estimate
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.moto_log import s3_requests, settled_size
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, run_emulator, run_moto

MiB = 1024 * 1024
PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "{key}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[[buckets]]
source = "images"
destination = "est-images"
access = "public-read"

[[buckets]]
source = "videos"
destination = "est-videos"
access = "private"

[transfer]
concurrency = 8
multipart_threshold = "5MiB"
part_size = "5MiB"
memory_budget = "16MiB"
"""


@dataclass
class World:
    emulator: EmulatorServer
    moto: MotoServer
    log: Path
    plan_path: Path

    @property
    def plan(self) -> Plan:
        return load_plan(self.plan_path)

    def s3(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")


async def _put(world: World, bucket: str, key: str, body: bytes, kind: str = "image/png") -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=world.emulator.url, key=world.emulator.service_role_key)
    async with open_store(endpoint) as store:
        await store.put(bucket, key, body, content_type=kind, metadata={"owner": "test"})


async def _seed(world: World) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=world.emulator.url, key=world.emulator.service_role_key)
    async with open_store(endpoint) as store:
        await store.create_bucket("images", public=True)
        await store.create_bucket("videos")
        puts = [store.put("images", f"p/frames/f{i:03d}.png", os.urandom(1000 + 97 * i)) for i in range(30)]
        puts.append(store.put("images", "p/empty/.emptyFolderPlaceholder", b""))
        puts.append(store.put("images", "p/zero.png", b""))
        puts.append(store.put("videos", "p/v/small.mp4", os.urandom(300_000), content_type="video/mp4"))
        puts.append(store.put("videos", "p/v/exactly-threshold.mp4", os.urandom(5 * MiB), content_type="video/mp4"))
        puts.append(store.put("videos", "p/v/large.mp4", os.urandom(11 * MiB), content_type="video/mp4"))
        await asyncio.gather(*puts)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Our own moto (its request log is this test's to read), the emulator, a seeded source."""
    work = tmp_path_factory.mktemp("estimate")
    with run_moto(work) as moto, run_emulator(work / "emulator") as emulator:
        plan_path = work / "plan.toml"
        url, key = emulator.url, emulator.service_role_key
        plan_path.write_text(PLAN.format(url=url, key=key, endpoint=moto.endpoint_url), encoding="utf-8")
        built = World(emulator, moto, work / "moto.log", plan_path)
        for bucket in ("est-images", "est-videos"):
            built.s3().create_bucket(Bucket=bucket)
        asyncio.run(_seed(built))
        yield built


_FIELDS = {
    "ListObjectsV2": "dest_lists",
    "CreateMultipartUpload": "multipart_uploads",
    "UploadPart": "multipart_parts",
    "CompleteMultipartUpload": "multipart_completes",
    "PutObject": "dest_puts",
    "HeadObject": "dest_heads",
}
"""moto's S3 operations under the names the estimate counts them by; any other is `other ...`."""


def _s3_served(log: Path, start: int) -> Counter[str]:
    """moto's requests logged after byte `start`, by the names the estimate counts them under."""
    counts: Counter[str] = Counter()
    for operation, n in s3_requests(log, start).items():
        counts[_FIELDS.get(operation, f"other {operation}")] += n
    return counts


def _copy_served(world: World) -> tuple[dict[str, int], CopyRun]:
    """Run the real copy; what both servers served meanwhile, and the run."""
    start = settled_size(world.log)
    world.emulator.reset_stats()
    run = CopyRun(world.plan, CopyRequest())
    asyncio.run(run.run())
    routes = world.emulator.stats()["by_route"]
    settled_size(world.log)
    served = dict(_s3_served(world.log, start))
    source_lists = sum(routes.pop(label, 0) for label in ("GET bucket", "POST object/list-v2", "POST object/list"))
    served.update(
        source_gets=routes.pop("GET object/authenticated", 0),
        source_heads=routes.pop("GET object/info", 0),
        source_lists=source_lists,
        other_source=sum(routes.values()),
    )
    served["objects"] = sum(r.stats.copied for r in run.reports)
    served["bytes"] = sum(r.stats.copied_bytes for r in run.reports)
    return served, run


def _predicted(result: Estimate) -> dict[str, int]:
    r = result.requests
    names = ("source_gets", "source_heads", "source_lists", "dest_lists", "dest_puts", "multipart_uploads")
    out = {name: r[name] for name in names}
    out.update(
        multipart_parts=r["multipart_parts"],
        multipart_completes=r["multipart_uploads"],
        dest_heads=r["dest_heads"],
        objects=result.objects_to_copy,
        bytes=result.bytes_to_copy,
        other_source=0,
    )
    return out


def _same(predicted: dict[str, int], served: dict[str, int]) -> None:
    assert {k: v for k, v in served.items() if v} == {k: v for k, v in predicted.items() if v}


def test_the_estimate_writes_nothing_and_equals_what_the_copy_then_serves(world: World) -> None:
    manifest = world.plan_path.with_name("plan.manifest.sqlite3")
    result = asyncio.run(estimate(world.plan))
    assert not manifest.exists()
    for bucket in ("est-images", "est-videos"):
        assert world.s3().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    by_name = {b.source_bucket: b for b in result.buckets}
    assert (by_name["images"].objects, by_name["images"].objects_to_copy) == (32, 31)  # the placeholder stays
    videos = by_name["videos"]
    assert (videos.multipart_uploads, videos.multipart_parts, videos.dest_puts) == (1, 3, 2)
    assert result.time.seconds is not None
    assert result.time.seconds > 0
    assert "nothing landed" in result.time.how

    served, run = _copy_served(world)
    assert run.failed == 0
    assert run.conflicts == 0
    assert served["multipart_parts"] == 3
    assert served["source_gets"] == 34
    _same(_predicted(result), served)


def test_after_the_copy_a_rerun_is_estimated_at_nothing_to_copy(world: World) -> None:
    result = asyncio.run(estimate(world.plan, probe=False))
    assert result.objects_to_copy == 0
    assert result.bytes_to_copy == 0
    assert (result.requests["source_gets"], result.requests["dest_puts"], result.requests["dest_heads"]) == (0, 0, 0)
    assert result.time.seconds is None
    served, _ = _copy_served(world)
    assert served["objects"] == 0
    _same(_predicted(result), served)


def test_one_changed_source_object_is_exactly_the_one_counted(world: World) -> None:
    asyncio.run(_put(world, "images", "p/frames/f007.png", os.urandom(4321)))
    result = asyncio.run(estimate(world.plan, probe=False))
    images = next(b for b in result.buckets if b.source_bucket == "images")
    assert (result.objects_to_copy, result.bytes_to_copy) == (1, 4321)
    assert (images.objects_to_copy, images.source_gets, images.dest_puts, images.dest_heads) == (1, 1, 1, 1)
    assert images.decisions.get("changed") == 1
    served, _ = _copy_served(world)
    assert (served["objects"], served["bytes"]) == (1, 4321)
    _same(_predicted(result), served)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("bucketshift"))
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=env)


def test_the_cli_shows_the_estimate_as_tables_and_as_json(world: World) -> None:
    asyncio.run(_put(world, "videos", "p/v/new.mp4", os.urandom(2000), kind="video/mp4"))
    shown = _cli("estimate", "--config", str(world.plan_path), "--no-probe")
    assert shown.returncode == 0, shown.stderr
    assert "images->est-images" in shown.stdout
    assert "videos->est-videos" in shown.stdout
    assert "list prices for us-east-1" in shown.stdout
    assert "Time: not estimated" in shown.stdout
    as_json = _cli("estimate", "--config", str(world.plan_path), "--no-probe", "--json", "--bucket", "videos")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [b["mapping"] for b in data["buckets"]] == ["videos->est-videos"]
    assert (data["objects_to_copy"], data["bytes_to_copy"], data["requests"]["dest_puts"]) == (1, 2000, 1)
    assert data["cost"]["prices_source"] == "list prices for us-east-1"
    both = _cli("estimate", "--config", str(world.plan_path), "--list-from-db", "--list-from-api")
    assert both.returncode == 2
    assert "contradict" in both.stderr


def test_before_provision_the_estimate_counts_the_empty_buckets_the_copy_will_find(world: World) -> None:
    fresh = world.plan_path.with_name("fresh.toml")
    text = world.plan_path.read_text(encoding="utf-8")
    fresh.write_text(text.replace("est-images", "new-images").replace("est-videos", "new-videos"), encoding="utf-8")
    plan = load_plan(fresh)
    result = asyncio.run(estimate(plan))
    assert [b.dest_exists for b in result.buckets] == [False, False]
    assert "no destination bucket exists yet" in result.time.how
    assert result.time.seconds is not None
    assert result.requests["dest_lists"] == 2
    for bucket in ("new-images", "new-videos"):
        world.s3().create_bucket(Bucket=bucket)
    world.plan_path, saved = fresh, world.plan_path
    try:
        served, _ = _copy_served(world)
    finally:
        world.plan_path = saved
    assert served["objects"] == sum(b.objects for b in result.buckets) - 1  # all but the placeholder
    _same(_predicted(result), served)

"""`--shard K/N` on one machine: shards 0/3, 1/3, 2/3 run one after the other, sharing the default
manifest, read and write every object exactly once; each shard's verify judges its own part only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bucketshift.config import SupabaseEndpoint
from bucketshift.engine.diff import is_placeholder
from bucketshift.engine.shard import Shard
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.estimate import estimate
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import APP_BUCKETS, SeedPlan, seed_app

EXE = str(Path(sys.executable).with_name("bucketshift"))
SEED = SeedPlan(projects=1, branches=2, assets_per_branch=8, frames_per_branch=10, videos_per_branch=1,
                big_folder_entries=40, video_size=(20_000, 60_000))  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env={**os.environ})


def _reads(migration) -> dict[str, int]:
    """GETs of object bodies at the source emulator, per `bucket/key`."""
    return dict(migration.emulator.stats()["object_reads"])


def _writes(migration) -> dict[str, int]:
    """Versions per `bucket/key` at the destination (versioned buckets: one version per PUT)."""
    s3, out = migration.s3(), {}
    for bucket in APP_BUCKETS:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=migration.dest(bucket)):
            for version in page.get("Versions", []):
                name = f"{bucket}/{version['Key']}"
                out[name] = out.get(name, 0) + 1
    return out


async def _verify(migration, shard: Shard | None) -> VerifyRun:
    run = VerifyRun(migration.plan, VerifyRequest(shard=shard))
    await run.run()
    return run


async def test_three_shards_one_after_the_other_copy_every_object_once(migration) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        seeded = await seed_app(store, SEED)
    source = {f"{o.bucket}/{o.key}" for o in seeded.objects if not is_placeholder(o.key)}
    listed = len(seeded.objects)
    s3 = migration.s3()
    for bucket in APP_BUCKETS:
        s3.put_bucket_versioning(Bucket=migration.dest(bucket), VersioningConfiguration={"Status": "Enabled"})
    migration.emulator.reset_stats()

    parts: list[set[str]] = []
    for k in range(3):
        shard = Shard(k, 3)
        estimated = await estimate(migration.plan, shard=shard, probe=False)
        before_reads, before_writes = _reads(migration), _writes(migration)
        run = CopyRun(migration.plan, CopyRequest(shard=shard))  # the default manifest, beside the plan
        reports = await run.run()
        assert run.failed == 0, [f for r in reports for f in r.failures][:3]
        reads, writes = _reads(migration), _writes(migration)
        read_now = {name for name, n in reads.items() if n > before_reads.get(name, 0)}
        written_now = {name for name, n in writes.items() if n > before_writes.get(name, 0)}
        mine = {name for name in source if shard.in_shard(name.split("/", 1)[1])}
        assert read_now == written_now == mine
        assert sum(r.stats.copied for r in reports) == len(mine)
        assert estimated.objects_to_copy == len(mine), "the estimate of a shard counts that shard's objects"
        assert sum(r.stats.adopted for r in reports) == 0
        in_shard = sum(r.stats.listed for r in reports)
        assert in_shard + sum(r.stats.outside_shard for r in reports) == listed
        assert 0 < len(mine) <= in_shard < listed  # the shard's placeholders are listed, not copied
        parts.append(mine)

    assert set.union(*parts) == source
    assert sum(len(p) for p in parts) == len(source)  # disjoint
    assert _reads(migration) == dict.fromkeys(source, 1)
    assert _writes(migration) == dict.fromkeys(source, 1)

    for k in range(3):
        checked = await _verify(migration, Shard(k, 3))
        assert checked.ok
        assert sum(r.stats.verified for r in checked.reports) == len(parts[k])
        assert sum(r.stats.missing + r.stats.extra_at_destination for r in checked.reports) == 0
        assert sum(r.stats.outside_shard for r in checked.reports) > 0
    whole = await _verify(migration, None)
    assert whole.ok
    assert sum(r.stats.verified for r in whole.reports) == len(source)

    # sync takes the shard too: one object changed in each of shards 0 and 1, each sync reads its own.
    changed = [sorted(parts[0])[0], sorted(parts[1])[0]]
    async with open_store(endpoint) as store:
        for name in changed:
            bucket, key = name.split("/", 1)
            await store.put(bucket, key, b"\x89PNG changed at the source", content_type="image/png")
    for k in (0, 1):
        migration.emulator.reset_stats()
        synced = await CopyRun(migration.plan, CopyRequest(mode="sync", shard=Shard(k, 3))).run()
        assert sum(r.stats.copied for r in synced) == 1
        assert _reads(migration) == {changed[k]: 1}

    # One object of shard 2 goes missing at the destination: shard 0's verify still passes (it is
    # not shard 0's), shard 2's fails on exactly that object, and the whole verify fails too.
    victim = sorted(parts[2])[0]
    bucket, key = victim.split("/", 1)
    s3.delete_object(Bucket=migration.dest(bucket), Key=key)
    # And an object the source does not have appears at the destination: only its shard counts it.
    extra = next(f"extra/{i}.png" for i in range(100) if Shard(2, 3).in_shard(f"extra/{i}.png"))
    s3.put_object(Bucket=migration.dest("images"), Key=extra, Body=b"the app's own")
    other = await _verify(migration, Shard(0, 3))
    assert other.ok
    assert sum(r.stats.missing + r.stats.extra_at_destination for r in other.reports) == 0
    owner = await _verify(migration, Shard(2, 3))
    assert not owner.ok
    assert sum(r.stats.extra_at_destination for r in owner.reports) == 1
    assert [(r.spec.source_bucket, m) for r in owner.reports for m in r.missing] == [(bucket, key)]
    assert not (await _verify(migration, None)).ok

    # The owner's shard repairs it through the CLI: one read, one write, and the summary says
    # which part of the listing this run was.
    migration.emulator.reset_stats()
    done = cli("copy", "--config", str(migration.plan_path), "--shard", "2/3")
    assert done.returncode == 0, done.stderr
    assert _reads(migration) == {victim: 1}
    assert f"shard 2/3: {len(parts[2]) + _placeholders(seeded, Shard(2, 3))} of {listed} listed objects" in done.stdout
    checked = cli("verify", "--config", str(migration.plan_path), "--shard", "2/3", "--json")
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout)
    assert result["ok"] is True
    assert result["shard"] == "2/3"
    assert result["verified"] == len(parts[2])
    assert result["outside_shard"] == listed - len(parts[2]) - _placeholders(seeded, Shard(2, 3))


def _placeholders(seeded, shard: Shard) -> int:
    return sum(1 for o in seeded.objects if is_placeholder(o.key) and shard.in_shard(o.key))


def test_a_shard_outside_k_of_n_is_bad_usage_in_one_line(tmp_path: Path) -> None:
    """Refused before the plan file is even read (there is none here); `2/3`, accepted, is run above."""
    plan = str(tmp_path / "no-plan-needed.toml")
    for verb, text in (("copy", "3/3"), ("sync", "1/0"), ("verify", "x/3")):
        done = cli(verb, "--config", plan, "--shard", text)
        assert done.returncode == 2, (verb, done.stderr)
        assert done.stdout == ""
        assert done.stderr.strip().splitlines() == [
            f"error: --shard '{text}': give K/N, two whole numbers with N at least 1 and K from 0 to N-1 "
            "(e.g. 0/3, 1/3 and 2/3 for three machines)"
        ]

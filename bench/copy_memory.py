"""Peak memory of `bucketshift copy` at concurrency 64, whatever the object sizes.

Three workloads, each copied by the CLI in a child process whose peak resident set (VmHWM) is read
while it runs: 5,000 objects of 200 KB; one object of 1 GB; and an app-shaped mix of 3,601 small
images (20-120 KB) with five 20 MB videos (3,606 objects).  The memory budget (`[transfer]
memory_budget`) is what bounds bytes in flight; its peak use is reported beside the RSS.
Prints one JSON document (and writes it with --out).  Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from _harness import MB, MiB, emit, make_buckets, timed_child, world, write_plan
from bucketshift.config import SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import large_body

WORKLOADS = ("small", "large", "mix")


async def _put_many(url: str, key: str, bucket: str, sizes: list[int], prefix: str) -> None:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        gate = asyncio.Semaphore(32)
        pool = os.urandom(max(sizes) + 997)

        async def one(i: int, size: int) -> None:
            async with gate:
                await store.put(bucket, f"{prefix}/{i:06d}.bin", pool[i % 997 : i % 997 + size])

        await asyncio.gather(*(one(i, size) for i, size in enumerate(sizes)))


async def _put_large(url: str, key: str, bucket: str, size: int, name: str) -> None:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        await store.put(bucket, name, large_body(size), size=size, content_type="video/mp4")


def seed(workload: str, url: str, key: str) -> int:
    rng = random.Random(7)
    if workload == "small":
        asyncio.run(_put_many(url, key, "mem-small", [200_000] * 5000, "frames"))
        return 5000
    if workload == "large":
        asyncio.run(_put_large(url, key, "mem-large", 1_000_000_000, "videos/large.mp4"))
        return 1
    asyncio.run(_put_many(url, key, "mem-mix", [rng.randint(20_000, 120_000) for _ in range(3601)], "images"))
    for n in range(5):
        asyncio.run(_put_large(url, key, "mem-mix", 20_000_000, f"videos/job_{n}.mp4"))
    return 3606


def main() -> None:
    ap = argparse.ArgumentParser(description="peak memory of a copy at concurrency 64")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=30.0)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--memory-budget", help="[transfer] memory_budget for the copies (default: the plan's default)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    exe = str(Path(sys.executable).with_name("bucketshift"))
    result: dict = {"concurrency": a.concurrency, "latency_ms": a.latency_ms, "workloads": {}}
    for workload in a.workloads.split(","):
        source, dest = f"mem-{workload}", f"mem-{workload}-dst"
        with world(catalog=True) as w:
            asyncio.run(make_buckets(w, [source], [dest]))
            objects = seed(workload, w.emulator.url, w.emulator.service_role_key)
            w.emulator.settings(latency_ms=a.latency_ms)
            extra = f'memory_budget = "{a.memory_budget}"\n' if a.memory_budget else ""
            plan = write_plan(w.work / "plan.toml", w, [(source, dest)], a.concurrency, with_dsn=True, transfer=extra)
            started = time.perf_counter()
            summary, wall, cpu, peak = timed_child([exe, "copy", "--config", str(plan), "--json"], 3600)
            copied = sum(b["copied"] for b in summary["buckets"])
            result["workloads"][workload] = {
                "objects": objects,
                "copied": copied,
                "failed": sum(b["failed"] for b in summary["buckets"]),
                "seconds": round(wall, 1),
                "copier_cpu_seconds": round(cpu, 2),
                "peak_rss_mb": round(peak / MB, 1),
                "peak_rss_mib": round(peak / MiB, 1),
                "memory_budget_mib": round(summary.get("memory_budget_bytes", 0) / MiB, 1),
                "budget_peak_mib": round(summary.get("memory_peak_bytes", 0) / MiB, 1),
                "elapsed_with_start": round(time.perf_counter() - started, 1),
            }
            print(json.dumps({workload: result["workloads"][workload]}), flush=True)
    emit(result, a.out)


if __name__ == "__main__":
    main()

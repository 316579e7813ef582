"""Copy throughput against the machine's CPU bound: Supabase emulator (added latency) -> moto, as a user runs it.

Seeds N objects of SIZE bytes in the emulator (its rows in PostgreSQL, as a real project's are, and
the plan given that database, so the copy lists `storage.objects`), then measures in the same run:
  - the raw GET rate of the emulator alone and the raw PUT rate of moto alone (each in a child
    process at the same concurrency), and the "combined ceiling" 1 / (1/GET + 1/PUT) they give;
  - `bucketshift copy` itself: wall time, its CPU seconds and peak RSS, and the CPU seconds every
    server spent meanwhile (emulator, moto, the emulator's PostgreSQL), per object;
  - the machine's CPU bound for this copy, cores / (CPU per object of all those processes), and the
    copy rate as a share of it;
  - the requests the source served per copied object.
`--api-listing` leaves the database out of the plan (the listing through the Storage API, user
metadata by object/info). Prints one JSON document (and writes it with --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from _harness import MB, emit, make_buckets, per_object, s3_endpoint, timed_child, world, write_plan
from bucketshift import eventloop
from bucketshift.config import SupabaseEndpoint
from bucketshift.stores.registry import open_store

LISTING_ROUTES = ("POST object/list-v2", "POST object/list", "GET bucket")


async def _seed(url: str, key: str, bucket: str, n: int, size: int) -> None:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        body = os.urandom(size)
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                shifted = body[i % 997 :] + body[: i % 997]
                await store.put(bucket, f"p/b/frames/f{i:06d}.png", shifted, content_type="image/png",
                                metadata={"frame": str(i)})  # fmt: skip

        await asyncio.gather(*(one(i) for i in range(n)))


async def raw_get(url: str, key: str, bucket: str, n: int, concurrency: int) -> dict:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        keys = [info.key async for info in store.list(bucket)][:n]
        gate = asyncio.Semaphore(concurrency)

        async def one(k: str) -> int:
            async with gate, store.open(bucket, k) as reader:
                return sum([len(chunk) async for chunk in reader])

        started = time.perf_counter()
        got = await asyncio.gather(*(one(k) for k in keys))
        return {"objects": len(keys), "seconds": time.perf_counter() - started, "bytes": sum(got)}


async def raw_put(endpoint: str, bucket: str, n: int, size: int, concurrency: int) -> dict:
    async with open_store(s3_endpoint(endpoint)) as store:
        body = os.urandom(size)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await store.put(bucket, f"raw/{i:06d}.png", body, content_type="image/png")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return {"objects": n, "seconds": time.perf_counter() - started, "bytes": n * size}


def child_main(argv: list[str]) -> None:
    if argv[0] == "get":
        print(json.dumps(eventloop.run(raw_get(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])))))
    elif argv[0] == "put":
        print(json.dumps(eventloop.run(raw_put(argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5])))))


def main() -> None:
    ap = argparse.ArgumentParser(description="copy throughput against the machine's CPU bound")
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--latency-ms", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--raw-sample", type=int, default=1500, help="objects per raw-rate phase")
    ap.add_argument("--api-listing", action="store_true", help="no database in the plan: list through the API")
    ap.add_argument("--plain-moto", action="store_true", help="moto's own server, without the S3 checks it lacks")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.child:
        child_main(a.child)
        return
    exe = str(Path(sys.executable).with_name("bucketshift"))
    me = [sys.executable, __file__, "--child"]
    cores = os.cpu_count() or 1
    result: dict = {
        "objects": a.objects,
        "object_bytes": a.size,
        "latency_ms": a.latency_ms,
        "concurrency": a.concurrency,
        "cpus": cores,
        "listing": "api" if a.api_listing else "storage.objects",
        "moto": "moto's own server" if a.plain_moto else "moto with S3's checksum checks (bucketshift_sandbox.moto_s3)",
    }
    with world(catalog=True, s3_checks=not a.plain_moto) as w:
        key, url = w.emulator.service_role_key, w.emulator.url
        asyncio.run(make_buckets(w, ["bench-src"], ["bench-raw", "bench-dst"]))
        t0 = time.perf_counter()
        asyncio.run(_seed(url, key, "bench-src", a.objects, a.size))
        result["seed_seconds"] = round(time.perf_counter() - t0, 1)
        w.emulator.settings(latency_ms=a.latency_ms)
        sample = min(a.raw_sample, a.objects)
        got, _, get_cpu, _ = timed_child([*me, "get", url, key, "bench-src", str(sample), str(a.concurrency)], 1800)
        put, _, put_cpu, _ = timed_child(
            [*me, "put", w.moto.endpoint_url, "bench-raw", str(sample), str(a.size), str(a.concurrency)], 1800
        )
        raw_get_rate, raw_put_rate = got["objects"] / got["seconds"], put["objects"] / put["seconds"]
        combined = 1 / (1 / raw_get_rate + 1 / raw_put_rate)

        plan = write_plan(w.work / "plan.toml", w, [("bench-src", "bench-dst")], a.concurrency,
                          with_dsn=not a.api_listing)  # fmt: skip
        w.emulator.reset_stats()
        before = w.server_cpu()
        summary, wall, cpu, rss = timed_child([exe, "copy", "--config", str(plan), "--json"], 3600)
        servers = per_object(before, w.server_cpu(), a.objects)
        copied = sum(b["copied"] for b in summary["buckets"])
        copier_ms = cpu * 1000 / max(copied, 1)
        rate = copied / wall
        per_object_all = copier_ms + sum(servers.values())
        per_object_no_pg = copier_ms + servers["emulator"] + servers["moto"]
        routes = w.emulator.stats().get("by_route", {})
        per_object_requests = sum(n for route, n in routes.items() if route not in LISTING_ROUTES)
        result.update(
            {
                "raw_get_objects_per_s": round(raw_get_rate, 1),
                "raw_get_client_cpu_ms_per_object": round(get_cpu * 1000 / got["objects"], 3),
                "raw_put_objects_per_s": round(raw_put_rate, 1),
                "raw_put_client_cpu_ms_per_object": round(put_cpu * 1000 / put["objects"], 3),
                "combined_ceiling_objects_per_s": round(combined, 1),
                "copy_objects": copied,
                "copy_failed": sum(b["failed"] for b in summary["buckets"]),
                "copy_seconds": round(wall, 2),
                "copy_objects_per_s": round(rate, 1),
                "copy_mb_per_s": round(copied * a.size / MB / wall, 2),
                "copier_cpu_ms_per_object": round(copier_ms, 3),
                "copier_peak_rss_mb": round(rss / MB, 1),
                "servers_cpu_ms_per_object": servers,
                "cpu_bound_objects_per_s": round(cores / per_object_all * 1000, 1),
                "copy_share_of_cpu_bound": round(rate * per_object_all / 1000 / cores, 3),
                "cpu_bound_without_postgres_objects_per_s": round(cores / per_object_no_pg * 1000, 1),
                "copy_share_of_cpu_bound_without_postgres": round(rate * per_object_no_pg / 1000 / cores, 3),
                "copy_share_of_combined_ceiling": round(rate / combined, 3),
                "source_requests_by_route": routes,
                "source_requests_per_copied_object": round(per_object_requests / max(copied, 1), 3),
                "source_requests_per_copied_object_with_listing": round(sum(routes.values()) / max(copied, 1), 3),
                "metadata": summary["buckets"][0].get("metadata"),
            }
        )
    emit(result, a.out)


if __name__ == "__main__":
    main()

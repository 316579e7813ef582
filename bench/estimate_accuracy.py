"""The estimate against the copy it predicts: Supabase emulator -> moto, on this machine.

Seeds a bounded workload (IMAGES images of 20-200 KB and a few multi-MB videos, one above the
multipart threshold), runs `estimate` (with its time probe), then the real copy, and counts what
the servers actually served: the emulator's own request counters by route, and moto's request
log (werkzeug writes one line per request: method, path and query).  Prints one JSON document:
estimated vs measured seconds, bytes and request counts, and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path

from _harness import MiB, emit, make_buckets, world, write_plan
from bucketshift import eventloop
from bucketshift.config import SupabaseEndpoint, load_plan
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.estimate import estimate
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.moto_log import s3_requests


async def seed(url: str, key: str, images: int, videos: list[int]) -> None:
    rng = random.Random(13)
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        gate = asyncio.Semaphore(32)

        async def one(name: str, size: int, kind: str) -> None:
            async with gate:
                await store.put("bench-src", name, os.urandom(size), content_type=kind, metadata={"n": name[-8:]})

        jobs = [one(f"p/frames/f{i:05d}.png", rng.randint(20_000, 200_000), "image/png") for i in range(images)]
        jobs += [one(f"p/videos/v{i}.mp4", size, "video/mp4") for i, size in enumerate(videos)]
        await asyncio.gather(*jobs)


def ratio(estimated: float, measured: float) -> float | None:
    return round(estimated / measured, 3) if measured else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--videos", default="6,12,20", help="video sizes in MiB, comma separated")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path)
    a = parser.parse_args()
    videos = [int(float(v) * MiB) for v in a.videos.split(",") if v]
    with world(catalog=False) as w:
        asyncio.run(make_buckets(w, ["bench-src"], ["bench-dst"]))
        asyncio.run(seed(w.emulator.url, w.emulator.service_role_key, a.images, videos))
        path = write_plan(w.work / "plan.toml", w, [("bench-src", "bench-dst")], a.concurrency, with_dsn=False)
        plan = load_plan(path)
        started = time.perf_counter()
        predicted = eventloop.run(estimate(plan))
        estimate_seconds = time.perf_counter() - started

        log = w.work / "moto.log"
        mark = log.stat().st_size
        w.emulator.reset_stats()
        run = CopyRun(plan, CopyRequest())
        started = time.perf_counter()
        eventloop.run(run.run())
        copy_seconds = time.perf_counter() - started
        time.sleep(0.2)  # the last log lines
        routes = w.emulator.stats()["by_route"]
        s3 = s3_requests(log, mark)
        copied_bytes = sum(r.stats.copied_bytes for r in run.reports)
        copied = sum(r.stats.copied for r in run.reports)

    r = predicted.requests
    measured = {
        "objects": copied,
        "bytes": copied_bytes,
        "source_gets": routes.get("GET object/authenticated", 0),
        "source_heads": routes.get("GET object/info", 0),
        "source_lists": routes.get("POST object/list-v2", 0)
        + routes.get("POST object/list", 0)
        + routes.get("GET bucket", 0),
        "dest_lists": s3["ListObjectsV2"],
        "dest_puts": s3["PutObject"],
        "multipart_uploads": s3["CreateMultipartUpload"],
        "multipart_completes": s3["CompleteMultipartUpload"],
        "multipart_parts": s3["UploadPart"],
        "dest_heads": s3["HeadObject"],
        "other_s3": {
            k: v
            for k, v in s3.items()
            if k
            not in {
                "ListObjectsV2",
                "PutObject",
                "CreateMultipartUpload",
                "CompleteMultipartUpload",
                "UploadPart",
                "HeadObject",
            }
        },
    }
    estimated = {
        "objects": predicted.objects_to_copy,
        "bytes": predicted.bytes_to_copy,
        **{k: r[k] for k in ("source_gets", "source_heads", "source_lists", "dest_lists", "dest_puts")},
        "multipart_uploads": r["multipart_uploads"],
        "multipart_completes": r["multipart_uploads"],
        "multipart_parts": r["multipart_parts"],
        "dest_heads": r["dest_heads"],
    }
    seconds = predicted.time.seconds or 0.0
    result = {
        "workload": {"images": a.images, "videos_mib": a.videos, "concurrency": a.concurrency},
        "seconds": {
            "estimated": seconds,
            "measured": round(copy_seconds, 3),
            "ratio": ratio(seconds, copy_seconds),
            "estimate_took": round(estimate_seconds, 3),
        },
        "how": predicted.time.how,
        "estimated": estimated,
        "measured": measured,
        "equal": {k: estimated[k] == measured[k] for k in estimated},
        "cost_usd": {
            "once": predicted.cost.total_once_usd,
            "storage_month": predicted.cost.storage_month_usd,
            "prices": predicted.cost.prices_source,
            "date": predicted.cost.prices_date,
        },
    }
    emit(result, a.out)


if __name__ == "__main__":
    main()

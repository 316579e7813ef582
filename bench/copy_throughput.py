"""Copy throughput and memory: Supabase emulator (with added latency) -> moto, as a user runs it.

Seeds N objects of SIZE bytes in the emulator, then measures in the same run, each in its own
child process at the same concurrency:
  - the raw GET rate of the emulator alone (SupabaseStore.open, body drained),
  - the raw PUT rate of moto alone (S3Store.put),
  - `bucketshift copy` itself (wall time, CPU seconds and peak RSS of its process),
and, unless --no-large, the peak RSS of `bucketshift copy` moving one LARGE-byte object.
Prints one JSON document (and writes it to bench/results/ when --out is given).
Every phase is bounded by a timeout; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bucketshift import eventloop
from bucketshift.config import S3Endpoint, SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import large_body
from bucketshift_sandbox.servers import run_emulator, run_moto

MB = 1_000_000
PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "{key}"
[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"
access_key_id = "bench"
secret_access_key = "moto-accepts-any-key"
[[buckets]]
source = "{source}"
destination = "{dest}"
access = "public-read"
[transfer]
concurrency = {concurrency}
"""


def _s3(endpoint: str) -> S3Endpoint:
    return S3Endpoint(
        type="s3",
        region="us-east-1",
        endpoint_url=endpoint,
        access_key_id="bench",
        secret_access_key="moto-accepts-any-key",  # noqa: S106 - moto's stand-in
    )


async def _seed(url: str, key: str, bucket: str, n: int, size: int, concurrency: int) -> None:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        await store.create_bucket(bucket, public=True)
        body = os.urandom(size)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await store.put(
                    bucket, f"p/b/frames/f{i:06d}.png", body[i % 997 :] + body[: i % 997], content_type="image/png"
                )

        await asyncio.gather(*(one(i) for i in range(n)))


async def _seed_large(url: str, key: str, bucket: str, size: int) -> None:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        await store.create_bucket(bucket)
        await store.put(bucket, "videos/large.mp4", large_body(size), size=size, content_type="video/mp4")


def _cpu_seconds(pid: int) -> float:
    """A server process's CPU seconds so far (user + system, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCPU:
    """CPU milliseconds per object the emulator and moto spend in one phase."""

    def __init__(self, emulator: int, moto: int) -> None:
        self.pids = {"emulator": emulator, "moto": moto}
        self.start = {name: _cpu_seconds(pid) for name, pid in self.pids.items()}

    def per_object(self, objects: int) -> dict[str, float]:
        return {
            f"{name}_cpu_ms_per_object": round((_cpu_seconds(pid) - self.start[name]) * 1000 / max(objects, 1), 2)
            for name, pid in self.pids.items()
        }


def _timed_child(args: list[str], limit: float) -> tuple[dict, float, float, int]:
    """Run a child; its JSON stdout, wall seconds, own CPU seconds and peak RSS (from wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + limit
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"child timed out after {limit}s")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        text, problem = out.read(), err.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"child {' '.join(args[:4])} failed: {problem.strip().splitlines()[-3:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return (json.loads(text) if text.strip().startswith("{") else {}), wall, cpu, usage.ru_maxrss * 1024


async def raw_get(url: str, key: str, bucket: str, n: int, concurrency: int) -> dict:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        keys = [info.key async for info in store.list(bucket)][:n]
        gate = asyncio.Semaphore(concurrency)

        async def one(k: str) -> int:
            async with gate:
                total = 0
                async with store.open(bucket, k) as reader:
                    async for chunk in reader:
                        total += len(chunk)
                return total

        started = time.perf_counter()
        got = await asyncio.gather(*(one(k) for k in keys))
        wall = time.perf_counter() - started
    return {"objects": len(keys), "seconds": wall, "bytes": sum(got)}


async def raw_put(endpoint: str, bucket: str, n: int, size: int, concurrency: int) -> dict:
    async with open_store(_s3(endpoint)) as store:
        await store.create_bucket(bucket)
        body = os.urandom(size)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await store.put(bucket, f"raw/{i:06d}.png", body, content_type="image/png")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - started
    return {"objects": n, "seconds": wall, "bytes": n * size}


def child_main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "get":
        url, key, bucket, n, c = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
        print(json.dumps(eventloop.run(raw_get(url, key, bucket, n, c))))
    elif mode == "put":
        endpoint, bucket, n, size, c = argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5])
        print(json.dumps(eventloop.run(raw_put(endpoint, bucket, n, size, c))))


def main() -> None:
    ap = argparse.ArgumentParser(description="copy throughput benchmark")
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--latency-ms", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--raw-sample", type=int, default=1500, help="objects per raw-rate phase")
    ap.add_argument("--large", type=int, default=1_000_000_000)
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.child:
        child_main(a.child)
        return
    exe = str(Path(sys.executable).with_name("bucketshift"))
    me = [sys.executable, __file__, "--child"]
    result: dict = {
        "objects": a.objects,
        "object_bytes": a.size,
        "latency_ms": a.latency_ms,
        "concurrency": a.concurrency,
        "cpus": os.cpu_count(),
    }
    work = Path(tempfile.mkdtemp(prefix="bucketshift-bench-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        _run(a, result, work, me, exe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n", encoding="utf-8")


def _run(a: argparse.Namespace, result: dict, work: Path, me: list[str], exe: str) -> None:
    """The phases, servers in `work` (removed afterwards: the objects fill /dev/shm)."""
    with run_emulator(work / "emulator") as emulator, run_moto(work) as moto:
        key = emulator.service_role_key
        t0 = time.perf_counter()
        asyncio.run(_seed(emulator.url, key, "bench-src", a.objects, a.size, 64))
        result["seed_seconds"] = round(time.perf_counter() - t0, 1)
        emulator.settings(latency_ms=a.latency_ms)
        sample = min(a.raw_sample, a.objects)

        servers = ServerCPU(emulator.proc.pid, moto.proc.pid)
        got, _, get_cpu, _ = _timed_child(
            [*me, "get", emulator.url, key, "bench-src", str(sample), str(a.concurrency)], 1800
        )
        get_servers = servers.per_object(got["objects"])
        servers = ServerCPU(emulator.proc.pid, moto.proc.pid)
        put, _, put_cpu, _ = _timed_child(
            [*me, "put", moto.endpoint_url, "bench-raw", str(sample), str(a.size), str(a.concurrency)], 1800
        )
        put_servers = servers.per_object(put["objects"])
        raw_get_rate = got["objects"] / got["seconds"]
        raw_put_rate = put["objects"] / put["seconds"]
        combined = 1 / (1 / raw_get_rate + 1 / raw_put_rate)

        async def make_dest() -> None:
            async with open_store(_s3(moto.endpoint_url)) as store:
                await store.create_bucket("bench-dst")

        asyncio.run(make_dest())
        plan = work / "plan.toml"
        plan.write_text(
            PLAN.format(
                url=emulator.url,
                key=key,
                endpoint=moto.endpoint_url,
                source="bench-src",
                dest="bench-dst",
                concurrency=a.concurrency,
            ),
            encoding="utf-8",
        )
        emulator.reset_stats()
        servers = ServerCPU(emulator.proc.pid, moto.proc.pid)
        summary, wall, cpu, rss = _timed_child([exe, "copy", "--config", str(plan), "--json"], 3600)
        copied = sum(b["copied"] for b in summary["buckets"])
        failed = sum(b["failed"] for b in summary["buckets"])
        rate = copied / wall
        result.update(
            {
                "raw_get_objects_per_s": round(raw_get_rate, 1),
                "raw_get_cpu_ms_per_object": round(get_cpu * 1000 / got["objects"], 2),
                "raw_put_objects_per_s": round(raw_put_rate, 1),
                "raw_put_cpu_ms_per_object": round(put_cpu * 1000 / put["objects"], 2),
                "combined_ceiling_objects_per_s": round(combined, 1),
                "copy_objects": copied,
                "copy_failed": failed,
                "copy_seconds": round(wall, 1),
                "copy_objects_per_s": round(rate, 1),
                "copy_mb_per_s": round(copied * a.size / MB / wall, 2),
                "copy_share_of_smaller_limit": round(rate / min(raw_get_rate, raw_put_rate), 3),
                "copy_share_of_combined_ceiling": round(rate / combined, 3),
                "copy_cpu_seconds": round(cpu, 1),
                "copy_cpu_ms_per_object": round(cpu * 1000 / max(copied, 1), 2),
                "copy_peak_rss_mb": round(rss / MB, 1),
                "servers_during_raw_get": get_servers,
                "servers_during_raw_put": put_servers,
                "servers_during_copy": servers.per_object(copied),
                "source_requests": emulator.stats().get("by_route", {}),
            }
        )
        if not a.no_large:
            emulator.settings(latency_ms=0)
            asyncio.run(_seed_large(emulator.url, key, "bench-large", a.large))

            async def make_large_dest() -> None:
                async with open_store(_s3(moto.endpoint_url)) as store:
                    await store.create_bucket("bench-large-dst")

            asyncio.run(make_large_dest())
            plan_large = work / "plan-large.toml"
            plan_large.write_text(
                PLAN.format(
                    url=emulator.url,
                    key=key,
                    endpoint=moto.endpoint_url,
                    source="bench-large",
                    dest="bench-large-dst",
                    concurrency=a.concurrency,
                ),
                encoding="utf-8",
            )
            summary, wall, cpu, rss = _timed_child([exe, "copy", "--config", str(plan_large), "--json"], 3600)
            result["large"] = {
                "bytes": a.large,
                "copied": sum(b["copied"] for b in summary["buckets"]),
                "seconds": round(wall, 1),
                "mb_per_s": round(a.large / MB / wall, 1),
                "cpu_seconds": round(cpu, 1),
                "peak_rss_mb": round(rss / MB, 1),
            }


if __name__ == "__main__":
    main()

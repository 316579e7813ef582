"""The application client's upload throughput against moto, as a share of moto's raw PUT rate (issue 12).

Starts moto (with S3's checksum checks, or `--plain-moto` for moto's own server) and the
application's three buckets, then for each round runs, each in its own child process on the same
small images (N of them, 50-400 KB, seeded, image/png) with the same number in flight:
  - raw: obstore's `put_async` straight to moto, the least an honest PUT does (SigV4 signed by
    obstore with static keys, the same SHA-256 checksum header the client sends, so moto does the
    same work for both; no retries, no metadata);
  - client: `bucketshift.storage.AsyncStorage.from_env(STORAGE_BACKEND=s3, ...)` and its
    `upload("images", key, body, content_type="image/png")`, credentials from the AWS default chain.
Moto is reset and the buckets made again before every phase, so each phase starts from the same
empty store.  Each child measures its own CPU seconds (user + system, every thread) and moto's
(/proc/<pid>/stat) around the upload loop alone, so the reader sees whose CPU the rate is spent on.
The share is the client's rate over the raw rate of the same round; phases alternate (`--order`)
so drift between them shows.  Prints one JSON document (and writes it with --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from importlib import metadata as package_metadata
from pathlib import Path

from _harness import MB, emit, s3_endpoint, timed_child
from bucketshift import eventloop
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import MotoServer, run_moto

REGION = "us-east-1"
BUCKETS = {"aiuteur-asset-images": True, "aiuteur-images": True, "aiuteur-videos": False}
"""The application's S3 buckets and whether each is public-read (the seed's names)."""
TARGET = "aiuteur-images"
MIN_SIZE, MAX_SIZE = 50_000, 400_000
MAX_OBJECTS = 20_000
KEY_ID, SECRET = "bench", "moto-accepts-any-key"  # moto's stand-in, no real credential
RAW_HOW = (
    "obstore.put_async (one PUT, SigV4 signed by obstore with static keys, x-amz-checksum-sha256 as the "
    "client sends it, Content-Type, no retries, no user metadata), on the same event loop"
)


# the images ----------------------------------------------------------------------------------


class Images:
    """N small images (random bytes, sent as image/png), the same for every phase: seeded sizes and
    offsets into one seeded random blob.  A body is made (one slice, one copy) in the timed loop,
    the same way in every phase, so memory stays one blob whatever N is."""

    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        self.blob = rng.randbytes(MAX_SIZE + 65_536)
        self.shapes = [(rng.randint(MIN_SIZE, MAX_SIZE), rng.randrange(65_536)) for _ in range(n)]

    def body(self, i: int) -> bytes:
        size, offset = self.shapes[i]
        return self.blob[offset : offset + size]

    @property
    def total_bytes(self) -> int:
        return sum(size for size, _ in self.shapes)


def object_key(i: int) -> str:
    return f"project_{i % 17}/branch_{i % 3}/frames/frame_{i:06d}.png"


# measuring (in the child) --------------------------------------------------------------------


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: obstore's runtime too
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    """Another process's CPU seconds so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(upload, n: int, concurrency: int, images: Images, moto_pid: int, limit: float) -> dict:
    """`concurrency` workers taking the next image until N are done; CPU and wall around this alone."""
    failures: list[str] = []
    next_index = iter(range(n))

    async def worker() -> None:
        for i in next_index:
            try:
                await upload(object_key(i), images.body(i))
            except Exception as error:  # counted and shown: a failed upload is a finding, not a crash
                failures.append(f"{type(error).__name__}: {error}"[:300])

    cpu0, moto0, t0 = _own_cpu(), _proc_cpu(moto_pid), time.perf_counter()
    timed_out = False
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    except TimeoutError:
        timed_out = True
    wall, cpu, moto_cpu = time.perf_counter() - t0, _own_cpu() - cpu0, _proc_cpu(moto_pid) - moto0
    return {"seconds": wall, "cpu_seconds": cpu, "moto_cpu_seconds": moto_cpu, "failed": len(failures),
            "first_failures": failures[:3], "timed_out": timed_out}  # fmt: skip


async def raw_phase(spec: dict) -> dict:
    import obstore
    from obstore.store import S3Store as ObstoreS3

    store = ObstoreS3(
        TARGET,
        endpoint=spec["endpoint"],
        region=REGION,
        virtual_hosted_style_request=False,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        checksum_algorithm="SHA256",
        client_options={
            "allow_http": True,
            "pool_max_idle_per_host": str(spec["concurrency"]),
            "timeout": timedelta(seconds=120),
        },
        retry_config={"max_retries": 0},
    )
    attributes = {"Content-Type": "image/png"}

    async def upload(key: str, body: bytes) -> None:
        await obstore.put_async(store, key, body, attributes=attributes, use_multipart=False)

    images = Images(spec["objects"], spec["seed"])
    return await _drive(upload, spec["objects"], spec["concurrency"], images, spec["moto_pid"], spec["limit"])


async def client_phase(spec: dict) -> dict:
    from bucketshift.storage import AsyncStorage

    env = {"STORAGE_BACKEND": "s3", "AWS_REGION": REGION, "AWS_ENDPOINT_URL_S3": spec["endpoint"]}
    images = Images(spec["objects"], spec["seed"])
    async with AsyncStorage.from_env(env) as storage:
        await storage.check()  # start-up, as the application does it: not timed

        async def upload(key: str, body: bytes) -> None:
            await storage.upload("images", key, body, content_type="image/png")

        profile = spec.get("profile")
        if not profile:
            return await _drive(upload, spec["objects"], spec["concurrency"], images, spec["moto_pid"], spec["limit"])
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return await _drive(upload, spec["objects"], spec["concurrency"], images, spec["moto_pid"], spec["limit"])
        finally:
            profiler.disable()
            profiler.dump_stats(profile)


def child_main(spec: dict) -> None:
    # The AWS default chain finds these bench keys, never the caller's own profile or credentials.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    phase = raw_phase if spec["phase"] == "raw" else client_phase
    result = eventloop.run(phase(spec))
    result["event_loop"] = "uvloop" if eventloop.loop_factory() is not None else "asyncio"
    print(json.dumps(result))


# the run (in the parent) ---------------------------------------------------------------------


async def _make_buckets(endpoint: str) -> None:
    async with open_store(s3_endpoint(endpoint)) as store:
        for name, public in BUCKETS.items():
            await store.create_bucket(name, public=public)


async def _stored(endpoint: str) -> tuple[int, int]:
    """How many objects the target bucket holds, and their bytes: what a phase really wrote."""
    async with open_store(s3_endpoint(endpoint)) as store:
        sizes = [info.size async for info in store.list(TARGET)]
    return len(sizes), sum(sizes)


def _fresh(moto: MotoServer) -> None:
    """An empty moto with the application's buckets, so every phase starts alike."""
    moto.reset()
    asyncio.run(_make_buckets(moto.endpoint_url))


def _version(name: str) -> str | None:
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return None


def _phase_figures(phase: str, rnd: int, got: dict, objects: int, nbytes: int, process_cpu: float) -> dict:
    seconds = got["seconds"]
    return {
        "phase": phase,
        "round": rnd,
        "objects": objects,
        "failed": got["failed"],
        "first_failures": got["first_failures"],
        "seconds": round(seconds, 2),
        "objects_per_s": round(objects / seconds, 1),
        "mb_per_s": round(nbytes / MB / seconds, 2),
        "cpu_ms_per_upload": round(got["cpu_seconds"] * 1000 / objects, 3),
        "cpu_cores_busy": round(got["cpu_seconds"] / seconds, 3),
        "moto_cpu_ms_per_upload": round(got["moto_cpu_seconds"] * 1000 / objects, 3),
        "moto_cpu_cores_busy": round(got["moto_cpu_seconds"] / seconds, 3),
        "process_cpu_seconds": round(process_cpu, 2),
        "event_loop": got["event_loop"],
    }


def _median(rows: list[dict], field: str) -> float:
    return round(statistics.median(row[field] for row in rows), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=2000, help=f"images per phase (at most {MAX_OBJECTS})")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--order", choices=("raw,client", "client,raw"), default="raw,client")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--plain-moto", action="store_true", help="moto's own server, without the S3 checks it lacks")
    ap.add_argument("--time-limit", type=float, default=1800.0, help="seconds for the whole run; aborts beyond")
    ap.add_argument("--profile", type=Path, help="cProfile the last client phase's upload loop into this file")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_main(json.loads(a.child))
        return
    if not 1 <= a.objects <= MAX_OBJECTS:
        ap.error(f"--objects must be between 1 and {MAX_OBJECTS}")
    if not 1 <= a.concurrency <= 256 or not 1 <= a.rounds <= 10 or a.time_limit <= 0:
        ap.error("--concurrency must be 1-256, --rounds 1-10 and --time-limit positive")

    deadline = time.monotonic() + a.time_limit
    images = Images(a.objects, a.seed)
    order = a.order.split(",")
    phases: list[dict] = []
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="bucketshift-bench-", dir=shm if shm.is_dir() else None))
    try:
        with run_moto(work, s3_checks=not a.plain_moto) as moto:
            for rnd in range(1, a.rounds + 1):
                for phase in order:
                    left = deadline - time.monotonic()
                    if left < 5:
                        raise SystemExit(f"time limit of {a.time_limit}s reached before {phase} phase {rnd}")
                    _fresh(moto)
                    profile = a.profile and phase == "client" and rnd == a.rounds
                    spec = {"phase": phase, "endpoint": moto.endpoint_url, "moto_pid": moto.proc.pid,
                            "objects": a.objects, "concurrency": a.concurrency, "seed": a.seed,
                            "limit": left - 3, "profile": str(a.profile.resolve()) if profile else None}  # fmt: skip
                    got, _, process_cpu, _ = timed_child([sys.executable, __file__, "--child", json.dumps(spec)], left)
                    if got["timed_out"]:
                        raise SystemExit(f"time limit of {a.time_limit}s reached during {phase} phase {rnd}")
                    figures = _phase_figures(phase, rnd, got, a.objects, images.total_bytes, process_cpu)
                    figures["stored_objects"], figures["stored_bytes"] = asyncio.run(_stored(moto.endpoint_url))
                    phases.append(figures)
                    print(f"{phase} round {rnd}: {phases[-1]['objects_per_s']} obj/s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    raw = [p for p in phases if p["phase"] == "raw"]
    client = [p for p in phases if p["phase"] == "client"]
    shares = [round(c["objects_per_s"] / r["objects_per_s"], 3) for r, c in zip(raw, client, strict=True)]
    result = {
        "objects_per_phase": a.objects,
        "bytes_per_phase": images.total_bytes,
        "object_sizes": f"{MIN_SIZE}-{MAX_SIZE} bytes, seeded (seed {a.seed}), image/png",
        "concurrency": a.concurrency,
        "rounds": a.rounds,
        "order": a.order,
        "cpus": os.cpu_count(),
        "moto": "moto's own server" if a.plain_moto else "moto with S3's checksum checks (bucketshift_sandbox.moto_s3)",
        "raw_put": RAW_HOW,
        "client": "AsyncStorage.from_env(STORAGE_BACKEND=s3).upload('images', key, bytes, content_type='image/png')",
        "raw_objects_per_s": _median(raw, "objects_per_s"),
        "client_objects_per_s": _median(client, "objects_per_s"),
        "share_by_round": shares,
        "share": round(statistics.median(shares), 3),
        "raw_cpu_ms_per_upload": _median(raw, "cpu_ms_per_upload"),
        "client_cpu_ms_per_upload": _median(client, "cpu_ms_per_upload"),
        "client_cpu_ms_per_upload_over_raw": round(
            _median(client, "cpu_ms_per_upload") - _median(raw, "cpu_ms_per_upload"), 3
        ),
        "moto_cpu_ms_per_upload_raw": _median(raw, "moto_cpu_ms_per_upload"),
        "moto_cpu_ms_per_upload_client": _median(client, "moto_cpu_ms_per_upload"),
        "moto_cpu_cores_busy_raw": _median(raw, "moto_cpu_cores_busy"),
        "moto_cpu_cores_busy_client": _median(client, "moto_cpu_cores_busy"),
        "failed": sum(p["failed"] for p in phases),
        "all_stored": all(p["stored_objects"] == a.objects and p["stored_bytes"] == images.total_bytes for p in phases),
        "phases": phases,
        "versions": {
            "python": platform.python_version(),
            "event_loop": phases[0]["event_loop"] if phases else None,
            "uvloop": _version("uvloop"),
            "obstore": _version("obstore"),
            "moto": _version("moto"),
            "boto3": _version("boto3"),
        },
    }
    emit(result, a.out)


if __name__ == "__main__":
    main()

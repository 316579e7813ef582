"""What the copy benchmarks share: servers in a scratch directory, CPU accounting of every process
that works for a copy, plan files, and a timed child process.

Only 127.0.0.1 is used; every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bucketshift.config import S3Endpoint, SupabaseEndpoint
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, postgres_cluster, run_emulator, run_moto

MB = 1_000_000
MiB = 1024 * 1024

PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "{key}"
{dsn}
[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"
access_key_id = "bench"
secret_access_key = "moto-accepts-any-key"
{buckets}
[transfer]
concurrency = {concurrency}
"""

BUCKET = """
[[buckets]]
source = "{source}"
destination = "{dest}"
access = "public-read"
"""


def s3_endpoint(endpoint: str) -> S3Endpoint:
    return S3Endpoint(
        type="s3",
        region="us-east-1",
        endpoint_url=endpoint,
        access_key_id="bench",
        secret_access_key="moto-accepts-any-key",  # noqa: S106 - moto's stand-in
    )


def write_plan(
    path: Path, world: World, pairs: list[tuple[str, str]], concurrency: int, *, with_dsn: bool, transfer: str = ""
) -> Path:
    """A plan file copying `pairs` (source bucket, destination bucket); `transfer` adds `[transfer]` lines."""
    dsn = f'dsn = "{world.catalog_dsn}"' if with_dsn and world.catalog_dsn else ""
    buckets = "".join(BUCKET.format(source=s, dest=d) for s, d in pairs)
    path.write_text(
        PLAN.format(
            url=world.emulator.url,
            key=world.emulator.service_role_key,
            dsn=dsn,
            endpoint=world.moto.endpoint_url,
            buckets=buckets,
            concurrency=concurrency,
        )
        + transfer,
        encoding="utf-8",
    )
    return path


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """A process's CPU seconds so far (user + system; with `children`, of its reaped children too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL cluster: the postmaster, its live backends and those already gone."""
    total = _cpu_seconds(postmaster, children=True)
    for child in _children(postmaster):
        with contextlib.suppress(OSError):
            total += _cpu_seconds(child)
    return total


@dataclass
class World:
    emulator: EmulatorServer
    moto: MotoServer
    work: Path
    catalog_dsn: str | None
    postmaster: int | None

    def server_cpu(self) -> dict[str, float]:
        out = {"emulator": _cpu_seconds(self.emulator.proc.pid), "moto": _cpu_seconds(self.moto.proc.pid)}
        if self.postmaster is not None:
            out["postgres"] = postgres_cpu(self.postmaster)
        return out


def _postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


@contextlib.contextmanager
def world(*, catalog: bool, s3_checks: bool = True) -> Iterator[World]:
    """The emulator (its rows in PostgreSQL when `catalog`, as a real project keeps them) and moto
    (with the checks of S3 it leaves out, unless `s3_checks` is false: see bucketshift_sandbox.moto_s3)."""
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="bucketshift-bench-", dir=shm if shm.is_dir() else None))
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: subprocess.run(["rm", "-rf", str(work)], check=False))
        dsn = postmaster = None
        if catalog:
            cluster = stack.enter_context(postgres_cluster())
            with psycopg.connect(cluster.dsn, autocommit=True) as conn:
                conn.execute('CREATE DATABASE "bench_storage"')
            dsn = cluster.dsn.rsplit("/", 1)[0] + "/bench_storage"
            postmaster = _postmaster(cluster.data_dir) if cluster.data_dir else None
        emulator = stack.enter_context(run_emulator(work / "emulator", catalog_dsn=dsn))
        moto = stack.enter_context(run_moto(work, s3_checks=s3_checks))
        yield World(emulator, moto, work, dsn, postmaster)


async def make_buckets(world: World, source: list[str], dest: list[str]) -> None:
    async with open_store(
        SupabaseEndpoint(type="supabase", url=world.emulator.url, key=world.emulator.service_role_key)
    ) as s:
        for name in source:
            await s.create_bucket(name, public=True)
    async with open_store(s3_endpoint(world.moto.endpoint_url)) as d:
        for name in dest:
            await d.create_bucket(name)


def _high_water_mark(pid: int) -> int:
    """The process's peak resident set so far (VmHWM), in bytes; 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def timed_child(args: list[str], limit: float) -> tuple[dict, float, float, int]:
    """Run a child; its JSON stdout, wall seconds, own CPU seconds and peak RSS.

    The peak is the child's own VmHWM, read while it runs: `ru_maxrss` from wait4 would also count
    the pages of this (large) benchmark process that the child was forked from, before its exec.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + limit
        peak = 0
        while True:
            peak = max(peak, _high_water_mark(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"child timed out after {limit}s")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        text, problem = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"child {' '.join(args[:4])} failed ({code}): {problem.strip().splitlines()[-3:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return (json.loads(text) if text.strip().startswith("{") else {}), wall, cpu, peak


def per_object(before: dict[str, float], after: dict[str, float], objects: int) -> dict[str, float]:
    return {name: round((after[name] - before[name]) * 1000 / max(objects, 1), 3) for name in after}


def emit(result: dict, out: Path | None) -> None:
    """A benchmark's figures as one JSON document on stdout (and in `out` when given)."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")

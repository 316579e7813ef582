"""Many `bucketshift copy` workers sharing one PostgreSQL state, against the machine's CPU bound.

Starts the servers once: the Supabase emulator (added latency; its rows in PostgreSQL, so the copy
lists `storage.objects`), moto, and a second throw-away PostgreSQL cluster that holds only the
state, with `pg_stat_statements` loaded. Seeds N small objects in one source bucket, then measures
in the same run:
  - the one-process copy with the default SQLite state (the rate the issue says must not drop);
  - for each K in --workers: K `bucketshift copy --state postgresql://...` processes started at
    once into a fresh destination bucket and a fresh state schema: wall time from the first start
    to the last exit, objects/s, the CPU seconds of the workers and of every server (emulator,
    moto, the source's PostgreSQL, the state's PostgreSQL) per object, the machine's CPU bound
    cores / (CPU per object of all of them) and the rate's share of it, the servers' share of all
    the CPU spent; and what coordination costs the state database per object: statements (from
    pg_stat_statements; the client's round trips, pipelining aside), the 5 most-called statements,
    transactions, CPU. Each worker's exit code and the objects it says it copied; their sum must
    equal N and the source must have served N object requests (each object fetched once), else
    the round carries an "ERROR" field.
Prints one JSON document (and writes it with --out).

    .venv/bin/python bench/copy_workers.py --objects 3000 --workers 1,2,4 --out /tmp/copy_workers.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from _harness import World, _high_water_mark, emit, make_buckets, postgres_cpu, s3_endpoint, world, write_plan
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.servers import pg_bin, postgres_cluster
from copy_throughput import LISTING_ROUTES, _seed

STATE_DB = "bench_state"
STATE_SCHEMA = "bucketshift_state"
SOURCE = "bench-src"


@dataclass
class StateServer:
    dsn: str
    data_dir: Path

    def postmaster(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])


@contextlib.contextmanager
def state_cluster() -> Iterator[StateServer]:
    """A throw-away cluster for the state, restarted once with pg_stat_statements preloaded.

    `postgres_cluster` takes no server settings, so the setting goes in through ALTER SYSTEM and a
    `pg_ctl restart` (which keeps the port and options the cluster was started with)."""
    with postgres_cluster() as cluster:
        assert cluster.data_dir is not None
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            conn.execute(f'CREATE DATABASE "{STATE_DB}"')
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        log = cluster.data_dir.parent / "postgres.log"
        subprocess.run(
            [*prefix, pg_bin("pg_ctl"), "-D", str(cluster.data_dir), "-l", str(log), "-w", "-t", "60", "restart"],
            check=True,
            capture_output=True,
            timeout=90,
            cwd=cluster.data_dir.parent,
        )
        dsn = cluster.dsn.rsplit("/", 1)[0] + "/" + STATE_DB
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield StateServer(dsn, cluster.data_dir)


def fresh_state(dsn: str) -> None:
    """No state schema and zeroed statistics: each round starts from nothing."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{STATE_SCHEMA}" CASCADE')
        conn.execute("SELECT pg_stat_reset()")
        conn.execute("SELECT pg_stat_statements_reset()")


def state_statements(dsn: str, objects: int) -> dict:
    """What the workers asked of the state database since `fresh_state`, per object."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT calls, query FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND query NOT LIKE '%pg_stat%' ORDER BY calls DESC"
        ).fetchall()
        xacts = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    n = max(objects, 1)
    calls = sum(r[0] for r in rows)
    return {
        "statements": calls,
        "statements_per_object": round(calls / n, 3),
        "transactions_per_object": round(((xacts[0] if xacts else 0) or 0) / n, 3),
        "top_statements_per_object": [{"query": _short(q), "per_object": round(c / n, 3)} for c, q in rows[:5]],
    }


def _short(query: str) -> str:
    """A statement's first 60 characters, without the schema and quotes that every one of them repeats."""
    return " ".join(query.replace(f'"{STATE_SCHEMA}".', "").replace('"', "").split())[:60]


def server_cpu(w: World, state: StateServer) -> dict[str, float]:
    return {**w.server_cpu(), "state_postgres": postgres_cpu(state.postmaster())}


def run_workers(args: list[list[str]], env: dict[str, str], limit: float) -> tuple[list[dict], float]:
    """Start every command at once; each one's exit code, stdout, CPU and peak RSS, and the wall time
    from the first start to the last exit. Past `limit` seconds the rest are killed (code None)."""
    with contextlib.ExitStack() as stack:
        outs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in args]
        errs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in args]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(a, stdout=o, stderr=e, text=True, env=env)
            for a, o, e in zip(args, outs, errs, strict=True)
        ]
        deadline = time.monotonic() + limit
        done: dict[int, dict] = {}
        peaks = [0] * len(procs)
        while len(done) < len(procs):
            for i, proc in enumerate(procs):
                if i in done:
                    continue
                peaks[i] = max(peaks[i], _high_water_mark(proc.pid))
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    done[i] = {"exit_code": proc.returncode, "cpu_s": usage.ru_utime + usage.ru_stime}
            if len(done) < len(procs) and time.monotonic() > deadline:
                for i, proc in enumerate(procs):
                    if i not in done:
                        proc.kill()
                        _, _, usage = os.wait4(proc.pid, 0)
                        proc.returncode = -9
                        done[i] = {"exit_code": None, "cpu_s": usage.ru_utime + usage.ru_stime, "timed_out": True}
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        results = []
        for i in range(len(procs)):
            outs[i].seek(0)
            errs[i].seek(0)
            text, problem = outs[i].read(), errs[i].read()
            r = {**done[i], "peak_rss_mb": round(peaks[i] / 1e6, 1), "stdout": text}
            if r["exit_code"] not in (0, 1):
                r["stderr_tail"] = problem.strip().splitlines()[-3:]
            results.append(r)
    return results, wall


def counted_by(stdout: str) -> dict[str, int]:
    """Objects copied, adopted (found already there) and failed, as one process's --json summary says."""
    fields = ("copied", "adopted", "failed")
    text = stdout.strip()
    with contextlib.suppress(ValueError):
        buckets = json.loads(text).get("buckets", []) if text.startswith("{") else []
        return {f: sum(b.get(f, 0) for b in buckets) for f in fields}
    return dict.fromkeys(fields, 0)


async def dest_count(w: World, bucket: str) -> int:
    async with open_store(s3_endpoint(w.moto.endpoint_url)) as store:
        return sum([1 async for _ in store.list(bucket)])


def one_round(
    w: World, state: StateServer | None, label: str, commands: list[list[str]], env: dict, a: argparse.Namespace
) -> dict:
    """Run `commands` at once and account for everything every process spent meanwhile."""
    cores = os.cpu_count() or 1
    if state is not None:
        fresh_state(state.dsn)
    w.emulator.reset_stats()
    before = server_cpu(w, state) if state else w.server_cpu()
    procs, wall = run_workers(commands, env, a.timeout)
    after = server_cpu(w, state) if state else w.server_cpu()
    n = a.objects
    servers_ms = {k: round((after[k] - before[k]) * 1000 / n, 3) for k in after}
    workers_ms = sum(p["cpu_s"] for p in procs) * 1000 / n
    all_ms = workers_ms + sum(servers_ms.values())
    rate = n / wall
    copied = []
    for p in procs:
        p.update({**counted_by(p.pop("stdout")), "cpu_s": round(p["cpu_s"], 2)})
        copied.append(p["copied"])
    routes = w.emulator.stats().get("by_route", {})
    fetched = sum(v for k, v in routes.items() if k not in LISTING_ROUTES)
    out: dict = {
        "round": label,
        "processes": len(commands),
        "wall_s": round(wall, 2),
        "objects_per_s": round(rate, 1),
        "copied_sum": sum(copied),
        "workers": procs,
        "cpu_ms_per_object": {"bucketshift": round(workers_ms, 3), **servers_ms},
        "cpu_bound_objects_per_s": round(cores / all_ms * 1000, 1),
        "share_of_cpu_bound": round(rate * all_ms / 1000 / cores, 3),
        "servers_share_of_cpu_spent": round(sum(servers_ms.values()) / all_ms, 3),
        "source_requests_per_object": round(fetched / n, 3),
        "source_requests_by_route": routes,
    }
    if state is not None:
        out["state"] = state_statements(state.dsn, n)
        out["state"]["cpu_ms_per_object"] = servers_ms["state_postgres"]
    errors = []
    if killed := sum(1 for p in procs if p.get("timed_out")):
        errors.append(f"{killed} processes killed after {a.timeout:g} s, the rate means nothing")
    if sum(copied) != n:
        errors.append(f"the processes say they copied {sum(copied)} objects, not {n}")
    if fetched != n:
        errors.append(f"the source served {fetched} object requests for {n} objects")
    if errors:
        out["ERROR"] = "; ".join(errors)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="many copy workers through a PostgreSQL state")
    ap.add_argument("--objects", type=int, default=3000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated process counts, one round each")
    ap.add_argument("--concurrency", type=int, default=64, help="objects in flight per process")
    ap.add_argument("--latency-ms", type=float, default=30.0, help="added to every emulator response")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per round before its processes are killed")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the one-process SQLite round")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    counts = [int(k) for k in a.workers.split(",") if k.strip()]
    exe = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
    env = {k: v for k, v in os.environ.items() if k != "BUCKETSHIFT_STATE"}
    result: dict = {
        "objects": a.objects,
        "object_bytes": a.size,
        "latency_ms": a.latency_ms,
        "concurrency_per_process": a.concurrency,
        "cpus": os.cpu_count() or 1,
        "listing": "storage.objects",
        "rounds": [],
    }
    with world(catalog=True) as w, state_cluster() as state:
        dests = [f"bench-dst-k{k}-{i}" for i, k in enumerate(counts)]
        asyncio.run(make_buckets(w, [SOURCE], ["bench-dst-sqlite", *dests]))
        t0 = time.perf_counter()
        asyncio.run(_seed(w.emulator.url, w.emulator.service_role_key, SOURCE, a.objects, a.size))
        result["seed_seconds"] = round(time.perf_counter() - t0, 1)
        w.emulator.settings(latency_ms=a.latency_ms)
        if not a.no_sqlite:
            plan_dir = w.work / "sqlite"
            plan_dir.mkdir()
            plan = write_plan(plan_dir / "plan.toml", w, [(SOURCE, "bench-dst-sqlite")], a.concurrency, with_dsn=True)
            cmd = [exe, "copy", "-c", str(plan), "--no-reconcile", "--json"]
            r = one_round(w, None, "sqlite, 1 process", [cmd], env, a)
            r["destination_objects"] = asyncio.run(dest_count(w, "bench-dst-sqlite"))
            result["rounds"].append(r)
        for k, dest in zip(counts, dests, strict=True):
            plan = write_plan(w.work / f"plan-{dest}.toml", w, [(SOURCE, dest)], a.concurrency, with_dsn=True)
            cmd = [exe, "copy", "-c", str(plan), "--state", state.dsn, "--no-reconcile", "--json"]
            r = one_round(w, state, f"postgresql, {k} process{'es' if k > 1 else ''}", [cmd] * k, env, a)
            r["destination_objects"] = asyncio.run(dest_count(w, dest))
            result["rounds"].append(r)
    emit(result, a.out)


if __name__ == "__main__":
    main()

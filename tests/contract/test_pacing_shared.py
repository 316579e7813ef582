"""The run-wide pacing limit: workers in separate processes draw from one PostgreSQL row, so the
run as a whole stays within `rate * t + burst`, where per-process buckets each take that much.

Every process and the server read the same system clock, so a window measured in the workers is
the window the row refilled over: the bound needs no tolerance for clock skew, only for floating
point (1e-6 of a unit per grant, far under the one unit allowed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bucketshift.engine.manifest_postgres import PostgresManifest
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.pacing_shared import SharedTokenBucket, create_limit
from bucketshift.errors import ConfigError, TransientError
from bucketshift_sandbox.servers import free_port

PASSWORD = "pw-never-shown-0815"
WORKERS = 3
RATE = 200.0
BURST = 20.0
WINDOW = 2.0
_runs = itertools.count(1)

# One worker process: ready once imported, then acquire one unit at a time, as fast as it may,
# during [start, start + seconds], start given on stdin (so a slow start-up does not eat the window).
CHILD = """
import asyncio, json, os, sys, time
from bucketshift.engine.pacing import TokenBucket
from bucketshift.engine.pacing_shared import SharedTokenBucket

mode, schema, run = sys.argv[1], sys.argv[2], int(sys.argv[3])
rate, burst, seconds = (float(arg) for arg in sys.argv[4:7])

async def main():
    if mode == "shared":
        bucket = SharedTokenBucket(os.environ["PACING_DSN"], schema, run, "requests", rate=rate, burst=burst)
    else:
        bucket = TokenBucket(rate, burst)
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    await asyncio.sleep(max(start - time.time(), 0))
    count = 0
    while True:
        await bucket.acquire(1)
        if time.time() > start + seconds:
            break
        count += 1
    print(json.dumps({"count": count, "grants": getattr(bucket, "grants", None)}))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def pacing(postgres) -> Iterator[tuple[str, str]]:
    """A DSN carrying a password (never checked by the test cluster, only carried) and a state schema
    of this module's own, made as a worker's state makes it (its `pacing` table among the rest)."""
    schema = f"pacing_test_{uuid.uuid4().hex[:10]}"
    PostgresManifest(postgres.dsn, schema=schema).close()
    parts = conninfo_to_dict(postgres.dsn)
    password = quote(str(parts.get("password") or PASSWORD), safe="")
    server = f"{parts['host']}:{parts['port']}/{parts.get('dbname', 'postgres')}"
    dsn = f"postgresql://{parts.get('user', 'postgres')}:{password}@{server}"
    yield dsn, schema
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _new_limit(dsn: str, schema: str, *, rate: float, burst: float, name: str = "requests") -> int:
    run = next(_runs) + 1000 * os.getpid()
    with psycopg.connect(dsn, autocommit=True) as conn:
        create_limit(conn, schema, run, name, rate=rate, burst=burst)
    return run


def _row(dsn: str, schema: str, run: int, name: str) -> tuple[float, float, float]:
    query = sql.SQL("SELECT rate, burst, tokens FROM {} WHERE shared_run = %s AND name = %s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query.format(sql.Identifier(schema, "pacing")), (run, name)).fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), float(row[2])


def test_three_worker_processes_share_one_limit_where_per_process_buckets_exceed_it(pacing) -> None:
    dsn, schema = pacing
    run = _new_limit(dsn, schema, rate=RATE, burst=BURST)
    env = {**os.environ, "PACING_DSN": dsn}
    procs = {
        (mode, n): subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, schema, str(run), str(RATE), str(BURST), str(WINDOW)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for mode in ("shared", "local")
        for n in range(WORKERS)
    }
    for proc in procs.values():
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", proc.communicate(timeout=30)
    start = f"{time.time() + 0.2}\n"
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write(start)
        proc.stdin.flush()
    results: dict[str, list[dict[str, int]]] = {"shared": [], "local": []}
    for (mode, _), proc in procs.items():
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        results[mode].append(json.loads(out))

    limit = RATE * WINDOW + BURST
    shared = sum(r["count"] for r in results["shared"])
    assert 0.7 * RATE * WINDOW <= shared <= limit + 1, (shared, limit, results)
    # Every worker got a share: none starved by the others.
    assert all(r["count"] >= 0.1 * RATE * WINDOW for r in results["shared"]), results
    # The failing twin: each process alone keeps its own limit, so together they take about three times it.
    local = sum(r["count"] for r in results["local"])
    assert local > limit * 2, (local, limit)

    # Round trips: about one per share_seconds (0.1 s) per worker, refused asks included, not one per unit.
    for r in results["shared"]:
        assert r["grants"] <= 2.5 * WINDOW / 0.1 + 5, results
    assert sum(r["grants"] for r in results["shared"]) * 3 < shared, results


async def test_one_grant_per_acquire_when_nothing_is_shared_ahead(pacing) -> None:
    """The negative case of the round-trip count: with share_seconds 0 every unit is its own grant."""
    dsn, schema = pacing
    counts = {}
    for share in (0.1, 0.0):
        run = _new_limit(dsn, schema, rate=1000.0, burst=100.0)
        bucket = SharedTokenBucket(dsn, schema, run, "requests", rate=1000.0, burst=100.0, share_seconds=share)
        try:
            for _ in range(200):
                await bucket.acquire(1)
        finally:
            bucket.close()
        counts[share] = bucket.grants
    # 100 from the full burst in one grant, then about one grant per 0.1 s of refill.
    assert counts[0.1] <= 4, counts
    assert counts[0.0] >= 200, counts


async def test_bandwidth_amounts_hold_for_two_workers_where_two_local_buckets_do_not(pacing) -> None:
    dsn, schema = pacing
    rate, burst, chunk, window = 1_000_000.0, 262_144.0, 65_536, 1.5
    run = _new_limit(dsn, schema, rate=rate, burst=burst, name="bytes")
    shared = [SharedTokenBucket(dsn, schema, run, "bytes", rate=rate, burst=burst) for _ in range(2)]
    local = [TokenBucket(rate, burst) for _ in range(2)]
    start = time.time() + 0.2

    async def send(bucket: SharedTokenBucket | TokenBucket) -> int:
        await asyncio.sleep(max(start - time.time(), 0))
        sent = 0
        for _ in range(1000):
            await bucket.acquire(chunk)
            if time.time() > start + window:
                return sent
            sent += chunk
        raise AssertionError("the bucket let more than 1000 chunks through in the window")

    try:
        totals = await asyncio.gather(*(send(b) for b in shared + local))
    finally:
        for bucket in shared:
            bucket.close()
    limit = rate * window + burst
    assert 0.7 * rate * window <= sum(totals[:2]) <= limit, (totals, limit)
    assert sum(totals[2:]) > limit, (totals, limit)


async def test_an_amount_above_the_burst_passes_and_leaves_the_run_in_debt(pacing) -> None:
    dsn, schema = pacing
    rate, burst = 100_000.0, 10_000.0
    waits = {}
    for big in (50_000.0, burst):
        run = _new_limit(dsn, schema, rate=rate, burst=burst)
        first = SharedTokenBucket(dsn, schema, run, "requests", rate=rate, burst=burst)
        other = SharedTokenBucket(dsn, schema, run, "requests", rate=rate, burst=burst)
        try:
            began = time.monotonic()
            await asyncio.wait_for(first.acquire(big), timeout=5)
            assert time.monotonic() - began < 0.5
            tokens = _row(dsn, schema, run, "requests")[2]
            began = time.monotonic()
            await asyncio.wait_for(other.acquire(1000), timeout=5)
            waits[big] = (tokens, time.monotonic() - began)
        finally:
            first.close()
            other.close()
    # 40 000 units of debt beyond a full burst: the other worker waits them off at 100 000/s.
    debt_tokens, debt_wait = waits[50_000.0]
    assert debt_tokens < -35_000, waits
    assert debt_wait >= 0.35, waits
    # The negative case: a burst-sized amount leaves no debt and the next worker barely waits.
    plain_tokens, plain_wait = waits[burst]
    assert plain_tokens > -1000, waits
    assert plain_wait < 0.2, waits


def test_a_late_worker_keeps_the_first_row(pacing) -> None:
    dsn, schema = pacing
    run = _new_limit(dsn, schema, rate=50.0, burst=10.0)
    assert _row(dsn, schema, run, "requests") == (50.0, 10.0, 10.0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET tokens = 2 WHERE shared_run = %s").format(sql.Identifier(schema, "pacing")), (run,)
        )
        create_limit(conn, schema, run, "requests", rate=500.0, burst=100.0)
        # A different name in the same run is a new limit: the first call is shown creating rows.
        create_limit(conn, schema, run, "bytes", rate=500.0, burst=100.0)
    assert _row(dsn, schema, run, "requests") == (50.0, 10.0, 2.0)
    assert _row(dsn, schema, run, "bytes") == (500.0, 100.0, 100.0)


async def test_a_late_bucket_takes_the_rows_rate_not_its_own(pacing) -> None:
    dsn, schema = pacing
    run = _new_limit(dsn, schema, rate=50.0, burst=5.0)
    bucket = SharedTokenBucket(dsn, schema, run, "requests", rate=5000.0, burst=500.0)
    try:
        began = time.monotonic()
        for _ in range(10):
            await asyncio.wait_for(bucket.acquire(1), timeout=5)
        took = time.monotonic() - began
    finally:
        bucket.close()
    # 5 from the burst, 5 more at 50/s: about 0.1 s, where the bucket's own 5000/s would take none.
    assert took >= 0.08, took
    assert (bucket.rate, bucket.burst) == (50.0, 5.0)


async def test_failures_are_ours_and_never_show_the_password(pacing) -> None:
    dsn, schema = pacing
    parts = conninfo_to_dict(dsn)
    secret = str(parts["password"])
    unreachable = f"postgresql://{parts['user']}:{quote(secret, safe='')}@127.0.0.1:{free_port()}/postgres"
    cases = [
        SharedTokenBucket(unreachable, schema, 1, "requests", rate=10.0, burst=1.0),
        SharedTokenBucket(dsn, "no_such_schema_here", 1, "requests", rate=10.0, burst=1.0),
    ]
    said = []
    for bucket, kind in zip(cases, (TransientError, ConfigError), strict=True):
        with pytest.raises(kind) as caught:
            await asyncio.wait_for(bucket.acquire(1), timeout=20)
        said.append(str(caught.value))
        bucket.close()
    assert all(secret not in text and "postgresql://" not in text for text in said), said
    assert "no_such_schema_here" in said[1], said


async def test_a_lost_connection_is_a_transient_error_and_the_next_acquire_reconnects(pacing, postgres) -> None:
    dsn, schema = pacing
    run = _new_limit(dsn, schema, rate=1000.0, burst=10.0)
    bucket = SharedTokenBucket(dsn, schema, run, "requests", rate=1000.0, burst=10.0, share_seconds=0.0)
    try:
        await bucket.acquire(1)
        with psycopg.connect(postgres.dsn, autocommit=True) as admin:
            query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bucketshift'"
            query += " AND query LIKE %s"
            assert admin.execute(query, (f"%{schema}%",)).fetchall() == [(True,)]
        with pytest.raises(TransientError) as caught:
            await bucket.acquire(1)
        assert "password" not in str(caught.value).lower()
        await bucket.acquire(1)
        assert bucket.grants == 3
    finally:
        bucket.close()

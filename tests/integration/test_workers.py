"""Many `bucketshift copy` processes sharing one run through a PostgreSQL state (issue 14).

Real processes, a real emulator with faults injected, moto and a PostgreSQL state: the workers
split the listing and the objects, a worker killed with SIGKILL loses its claims when its lease
runs out and another finishes them, and the emulator's own read counts show that only what the
killed worker held was read twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from typing import Any

import psycopg
from tests.integration.test_copy_engine import EXE, cli, seed

from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.status import worker_lines
from bucketshift_sandbox.seed import SeedPlan

LEASE = 3.0
STATUS_FAULTS = ["500", "503", "429", "544"]
"""Faults answered before any byte of the object: the emulator counts a read only once bytes flow,
so a retried read does not look like a second fetch."""


def _worker(plan: str, dsn: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EXE, "copy", "--config", plan, "--state", dsn, "--lease", str(LEASE), "--json", "--no-reconcile", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _held_by(dsn: str, pid: int) -> set[str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute("SELECT to_regclass('bucketshift_state.queue')").fetchone()
        if found is None or found[0] is None:
            return set()
        rows = conn.execute(
            "SELECT mapping || '|' || key FROM bucketshift_state.queue WHERE holder LIKE %s", (f"%:{pid}:%",)
        ).fetchall()
    return {str(r[0]) for r in rows}


def _settled(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        found = conn.execute("SELECT to_regclass('bucketshift_state.objects')").fetchone()
        if found is None or found[0] is None:
            return 0
        row = conn.execute("SELECT count(*) FROM bucketshift_state.objects WHERE state = 'copied'").fetchone()
    return int(row[0]) if row else 0


def _finish(procs: list[subprocess.Popen[str]], timeout: float) -> list[tuple[int, dict[str, Any] | None, str]]:
    out = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        body = json.loads(stdout) if proc.returncode == 0 and stdout.strip() else None
        out.append((proc.returncode, body, stderr[-2000:]))
    return out


def _source_key(mapping_key: str) -> str:
    mapping, _, key = mapping_key.partition("|")
    return f"{mapping.split('->')[0]}/{key}"


def test_four_workers_share_one_run_and_finish_a_killed_workers_share(migration, pg_state) -> None:
    seeded = asyncio.run(
        seed(migration, SeedPlan(projects=2, branches=2, big_folder_entries=300, videos_per_branch=1,
                                 video_size=(50_000, 200_000), special_keys=True))
    )  # fmt: skip
    expected = sum(1 for o in seeded.objects if not o.key.endswith(".emptyFolderPlaceholder"))
    migration.emulator.settings(latency_ms=40, fault_rate=0.05, faults=STATUS_FAULTS, fault_seed=14)
    plan, dsn = str(migration.plan_path), pg_state.arg
    assert dsn is not None
    procs = [_worker(plan, dsn, "--concurrency", "4") for _ in range(4)]
    victim, others = procs[0], procs[1:]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (_held_by(dsn, victim.pid) and _settled(dsn) >= 60):
            assert victim.poll() is None, "the worker finished before it could be killed; seed more objects"
            time.sleep(0.02)
        shown = {line.name: line for line in worker_lines(dsn)}
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(30)
        in_flight = {_source_key(k) for k in _held_by(dsn, victim.pid)}
        while _held_by(dsn, victim.pid) and time.monotonic() < killed_at + 60:
            time.sleep(0.1)
        taken_over = time.monotonic() - killed_at
        results = _finish(others, 120)
        ended = time.monotonic()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert in_flight, "the killed worker held nothing: the kill proves nothing"
    victim_line = [line for name, line in shown.items() if f":{victim.pid}:" in name]
    assert victim_line, shown
    assert victim_line[0].counts["held_objects"] > 0, shown
    assert any(name.startswith("shared run") and line.ok is None for name, line in shown.items())
    assert [rc for rc, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert taken_over < LEASE + 2.0, f"the killed worker's claims were taken over only after {taken_over:.1f} s"
    assert ended - killed_at < LEASE + 30
    bodies = [body for _, body, _ in results if body is not None]
    finished = [b["worker"] for b in bodies if b["worker"]["run_finished"]]
    coordination = [b["worker"]["coordination_round_trips"] for b in bodies]
    assert all(n > 0 for n in coordination)
    assert sum(coordination) < expected, f"coordination cost {sum(coordination)} round trips for {expected} objects"
    assert len(finished) >= 1, "no worker saw the run finish"
    reads = migration.emulator.stats()["object_reads"]
    assert migration.emulator.stats()["faults_injected"] > 0
    assert len(reads) == expected, "every object was read from the source"
    twice = {key for key, n in reads.items() if n > 1}
    assert twice <= in_flight, f"read twice though not in flight at the kill: {sorted(twice - in_flight)[:5]}"
    with psycopg.connect(dsn) as conn:
        left = conn.execute("SELECT count(*) FROM bucketshift_state.queue").fetchone()
        open_runs = conn.execute("SELECT count(*) FROM bucketshift_state.shared_runs WHERE finished_at IS NULL")
        assert left == (0,)
        assert open_runs.fetchone() == (0,)
    assert [(line.name, line.ok, line.detail) for line in worker_lines(dsn)] == [
        ("shared run", None, "none in progress")
    ]
    migration.emulator.settings(fault_rate=0.0, latency_ms=0)
    verify = cli("verify", "--config", plan, "--state", dsn, "--json")
    assert verify.returncode == 0, verify.stdout[-2000:]
    assert json.loads(verify.stdout)["ok"] is True


def test_workers_without_a_shared_state_each_read_everything(migration, tmp_path) -> None:
    """The failing twin of the read count above: two processes with a state each (files) read every
    object twice, which the count sees."""
    asyncio.run(seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=20, special_keys=False)))
    migration.emulator.settings(latency_ms=100)
    plan = str(migration.plan_path)
    own = ["--json", "--no-reconcile", "--concurrency", "4"]
    procs = [
        subprocess.Popen(
            [EXE, "copy", "--config", plan, "--state", str(tmp_path / f"own-{i}.sqlite3"), *own],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = _finish(procs, 120)
    assert [rc for rc, _, _ in results] == [0, 0]
    reads = migration.emulator.stats()["object_reads"]
    twice = {key for key, n in reads.items() if n > 1}
    assert len(twice) > len(reads) // 2, "the read count would not see work done twice"


def test_a_run_whose_only_worker_died_is_unticked_and_the_next_worker_finishes_it(migration, pg_state) -> None:
    asyncio.run(seed(migration, SeedPlan(projects=1, branches=2, big_folder_entries=150, special_keys=False)))
    migration.emulator.settings(latency_ms=40)
    plan, dsn = str(migration.plan_path), pg_state.arg
    assert dsn is not None
    worker = _worker(plan, dsn, "--concurrency", "4")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _held_by(dsn, worker.pid):
            assert worker.poll() is None, "the worker finished before it could be killed; seed more objects"
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    in_flight = {_source_key(k) for k in _held_by(dsn, worker.pid)}
    time.sleep(LEASE + 0.5)
    lines = worker_lines(dsn)
    assert [line.ok for line in lines] == [False], [(line.name, line.detail) for line in lines]
    assert "no live worker" in lines[0].detail
    assert lines[0].counts["queued"] > 0
    migration.emulator.settings(latency_ms=0)
    ((rc, body, err),) = _finish([_worker(plan, dsn)], 120)
    assert rc == 0, err
    assert body is not None
    assert body["worker"]["opened"] is False
    assert body["worker"]["run_finished"] is True
    reads = migration.emulator.stats()["object_reads"]
    assert {key for key, n in reads.items() if n > 1} <= in_flight
    assert [line.ok for line in worker_lines(dsn)] == [None]


def test_sigterm_gives_the_claims_back_at_once(migration, pg_state) -> None:
    """A pod evicted or a container stopped gets SIGTERM: the worker unwinds, commits what it did and
    releases what it held, so the next worker takes it without waiting out a lease (here 60 s)."""
    asyncio.run(seed(migration, SeedPlan(projects=1, branches=2, big_folder_entries=150, special_keys=False)))
    migration.emulator.settings(latency_ms=40)
    plan, dsn = str(migration.plan_path), pg_state.arg
    assert dsn is not None
    worker = subprocess.Popen(
        [EXE, "copy", "--config", plan, "--state", dsn, "--lease", "60", "--concurrency", "4", "--no-reconcile"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _held_by(dsn, worker.pid):
            assert worker.poll() is None, "the worker finished before it could be stopped; seed more objects"
            time.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 143, stderr
    assert "SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert _held_by(dsn, worker.pid) == set()
    lines = worker_lines(dsn)
    assert lines[0].ok is False, "the run waits for a worker"
    assert lines[0].counts["queued"] > 0
    migration.emulator.settings(latency_ms=0)
    started = time.monotonic()
    ((rc, body, err),) = _finish([_worker(plan, dsn)], 120)
    assert rc == 0, err
    assert body is not None
    assert body["worker"]["run_finished"] is True
    assert time.monotonic() - started < 30, "the next worker waited for a lease"


def test_the_listing_stays_about_a_page_ahead_of_the_copy(migration, pg_state, monkeypatch) -> None:
    """Workers list the next page only when the shared queue runs short, so a bucket of millions is not
    queued whole before the first copy: the objects waiting unclaimed never exceed a page and a batch,
    in a bucket of five pages or more (pages of 100 here, so the bucket is small)."""
    page, concurrency = 100, 8
    monkeypatch.setattr("bucketshift.stores.supabase.V2_PAGE", page)
    seeded = asyncio.run(seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=500, special_keys=False)))
    migration.emulator.settings(latency_ms=10)
    dsn = pg_state.arg
    assert dsn is not None
    most = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal most
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not done.wait(0.01):
                if conn.execute("SELECT to_regclass('bucketshift_state.queue')").fetchone() in (None, (None,)):
                    continue
                row = conn.execute("SELECT count(*) FROM bucketshift_state.queue WHERE holder IS NULL").fetchone()
                most = max(most, int(row[0]) if row else 0)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = CopyRun(migration.plan, CopyRequest(state=dsn, concurrency=concurrency, reconcile=False))
        asyncio.run(run.run())
    finally:
        done.set()
        watcher.join(10)
    assert run.failed == 0
    assert run.run_summary is not None
    biggest = max(sum(1 for o in seeded.objects if o.bucket == b) for b in ("asset-images", "images", "videos"))
    assert biggest >= 5 * page, "the bound below would hold even if a whole bucket were queued at once"
    assert 0 < most <= page + concurrency, f"{most} objects waited unclaimed"


def test_the_request_limit_holds_for_the_run_not_for_each_worker(migration, pg_state) -> None:
    """Two workers given `--max-requests-per-second 40` send at most 40 requests a second to the source
    between them (a read and an object/info per object here), watched at the source while both run,
    from the 10th to the 90th percentile of the requests, so their start-up is left out.  A limit per
    worker lets through about twice that (the failing case)."""
    asyncio.run(seed(migration, SeedPlan(projects=1, branches=1, big_folder_entries=120, special_keys=False)))
    rate = 40.0
    plan, dsn = str(migration.plan_path), pg_state.arg
    assert dsn is not None
    migration.emulator.reset_stats()
    procs = [_worker(plan, dsn, "--max-requests-per-second", str(rate)) for _ in range(2)]
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + 120
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        seen.append((time.monotonic(), int(migration.emulator.stats()["requests"])))
        time.sleep(0.1)
    results = _finish(procs, 30)
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert all(body is not None and sum(b["copied"] for b in body["buckets"]) > 0 for _, body, _ in results)
    total = int(migration.emulator.stats()["requests"])
    assert total > 300
    low = next(t for t, n in seen if n >= total * 0.1)
    high = next(t for t, n in seen if n >= total * 0.9)
    observed = total * 0.8 / (high - low)
    assert observed <= rate * 1.15, f"{observed:.1f} requests a second for the run, over its limit of {rate:g}"
    assert observed >= rate * 0.5, f"{observed:.1f} requests a second: the limit was not used"

"""Exact resume: source reads beyond one per object after SIGKILLs of a copy.

Seeds N objects (default 3,000 small images and four 20 MB videos), then runs `bucketshift copy`
at concurrency C, kills it with SIGKILL three times at three moments (after a quarter, half and
three quarters of the objects are recorded as copied), and lets a last run finish.  The emulator
counts every GET that sent an object's bytes; the figure is the reads beyond one per object,
against the bound of C per kill.  Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from _harness import emit, make_buckets, timed_child, world, write_plan
from copy_memory import _put_large, _put_many


def copied_rows(manifest: Path) -> int:
    if not manifest.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM objects WHERE state = 'copied'").fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description="source reads beyond one per object after three SIGKILLs")
    ap.add_argument("--objects", type=int, default=3000)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=30.0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    exe = str(Path(sys.executable).with_name("bucketshift"))
    total = a.objects + a.videos
    with world(catalog=True) as w:
        asyncio.run(make_buckets(w, ["kill-src"], ["kill-dst"]))
        asyncio.run(_put_many(w.emulator.url, w.emulator.service_role_key, "kill-src", [60_000] * a.objects, "images"))
        for n in range(a.videos):
            asyncio.run(_put_large(w.emulator.url, w.emulator.service_role_key, "kill-src", 20_000_000, f"v/{n}.mp4"))
        w.emulator.settings(latency_ms=a.latency_ms)
        w.emulator.reset_stats()
        plan = write_plan(w.work / "plan.toml", w, [("kill-src", "kill-dst")], a.concurrency, with_dsn=True)
        manifest = plan.with_name("plan.manifest.sqlite3")
        kills = []
        for share in (0.25, 0.5, 0.75):
            target = int(total * share)
            proc = subprocess.Popen([exe, "copy", "--config", str(plan)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and proc.poll() is None and copied_rows(manifest) < target:
                time.sleep(0.02)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            kills.append({"after_copied_rows": copied_rows(manifest), "target": target})
        summary, wall, _, _ = timed_child([exe, "copy", "--config", str(plan), "--json"], 1800)
        reads = w.emulator.stats()["object_reads"]
    beyond = sum(n - 1 for n in reads.values() if n > 1)
    result = {
        "objects": total,
        "concurrency": a.concurrency,
        "kills": kills,
        "objects_read": len(reads),
        "source_reads": sum(reads.values()),
        "reads_beyond_one_per_object": beyond,
        "bound_concurrency_per_kill": 3 * a.concurrency,
        "objects_read_more_than_once": sum(1 for n in reads.values() if n > 1),
        "last_run_adopted": sum(b["adopted"] for b in summary["buckets"]),
        "last_run_copied": sum(b["copied"] for b in summary["buckets"]),
        "last_run_seconds": round(wall, 1),
    }
    emit(result, a.out)


if __name__ == "__main__":
    main()

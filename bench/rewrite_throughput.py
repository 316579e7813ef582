"""URL rewrite throughput: rows per second for a journaled apply (and its revert) on N rows.

Starts a throw-away PostgreSQL (initdb/pg_ctl, loopback), fills `frames(id, image_url)` with N
rows of Supabase public URLs (every 10th not verified, so left alone), then rewrites the column
with the journal exactly as `rewrite-urls --apply` does, and reverts it.  Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import psycopg

from _harness import emit
from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.revert import revert_run
from bucketshift.database.rewrite import rewrite_column
from bucketshift.database.rewriter import Rewriter
from bucketshift.operations.rewrite import WRITERS
from bucketshift_sandbox.servers import postgres_cluster

ORIGIN = "https://abcd.supabase.co"


def key(i: int) -> str:
    return f"project_{i % 97}/branch_{i % 7}/frames/frame{i:08d}_1760000000.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    with postgres_cluster() as cluster, psycopg.connect(cluster.dsn) as conn, contextlib.ExitStack() as stack:
        writers = [stack.enter_context(psycopg.connect(cluster.dsn)) for _ in range(WRITERS)]
        for writer in writers:
            writer.execute("SET synchronous_commit = off")
        conn.execute("CREATE TABLE frames (id bigint PRIMARY KEY, image_url text, other text)")
        started = time.perf_counter()
        with conn.cursor().copy("COPY frames (id, image_url, other) FROM STDIN") as copy:
            for i in range(a.rows):
                copy.write_row((i, f"{ORIGIN}/storage/v1/object/public/images/{key(i)}", "x"))
        conn.execute("ANALYZE frames")
        conn.commit()
        fill = time.perf_counter() - started
        # Every object where the mapping's prefix puts it (None), as `verified_destinations` reads a manifest.
        verified = {"images": dict.fromkeys(key(i) for i in range(a.rows) if i % 10 != 3)}
        mapping = BucketMapping(source="images", destination="aiuteur-images", access="public-read")
        rewriter = Rewriter([ORIGIN], [mapping], S3Endpoint(type="s3", region="us-east-1"), verified)
        (column,) = resolve(conn, ["frames.image_url"])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        started = time.perf_counter()
        tally, written = rewrite_column(
            conn, column, rewriter, [f"{ORIGIN}/storage/v1/"], run_id=run_id, batch_size=a.batch_size, writers=writers
        )
        apply_s = time.perf_counter() - started
        journal.finish_run(conn, run_id, {})
        revert_id = journal.start_run(conn, "revert", reverts=run_id)
        started = time.perf_counter()
        reverted = revert_run(conn, run_id, revert_id, batch_size=a.batch_size, writers=writers)
        revert_s = time.perf_counter() - started
        result = {
            "rows": a.rows,
            "batch_size": a.batch_size,
            "fill_seconds": round(fill, 1),
            "apply_rows_scanned": tally.rows_scanned,
            "apply_rows_changed": written,
            "apply_seconds": round(apply_s, 1),
            "apply_rows_per_s": round(tally.rows_scanned / apply_s),
            "revert_rows_restored": reverted.restored,
            "revert_seconds": round(revert_s, 1),
            "revert_rows_per_s": round(reverted.restored / revert_s),
        }
    emit(result, a.out)


if __name__ == "__main__":
    main()

"""The destination is live while we copy: the app's writes there are never overwritten, verify is a
fact it can take back, and what is already there is adopted, not fetched again.

Each test runs the real CLI or operations against the emulator and moto, as a user would, with the
application's writes made through plain boto3 (as the app's own S3 client would make them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bucketshift.config import SupabaseEndpoint
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import APP_BUCKETS

EXE = str(Path(sys.executable).with_name("bucketshift"))
IMAGES = [f"project_1/branch_1/frames/frame_{n:03d}.png" for n in range(12)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=600, env={**os.environ})


def body(n: int, size: int = 3000) -> bytes:
    return (b"\x89PNG" + bytes([n]) * size)[:size]


async def put_source(migration: Any, key: str, data: bytes) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        await store.put("images", key, data, content_type="image/png", metadata={"owner": "u1"})


async def seed_images(migration: Any) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        for bucket, public in APP_BUCKETS.items():
            await store.create_bucket(bucket, public=public)
    for n, key in enumerate(IMAGES):
        await put_source(migration, key, body(n))


def dest_bytes(migration: Any, key: str) -> bytes:
    return migration.s3().get_object(Bucket=migration.dest("images"), Key=key)["Body"].read()


def app_writes(migration: Any, key: str, data: bytes) -> None:
    """The application uploading at the destination after the cut-over."""
    migration.s3().put_object(Bucket=migration.dest("images"), Key=key, Body=data, ContentType="image/png")


def state_rows(state: Any) -> dict[str, tuple[str, str | None]]:
    """key -> (state, last error) of the images mapping, in the store under test (SQLite or PostgreSQL)."""
    return state.rows("images->")


def copy_json(migration: Any, *extra: str, verb: str = "copy") -> tuple[int, dict[str, Any]]:
    done = cli(verb, "--config", str(migration.plan_path), "--json", *extra)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def images_bucket(summary: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in summary["buckets"] if b["source"] == "images")


async def test_an_app_rewrite_at_the_destination_is_a_conflict_not_overwritten(migration: Any, state: Any) -> None:
    await seed_images(migration)
    assert cli("copy", "--config", str(migration.plan_path), *state.cli_args).returncode == 0
    other_size, same_size = IMAGES[0], IMAGES[1]
    app_writes(migration, other_size, b"the app's newer, longer file" * 10)
    app_writes(migration, same_size, bytes(reversed(body(1))))
    await put_source(migration, same_size, b"\x89PNG" + b"\x07" * 2996)  # the source changed too: same size

    for verb in ("sync", "copy"):
        code, summary = copy_json(migration, *state.cli_args, verb=verb)
        assert code == 1, f"{verb} must exit 1 on a conflict"
        images = images_bucket(summary)
        conflicts = {c["key"]: c for c in images["conflicts"]}
        # sync lists no destination: it meets the app's write only where the source changed (If-Match fails)
        expected = {same_size} if verb == "sync" else {other_size, same_size}
        assert set(conflicts) == expected, verb
        for conflict in conflicts.values():
            assert conflict["source_size"] == 3000
            assert conflict["dest_size"] in (280, 3000)
            assert conflict["dest_modified"]
            assert conflict["source_modified"]
        assert images["copied"] == 0
        assert dest_bytes(migration, other_size) == b"the app's newer, longer file" * 10
        assert dest_bytes(migration, same_size) == bytes(reversed(body(1)))
    assert state_rows(state)[other_size][0] == "conflict"
    shown = cli("copy", "--config", str(migration.plan_path), *state.cli_args)
    assert shown.returncode == 1
    lines = [line for line in shown.stdout.splitlines() if line.startswith("conflict")]
    assert {line.split(":")[0] for line in lines} == {f"conflict images/{other_size}", f"conflict images/{same_size}"}
    assert "--keep-destination-changes" in shown.stdout

    verify = cli("verify", "--config", str(migration.plan_path), "--json", *state.cli_args)
    assert verify.returncode == 1
    assert {c["key"] for c in images_bucket(json.loads(verify.stdout))["conflict_keys"]} == {other_size, same_size}


async def test_keep_destination_changes_settles_them_for_verify_and_rewrite(migration: Any, state: Any) -> None:
    await seed_images(migration)
    assert cli("copy", "--config", str(migration.plan_path), *state.cli_args).returncode == 0
    app_writes(migration, IMAGES[2], b"kept by the app")
    assert copy_json(migration, *state.cli_args)[0] == 1
    code, summary = copy_json(migration, "--keep-destination-changes", *state.cli_args)
    assert code == 0
    assert images_bucket(summary)["kept"] == 1
    assert dest_bytes(migration, IMAGES[2]) == b"kept by the app"
    assert cli("verify", "--config", str(migration.plan_path), *state.cli_args).returncode == 0
    assert state_rows(state)[IMAGES[2]][0] == "verified", "rewrite-urls takes verified rows"
    code, summary = copy_json(migration, *state.cli_args)
    assert code == 0
    assert images_bucket(summary)["conflicts"] == []


async def test_overwrite_destination_changes_lets_the_source_win(migration: Any, state: Any) -> None:
    await seed_images(migration)
    assert cli("copy", "--config", str(migration.plan_path), *state.cli_args).returncode == 0
    app_writes(migration, IMAGES[3], b"to be replaced")
    code, summary = copy_json(migration, "--overwrite-destination-changes", *state.cli_args)
    assert code == 0
    assert images_bucket(summary)["copied"] == 1
    assert dest_bytes(migration, IMAGES[3]) == body(3)
    assert cli("verify", "--config", str(migration.plan_path), *state.cli_args).returncode == 0


async def test_deleted_at_the_destination_is_copied_again(migration: Any, state: Any) -> None:
    await seed_images(migration)
    assert cli("copy", "--config", str(migration.plan_path), *state.cli_args).returncode == 0
    migration.s3().delete_object(Bucket=migration.dest("images"), Key=IMAGES[4])
    code, summary = copy_json(migration, *state.cli_args)
    assert code == 0
    images = images_bucket(summary)
    assert (images["copied"], images["conflicts"]) == (1, [])
    assert dest_bytes(migration, IMAGES[4]) == body(4)


async def test_the_source_bytes_already_at_the_destination_are_adopted_without_a_read(
    migration: Any, state: Any
) -> None:
    """A dual-write window: the app already put some objects in S3.  Same bytes: recorded as copied,
    never read from the source; other bytes: a conflict (bucketshift never wrote them)."""
    await seed_images(migration)
    for n in (5, 6, 7):
        app_writes(migration, IMAGES[n], body(n))
    app_writes(migration, IMAGES[8], b"the app's own, different")
    migration.emulator.reset_stats()
    code, summary = copy_json(migration, *state.cli_args)
    assert code == 1
    images = images_bucket(summary)
    assert images["adopted"] == 3
    assert [c["key"] for c in images["conflicts"]] == [IMAGES[8]]
    reads = migration.emulator.stats()["object_reads"]
    assert not [k for k in (IMAGES[5], IMAGES[6], IMAGES[7], IMAGES[8]) if reads.get(f"images/{k}")]
    assert reads.get(f"images/{IMAGES[0]}") == 1
    assert dest_bytes(migration, IMAGES[8]) == b"the app's own, different"


async def test_verify_says_not_ok_and_takes_verified_back(migration: Any, state: Any) -> None:
    await seed_images(migration)
    run = CopyRun(migration.plan, CopyRequest(state=state.arg))
    await run.run()
    first = VerifyRun(migration.plan, VerifyRequest(state=state.arg))
    await first.run()
    assert first.ok
    assert {s for s, _ in state_rows(state).values()} == {"verified"}

    gone, changed = IMAGES[9], IMAGES[10]
    migration.s3().delete_object(Bucket=migration.dest("images"), Key=gone)
    app_writes(migration, changed, bytes(reversed(body(10))))
    for deep in (False, True):
        again = VerifyRun(migration.plan, VerifyRequest(deep=deep, state=state.arg))
        await again.run()
        assert not again.ok
        images = next(r for r in again.reports if r.spec.source_bucket == "images")
        assert images.missing == [gone]
        assert [m.key for m in images.differing] == [changed]
    rows = state_rows(state)
    assert rows[gone][0] == rows[changed][0] == "pending"
    assert "missing" in (rows[gone][1] or "")
    assert "verify" in (rows[changed][1] or "")
    assert sum(state == "verified" for state, _ in rows.values()) == len(IMAGES) - 2

    code, summary = copy_json(migration, *state.cli_args)
    images = images_bucket(summary)
    assert images["copied"] == 1, "the missing one is repaired"
    assert [c["key"] for c in images["conflicts"]] == [changed], "the app's write is not"
    assert code == 1
    assert dest_bytes(migration, gone) == body(9)


async def test_quick_verify_reads_the_checksum_the_destination_stored(migration: Any) -> None:
    """Not "the object we wrote is still there": the stored checksum is compared with the bytes read
    from the source, for every object (moto_s3 keeps checksums as S3 does)."""
    await seed_images(migration)
    await CopyRun(migration.plan, CopyRequest()).run()
    verify = VerifyRun(migration.plan, VerifyRequest())
    await verify.run()
    images = next(r for r in verify.reports if r.spec.source_bucket == "images")
    assert images.stats.by_stored_checksum == len(IMAGES)
    assert images.stats.without_stored_checksum == 0
    assert images.notes == []

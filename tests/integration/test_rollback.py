"""The round trip: migrate a small app, let it write on S3, roll back, and find everything at Supabase.

One world for the module (a fresh emulator, moto, a throw-away database): the forward phase runs
with the existing operations (provision, copy, verify, rewrite-urls apply), then the application
writes through `bucketshift.storage` on S3 (new objects, new rows, one migrated object
overwritten), someone changes a migrated object at Supabase, and `bucketshift rollback` runs as a
user runs it.  The emulator's standard-upload limit is set low (7 MiB), with a video above it at
Supabase before the move and another uploaded by the app on S3, which comes back through
Supabase's resumable (TUS) upload.  The tests below read the world in order (dry run, conflict, finished, rerun,
undo), each checking what that stage must leave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from tests.app_plan import app_plan

from bucketshift import eventloop
from bucketshift.config import load_plan
from bucketshift.engine.diff import Decision, MappingSpec, classify, judge, write_for
from bucketshift.engine.manifest import KEPT, Manifest, ObjectRecord, State
from bucketshift.engine.reverse import BackCheck, reverse_spec, seed, seed_manifest, verify_back
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.provision import provision
from bucketshift.operations.rewrite import RewriteRequest, RewriteRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.retry import RetryPolicy
from bucketshift.storage import AsyncStorage
from bucketshift.stores.base import ObjectInfo
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.app_database import seed_app_database
from bucketshift_sandbox.seed import SeedPlan, seed_app
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster, run_emulator

EXE = str(Path(sys.executable).with_name("bucketshift"))
_numbers = itertools.count(1)

SEED = SeedPlan(
    projects=1,
    branches=2,
    assets_per_branch=3,
    frames_per_branch=3,
    videos_per_branch=1,
    big_folder_entries=0,
    image_size=(500, 3000),
    video_size=(20_000, 60_000),
    special_keys=True,
)
TAGGED = ("images", "project_1/meta/tagged.png")
"""A migrated object with user metadata (the seed writes none)."""
MiB = 1024 * 1024
STANDARD_UPLOAD_LIMIT = 7 * MiB
LARGE_SEEDED = ("videos", "project_1/branch_1/videos/large_master.mp4")
LARGE_NEW = ("videos", "project_1/branch_2/videos/job_large.mp4")
"""Videos above the standard-upload limit: one at Supabase before the move, one the app writes on S3."""
TABLES = {"global_assets": "id", "project_assets": "id", "frames": "id", "video_generation_jobs": "id"}


@dataclass
class Object:
    sha256: str
    size: int
    content_type: str | None
    cache_control: str | None
    metadata: dict[str, str]


@dataclass
class World:
    emulator: EmulatorServer
    moto: MotoServer
    dsn: str
    plan_path: Path
    n: int
    before_forward: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    originals: dict[tuple[str, str], Object] = field(default_factory=dict)
    new_objects: dict[tuple[str, str], tuple[bytes, Object]] = field(default_factory=dict)
    new_rows: dict[tuple[str, int], str] = field(default_factory=dict)
    """(table, id) -> the value the application wrote on S3."""
    overwritten: tuple[str, str] = ("", "")
    overwritten_bytes: bytes = b""
    contested: tuple[str, str] = ("", "")
    contested_bytes: bytes = b""

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, *args, "--config", str(self.plan_path)],
            capture_output=True,
            text=True,
            timeout=300,
            input=stdin,
            env={**os.environ, "COLUMNS": "250"},
        )

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        with psycopg.connect(self.dsn) as conn:
            return {
                table: conn.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(table), sql.Identifier(key))
                ).fetchall()
                for table, key in TABLES.items()
            }

    def value(self, table: str, row_id: int) -> str:
        column = {"frames": "image_url", "video_generation_jobs": "video_url", "global_assets": "image_key_url"}[table]
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE id = %s").format(sql.Identifier(column), sql.Identifier(table)),
                (row_id,),
            ).fetchone()
        assert row is not None
        return str(row[0])


async def _supabase_objects(world: World) -> dict[tuple[str, str], Object]:
    """Every object at Supabase, its bytes hashed and its head read."""
    plan = load_plan(world.plan_path)
    out: dict[tuple[str, str], Object] = {}
    async with open_store(plan.source) as store:
        for bucket in ("asset-images", "images", "videos"):
            async for info in store.list(bucket):
                head = await store.head(bucket, info.key)
                digest = hashlib.sha256()
                async with store.open(bucket, info.key) as reader:
                    async for chunk in reader:
                        digest.update(chunk)
                out[(bucket, info.key)] = _described(digest.hexdigest(), head)
    return out


def _described(sha256: str, head: ObjectInfo) -> Object:
    return Object(sha256, head.size, head.content_type, head.cache_control, dict(head.metadata))


async def _seed(world: World) -> None:
    plan = load_plan(world.plan_path)
    async with open_store(plan.source) as store:
        seeded = await seed_app(store, SEED)
        await store.put(
            *TAGGED,
            b"\x89PNG tagged",
            content_type="image/png",
            cache_control="max-age=5",
            metadata={"owner": "ana", "caption": "été"},
        )
        # Above the standard-upload limit: the store sends it through the resumable upload.
        large = os.urandom(10 * MiB + 321)
        await store.put(
            *LARGE_SEEDED, large, content_type="video/mp4", cache_control="max-age=86400", metadata={"job": "17"}
        )
    assert world.emulator.stats()["by_route"].get("POST upload/resumable", 0) == 1
    seed_app_database(world.dsn, world.emulator.url, seeded)


def _forward(world: World) -> None:
    plan = load_plan(world.plan_path)
    provision(plan)
    copied = eventloop.run(CopyRun(plan, CopyRequest()).run())
    assert not any(r.stats.failed or r.stats.conflicts for r in copied)
    verified = VerifyRun(plan, VerifyRequest())
    eventloop.run(verified.run())
    assert verified.ok
    report = RewriteRun(plan, RewriteRequest(mode="apply")).run()
    assert sum(c.written for c in report.columns) > 0


async def _app_on_s3(world: World) -> None:
    """What the application does while on S3: new uploads and rows, one migrated object rewritten."""
    storage = AsyncStorage.from_plan(world.plan_path, backend="s3")
    uploads = [
        ("images", "project_1/branch_1/frames/new_frame.png", b"\x89PNG new frame" * 50, "image/png", "no-cache", {}),
        (
            "videos",
            "project_1/branch_1/videos/job_new.mp4",
            b"\x00\x00ftyp new video" * 400,
            "video/mp4",
            "private, max-age=0",
            {"job": "42"},
        ),
        (
            "asset-images",
            "project_1/special/new (1) & more.png",
            b"\x89PNG special",
            "image/png",
            "max-age=60",
            {"owner": "bo"},
        ),
        (*LARGE_NEW, os.urandom(10 * MiB + 999), "video/mp4", "max-age=3600", {"job": "43"}),
    ]
    stored = []
    for bucket, key, body, kind, cache, meta in uploads:
        result = await storage.upload(bucket, key, body, content_type=kind, cache_control=cache, metadata=meta)
        world.new_objects[(bucket, key)] = (
            body,
            Object(hashlib.sha256(body).hexdigest(), len(body), kind, cache, meta),
        )
        stored.append(result.stored_value)
    frames = sorted(k for b, k in world.originals if b == "images" and "/frames/" in k and k.endswith(".png"))
    world.overwritten = ("images", frames[0])
    world.overwritten_bytes = b"\x89PNG the app's new version of this frame"
    await storage.upload(
        *world.overwritten, world.overwritten_bytes, content_type="image/png", cache_control="no-cache"
    )
    world.contested = ("images", frames[1])
    await storage.upload(*world.contested, b"\x89PNG the app's version", content_type="image/png")
    with psycopg.connect(world.dsn, autocommit=True) as conn:
        rows = [
            ("frames", 9001, "image_url", stored[0]),
            ("video_generation_jobs", 9002, "video_url", stored[1]),
            ("global_assets", 9003, "image_key_url", f"see {stored[2]}, then (more) text"),
            ("video_generation_jobs", 9004, "video_url", stored[3]),
        ]
        for table, row_id, column, value in rows:
            other = {"frames": "project", "video_generation_jobs": "status", "global_assets": "name"}[table]
            conn.execute(
                sql.SQL("INSERT INTO {} (id, {}, {}) VALUES (%s, 'new', %s)").format(
                    sql.Identifier(table), sql.Identifier(other), sql.Identifier(column)
                ),
                (row_id, value),
            )
            world.new_rows[(table, row_id)] = value
    # Someone else changes the contested object at Supabase after the cut-over.
    plan = load_plan(world.plan_path)
    world.contested_bytes = b"\x89PNG someone's edit at Supabase"
    async with open_store(plan.source) as store:
        await store.put(*world.contested, world.contested_bytes, content_type="image/png")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer, postgres: PostgresCluster) -> Iterator[World]:
    n = next(_numbers)
    base = tmp_path_factory.mktemp("rollback")
    name = f"rollback_app_{n}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    with run_emulator(base / "emulator") as emulator:
        emulator.settings(standard_upload_limit=STANDARD_UPLOAD_LIMIT)
        plan_path = base / "plan.toml"
        plan_path.write_text(
            app_plan(
                url=emulator.url,
                key=emulator.service_role_key,
                endpoint=moto.endpoint_url,
                prefix=f"rb{n}",
                dsn=dsn,
                concurrency=8,
            ),
            encoding="utf-8",
        )
        world = World(emulator, moto, dsn, plan_path, n)
        eventloop.run(_seed(world))
        world.originals = eventloop.run(_supabase_objects(world))
        world.before_forward = world.rows()
        _forward(world)
        eventloop.run(_app_on_s3(world))
        emulator.reset_stats()
        yield world
        emulator.settings(standard_upload_limit=None)
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _manifest(world: World) -> Manifest:
    return Manifest(world.plan_path.with_name("plan.manifest.sqlite3"), read_only=True)


def _journal_runs(world: World) -> int:
    with psycopg.connect(world.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM bucketshift.runs").fetchone()
    return int(row[0]) if row else 0


def _fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback http only
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return bytes(answer.read())


# the stages, in order ---------------------------------------------------------------------


def test_1_without_a_terminal_or_yes_it_asks_and_changes_nothing(world: World) -> None:
    done = world.cli("rollback", stdin="")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pass --yes" in done.stderr
    assert "Traceback" not in done.stderr


def test_2_dry_run_shows_each_step_and_changes_nothing(world: World) -> None:
    rows, supabase, runs = world.rows(), eventloop.run(_supabase_objects(world)), _journal_runs(world)
    done = world.cli("rollback", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("copy-back", "verify-back", "revert-urls", "rewrite-back"):
        assert step in done.stdout
    assert "would run" in done.stdout
    assert "runs: [1], values: 34" in done.stdout, done.stdout
    assert "video_generation_jobs.video_url: 4 S3 forms in 4 rows now" in done.stdout
    assert world.rows() == rows
    assert eventloop.run(_supabase_objects(world)) == supabase
    assert _journal_runs(world) == runs
    with _manifest(world) as manifest:
        assert manifest.steps("rollback") == {}
        assert not manifest.counts(f"images<-rb{world.n}-images")


def test_3_a_change_made_at_supabase_is_a_conflict_and_is_not_overwritten(world: World) -> None:
    done = world.cli("rollback", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"conflict images/{world.contested[1]}" in done.stdout
    assert "--keep-supabase-changes" in done.stdout
    now = eventloop.run(_supabase_objects(world))
    assert now[world.contested].sha256 == hashlib.sha256(world.contested_bytes).hexdigest()
    with _manifest(world) as manifest:
        steps = manifest.steps("rollback")
    assert steps["copy-back"].state == "failed"
    assert "revert-urls" not in steps, "the rollback stops at the step that found conflicts"


def test_4_the_round_trip_brings_every_object_and_row_back(world: World) -> None:
    done = world.cli("rollback", "--yes", "--keep-supabase-changes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STORAGE_BACKEND=supabase" in done.stdout
    now = eventloop.run(_supabase_objects(world))
    # every original object unchanged: bytes, type, caching, user metadata
    for where, original in world.originals.items():
        if where in (world.overwritten, world.contested):
            continue
        assert now[where] == original, where
    assert now[TAGGED].metadata == {"owner": "ana", "caption": "été"}
    assert now[LARGE_SEEDED].size > STANDARD_UPLOAD_LIMIT
    # the application's uploads while on S3, with their metadata; the large video through the resumable upload
    for where, (_, expected) in world.new_objects.items():
        assert now[where] == expected, where
    assert now[LARGE_NEW].size > STANDARD_UPLOAD_LIMIT
    routes = world.emulator.stats()["by_route"]
    assert routes.get("POST upload/resumable") == 1, "only the large new video went resumable"
    assert routes.get("PATCH upload/resumable") == 2, "in two 6 MiB chunks"
    # the object the app rewrote on S3 holds its new bytes; the one changed at Supabase kept its change
    assert now[world.overwritten].sha256 == hashlib.sha256(world.overwritten_bytes).hexdigest()
    assert now[world.contested].sha256 == hashlib.sha256(world.contested_bytes).hexdigest()
    # the original rows byte for byte as before the forward rewrite
    rows = world.rows()
    for table, before in world.before_forward.items():
        assert [r for r in rows[table] if r[0] < 9000] == before, table
    # the new rows point at Supabase URLs that return their bytes
    base = f"{world.emulator.url}/storage/v1/object"
    frame = world.value("frames", 9001)
    assert frame == f"{base}/public/images/project_1/branch_1/frames/new_frame.png"
    assert _fetch(frame) == world.new_objects[("images", "project_1/branch_1/frames/new_frame.png")][0]
    video = world.value("video_generation_jobs", 9002)
    assert video == f"{base}/authenticated/videos/project_1/branch_1/videos/job_new.mp4"
    key = world.emulator.service_role_key
    assert (
        _fetch(video, {"apikey": key, "Authorization": f"Bearer {key}"})
        == world.new_objects[("videos", "project_1/branch_1/videos/job_new.mp4")][0]
    )
    with pytest.raises(urllib.error.HTTPError):
        _fetch(video)  # private: not without the key
    large = world.value("video_generation_jobs", 9004)
    assert large == f"{base}/authenticated/videos/{LARGE_NEW[1]}"
    assert _fetch(large, {"apikey": key, "Authorization": f"Bearer {key}"}) == world.new_objects[LARGE_NEW][0]
    prose = world.value("global_assets", 9003)
    assert prose.startswith("see ")
    assert prose.endswith(", then (more) text")
    special = prose[len("see ") : -len(", then (more) text")]
    assert special.startswith(f"{base}/public/asset-images/project_1/special/new")
    assert _fetch(special) == b"\x89PNG special"
    with _manifest(world) as manifest:
        assert manifest.steps("migrate") == {}, "a later migrate runs its phase again"


def test_5_a_rerun_of_a_finished_rollback_does_nothing(world: World) -> None:
    rows, runs = world.rows(), _journal_runs(world)
    done = world.cli("rollback", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to do" in done.stdout
    assert world.rows() == rows
    assert _journal_runs(world) == runs


def test_6_rewrite_urls_revert_after_a_rollback_leaves_the_rollbacks_rewrite_alone(world: World) -> None:
    """The rollback's rewrite is a run of its own kind: not a forward rewrite still applied, nor the
    one `--revert` picks without a run number (with version 2 of the journal it was both)."""
    rows = world.rows()
    latest = world.cli("rewrite-urls", "--revert", "--yes")
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert "no rewrite run to revert" in latest.stdout
    forward = world.cli("rewrite-urls", "--revert", "--run", "1", "--yes")
    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert "run 1 was already reverted" in forward.stdout
    for done in (latest, forward):
        assert "is not reverted" not in done.stdout
    assert world.rows() == rows


def test_7_the_rollbacks_own_rewrite_can_be_reverted(world: World) -> None:
    done = world.cli("rollback", "--yes", "--json")
    run = __import__("json").loads(done.stdout)["steps"][3]["detail"]["run"]
    reverted = world.cli("rewrite-urls", "--revert", "--run", str(run), "--yes")
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert "4 values restored" in reverted.stdout, reverted.stdout + reverted.stderr
    for (table, row_id), value in world.new_rows.items():
        assert world.value(table, row_id) == value


def test_8_verify_back_finds_a_copied_back_object_changed_or_deleted_at_supabase(world: World) -> None:
    plan = load_plan(world.plan_path)
    frame, video = (
        ("images", "project_1/branch_1/frames/new_frame.png"),
        ("videos", "project_1/branch_1/videos/job_new.mp4"),
    )

    async def check() -> list[BackCheck]:
        async with open_store(plan.source) as supabase, open_store(plan.destination) as s3:
            await supabase.put(*frame, b"\x89PNG not what was copied back", content_type="image/png")
            await supabase.delete(*video)
            with Manifest(world.plan_path.with_name("plan.manifest.sqlite3")) as manifest:
                specs = [reverse_spec(MappingSpec(m.source, m.destination, m.prefix, m.access)) for m in plan.buckets]
                return [
                    await verify_back(s3, supabase, spec, manifest, retry=RetryPolicy(max_attempts=1)) for spec in specs
                ]

    checks = {c.spec.dest_bucket: c for c in eventloop.run(check())}
    assert checks["asset-images"].ok
    assert [m.key for m in checks["images"].differing] == [frame[1]]
    assert checks["videos"].missing == [video[1]]
    with _manifest(world) as manifest:
        assert manifest.get(f"images<-rb{world.n}-images", frame[1]).state == State.PENDING, "taken back"


# the decision, pure -----------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _forward_row(**changes: Any) -> ObjectRecord:
    row = ObjectRecord(
        "k->b", "a.png", State.VERIFIED, 10, "sha", None, "supabase-v1", None, "a.png", "s3-v1", 10, None, None, 1, None
    )
    return dataclasses.replace(row, **changes)


def _decide(forward: ObjectRecord | None, s3: ObjectInfo, supabase: ObjectInfo | None) -> Decision:
    """What the way back does: the seeded row (if any) judged by the forward engine's own classify/judge."""
    spec = reverse_spec(MappingSpec("k", "b"))
    with Manifest(None) as source, Manifest(None) as scratch:
        if forward is not None:
            row = forward
            source.mark_copied(
                row.mapping,
                row.key,
                size=row.size or 0,
                sha256=row.sha256,
                crc64nvme=None,
                source_etag=row.source_etag,
                source_modified=None,
                dest_key=row.dest_key or row.key,
                dest_etag=row.dest_etag,
                attempts=1,
            )
            if row.kept:
                source.mark_kept(
                    row.mapping,
                    row.key,
                    source_etag=row.source_etag,
                    source_modified=None,
                    source_size=row.size or 0,
                    dest_key=row.key,
                    dest_etag=row.dest_etag,
                    dest_size=row.size or 0,
                    dest_modified=None,
                )
        seed_manifest(source, scratch, spec)
        record = scratch.get(spec.name, s3.key)
    decision = classify(s3, record, dest=supabase, dest_checked=True)
    return judge(s3, record, supabase) if decision == Decision.LOOK else decision


S3_AS_WRITTEN = ObjectInfo("a.png", 10, "s3-v1", T0)
S3_CHANGED = ObjectInfo("a.png", 12, "0123456789abcdef0123456789abcdef", T0)
SUPABASE_AS_READ = ObjectInfo("a.png", 10, "supabase-v1", T0)
SUPABASE_CHANGED = ObjectInfo("a.png", 11, "supabase-v2", T0)
SUPABASE_SAME_BYTES = ObjectInfo("a.png", 12, "0123456789abcdef0123456789abcdef", T0)


@pytest.mark.parametrize(
    ("forward", "s3", "supabase", "expected"),
    [
        (_forward_row(), S3_AS_WRITTEN, SUPABASE_AS_READ, Decision.SAME),
        (_forward_row(), S3_AS_WRITTEN, None, Decision.MISSING),
        (_forward_row(), S3_AS_WRITTEN, SUPABASE_CHANGED, Decision.CONFLICT),
        (_forward_row(), S3_CHANGED, SUPABASE_AS_READ, Decision.CHANGED),
        (_forward_row(), S3_CHANGED, None, Decision.MISSING),
        (_forward_row(), S3_CHANGED, SUPABASE_SAME_BYTES, Decision.ADOPT),
        (_forward_row(), S3_CHANGED, SUPABASE_CHANGED, Decision.CONFLICT),
        (None, S3_CHANGED, None, Decision.NEW),
        (None, S3_CHANGED, SUPABASE_SAME_BYTES, Decision.ADOPT),
        (None, S3_CHANGED, SUPABASE_AS_READ, Decision.CONFLICT),
        (_forward_row(resolution=KEPT), S3_AS_WRITTEN, SUPABASE_AS_READ, Decision.CONFLICT),
        (_forward_row(state=State.FAILED), S3_CHANGED, SUPABASE_AS_READ, Decision.CONFLICT),
    ],
)
def test_the_way_back_decides_each_case_as_the_table_says(
    forward: ObjectRecord | None, s3: ObjectInfo, supabase: ObjectInfo | None, expected: Decision
) -> None:
    if forward is not None and forward.state == State.FAILED:
        assert seed(forward) is None
        forward = None
    assert _decide(forward, s3, supabase) == expected


def test_the_changed_object_is_written_only_over_the_version_the_forward_copy_read() -> None:
    spec = reverse_spec(MappingSpec("k", "b"))
    with Manifest(None) as manifest:
        manifest.mark_copied(
            "k->b",
            "a.png",
            size=10,
            sha256="sha",
            crc64nvme=None,
            source_etag="supabase-v1",
            source_modified=None,
            dest_key="a.png",
            dest_etag="s3-v1",
            attempts=1,
        )
        seed_manifest(manifest, manifest, spec)
        record = manifest.get(spec.name, "a.png")
    assert write_for(Decision.CHANGED, record, SUPABASE_AS_READ).if_match == "supabase-v1"
    assert write_for(Decision.MISSING, record, None).if_match is None

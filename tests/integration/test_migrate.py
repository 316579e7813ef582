"""`bucketshift migrate`: the whole phase on the local servers, as a user runs it.

A small app (a few objects per bucket, the demo's four URL columns) on our Supabase Storage
emulator, moto as S3 and a database of its own in the session's PostgreSQL.  The CLI runs in
this process (`cli.main.run`, output captured) except where it must be killed: there it is a
child process, killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest
from tests.app_plan import app_plan
from tests.integration.conftest import STATE_PASSWORD, state_database

from bucketshift.cli.main import run as cli_main  # noqa: TID251 - the CLI in-process: a child costs 1.7 s of imports
from bucketshift.config import SupabaseEndpoint, load_plan
from bucketshift.operations.migrate import MigrateRequest, MigrateRun
from bucketshift.stores.base import PLACEHOLDER_NAME
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.app_database import URL_COLUMNS, seed_app_database
from bucketshift_sandbox.seed import Seeded, SeedPlan, seed_app
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster, run_emulator

EXE = str(Path(sys.executable).with_name("bucketshift"))
STEPS = ["provision", "copy", "verify", "rewrite-urls", "verify-after-rewrite"]
SMALL = SeedPlan(
    projects=1, branches=1, assets_per_branch=3, frames_per_branch=4, videos_per_branch=1, big_folder_entries=0,
    special_keys=False, image_size=(2_000, 6_000), video_size=(20_000, 60_000),
)  # fmt: skip
_numbers = itertools.count(1)


@dataclass
class World:
    emulator: EmulatorServer
    moto: MotoServer
    dsn: str
    plan_path: Path
    prefix: str
    seeded: Seeded

    @property
    def manifest(self) -> Path:
        return self.plan_path.with_name("plan.manifest.sqlite3")

    def dest(self, bucket: str) -> str:
        return f"{self.prefix}-{bucket}"

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")

    def objects(self, bucket: str) -> set[str]:
        """The seeded keys a copy moves (placeholders are skipped)."""
        return {k for k in self.seeded.keys(bucket) if not k.endswith(PLACEHOLDER_NAME)}

    def at_destination(self) -> dict[str, set[str]]:
        client, out = self.s3(), {}
        names = {b["Name"] for b in client.list_buckets()["Buckets"]}
        for bucket in ("asset-images", "images", "videos"):
            if self.dest(bucket) in names:
                pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.dest(bucket))
                out[bucket] = {o["Key"] for page in pages for o in page.get("Contents", [])}
        return out

    def rows(self) -> dict[str, list[tuple[str, str | None]]]:
        """Every URL column's (id, value), in id order."""
        out = {}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for column in URL_COLUMNS:
                table, name = column.split(".")
                query = f'SELECT id::text, "{name}" FROM "{table}" ORDER BY id'  # noqa: S608 - the app's own names
                out[column] = [(str(i), v) for i, v in conn.execute(query).fetchall()]
        return out

    def steps(self) -> dict[str, tuple[str, str | None]]:
        """The manifest's migrate steps: name -> (state, finished_at)."""
        if not self.manifest.exists():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{self.manifest}?mode=ro", uri=True)) as db:
            try:
                rows = db.execute("SELECT name, state, finished_at FROM steps WHERE phase = 'migrate'").fetchall()
            except sqlite3.OperationalError:
                return {}
        return {name: (state, finished) for name, state, finished in rows}

    def copied_rows(self) -> int:
        if not self.manifest.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{self.manifest}?mode=ro", uri=True)) as db:
            try:
                return int(db.execute("SELECT count(*) FROM objects WHERE state = 'copied'").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    def journal_changes(self) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM bucketshift.journal").fetchone()[0])
            except psycopg.errors.UndefinedTable:
                return 0

    def expected_value(self, column: str, old: str | None) -> str | None:
        """What one stored URL must become after one rewrite: the same object's S3 URL (a private
        video's `s3://` reference); the URL of an object that does not exist stays as it is."""
        if old is None or "deleted_" in old:
            return old
        path = urlsplit(old).path
        for bucket in ("asset-images", "images", "videos"):
            marker = f"/public/{bucket}/" if bucket != "videos" else f"/sign/{bucket}/"
            if marker in path:
                key = path.split(marker, 1)[1]
                if bucket == "videos":
                    return f"s3://{self.dest(bucket)}/{key}"
                return f"{self.moto.endpoint_url}/{self.dest(bucket)}/{key}"
        raise AssertionError(f"{column}: unexpected value {old}")


async def _seed(emulator: EmulatorServer, plan: SeedPlan) -> Seeded:
    source = SupabaseEndpoint(type="supabase", url=emulator.url, key=emulator.service_role_key)
    async with open_store(source) as store:
        return await seed_app(store, plan)


def new_world(
    stack: contextlib.ExitStack,
    tmp_path: Path,
    moto: MotoServer,
    postgres: PostgresCluster,
    *,
    tag: str,
    n: int,
    seed: SeedPlan = SMALL,
    concurrency: int = 8,
    batch_size: int = 5000,
) -> World:
    """An emulator seeded with `seed`, a database of the app and a plan file, all named after `tag` and `n`
    (so test files sharing the servers never meet), undone when `stack` closes."""
    name = f"{tag}_{os.getpid()}_{n}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    stack.callback(_drop, postgres.dsn, name)
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    emulator = stack.enter_context(run_emulator(tmp_path / f"emulator-{n}"))
    seeded = asyncio.run(_seed(emulator, seed))
    seed_app_database(dsn, emulator.url, seeded)
    prefix = f"{tag[:3]}{os.getpid() % 10000}-{n}"
    plan_path = tmp_path / f"world-{n}" / "plan.toml"
    plan_path.parent.mkdir()
    plan_path.write_text(
        app_plan(url=emulator.url, key=emulator.service_role_key, endpoint=moto.endpoint_url,
                 prefix=prefix, dsn=dsn, batch_size=batch_size, concurrency=concurrency),
        encoding="utf-8",
    )  # fmt: skip
    return World(emulator, moto, dsn, plan_path, prefix, seeded)


@pytest.fixture
def make_world(tmp_path: Path, moto: MotoServer, postgres: PostgresCluster) -> Iterator[Callable[..., World]]:
    """A new world per call (`new_world`)."""
    with contextlib.ExitStack() as stack:

        def make(seed: SeedPlan = SMALL, *, concurrency: int = 8, batch_size: int = 5000) -> World:
            return new_world(stack, tmp_path, moto, postgres, tag="migrate", n=next(_numbers), seed=seed,
                             concurrency=concurrency, batch_size=batch_size)  # fmt: skip

        yield make


def _drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def cli(*args: str) -> Done:
    """The command line in this process, stdin not a terminal, output captured."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _stdin(io.StringIO()):
        try:
            cli_main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return Done(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(stream: io.StringIO) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


def migrate(world: World, *args: str) -> Done:
    done = cli("migrate", "--config", str(world.plan_path), *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr, done.stderr
    return done


# (a) end to end, then a rerun that does nothing ----------------------------------------------------


def test_migrate_yes_runs_every_step_and_a_rerun_does_nothing(make_world: Callable[..., World]) -> None:
    world = make_world()
    before = world.rows()
    done = migrate(world, "--yes")
    assert done.code == 0, done.stdout[-3000:] + done.stderr
    for number, name in enumerate(STEPS, 1):
        assert f"{number}/5 {name}" in done.stdout
    assert "rewrite plan (nothing written)" in done.stdout, "the plan is shown before the apply"
    assert "rewrite applied" in done.stdout
    assert "migrated" in done.stdout
    steps = world.steps()
    assert {name: state for name, (state, _) in steps.items()} == dict.fromkeys(STEPS, "done")
    landed = world.at_destination()
    assert {b: landed[b] for b in landed} == {b: world.objects(b) for b in ("asset-images", "images", "videos")}
    after = world.rows()
    for column, rows in before.items():
        assert after[column] == [(i, world.expected_value(column, v)) for i, v in rows], column
    still_supabase = [v for rows in after.values() for _, v in rows if v and world.emulator.url in v]
    assert len(still_supabase) == 1, "only the URL of a missing object stays"
    assert "deleted_" in still_supabase[0]

    world.emulator.reset_stats()
    again = migrate(world, "--yes", "--json")
    assert again.code == 0, again.stderr
    report = json.loads(again.stdout)
    assert [(s["name"], s["status"]) for s in report["steps"]] == [(name, "skipped") for name in STEPS]
    assert [s["finished_at"] for s in report["steps"]] == [steps[name][1] for name in STEPS]
    assert report["steps"][1]["summary"]["images"]["copied"] == len(world.objects("images"))
    stats = world.emulator.stats()
    assert stats["object_reads"] == {}, "a rerun of a finished migrate reads nothing"
    assert stats["requests"] == 0
    assert world.steps() == steps
    assert world.rows() == after
    one = migrate(world, "--yes", "--bucket", "images")
    assert one.code == 0, one.stderr
    assert one.stdout.count("already done at") == 5, "steps done for every bucket are done for one of them"
    unknown = migrate(world, "--bucket", "nope")
    assert unknown.code == 2
    assert "bucket 'nope' is not in the plan file's [[buckets]]" in unknown.stderr
    both = migrate(world, "--keep-destination-changes", "--overwrite-destination-changes")
    assert both.code == 2
    assert "contradict each other" in both.stderr
    assert world.emulator.stats()["requests"] == 0


# (b) the dry run, (e) no terminal, and a rewrite that is declined -----------------------------------


def _bucket_names(world: World) -> set[str]:
    return {b["Name"] for b in world.s3().list_buckets()["Buckets"] if b["Name"].startswith(world.prefix)}


def test_dry_run_shows_every_step_and_writes_nothing_and_the_rewrite_waits_for_a_yes(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    before = world.rows()
    shown = migrate(world, "--dry-run")
    assert shown.code == 0, shown.stderr
    text = shown.stdout
    assert (
        text.index("1/5 provision")
        < text.index("2/5 copy")
        < text.index("3/5 verify")
        < text.index("4/5 rewrite-urls")
        < text.index("5/5 verify-after-rewrite")
    )
    assert world.dest("images") in text, "provision's plan: the buckets it would create"
    assert "copy into new buckets" in text
    assert "rewrite plan (nothing written)" in text
    assert "dry run: nothing was written" in text
    as_json = json.loads(migrate(world, "--dry-run", "--json").stdout)
    by_name = {s["name"]: s for s in as_json["steps"]}
    assert by_name["provision"]["provision"]["pending"] > 0
    new = {b["source"]: b["objects"] for b in by_name["copy"]["new_buckets"]}
    assert new == {b: len(world.objects(b)) for b in ("asset-images", "images", "videos")}
    columns = {c["column"]: c for c in by_name["rewrite-urls"]["rewrite"]["columns"]}
    assert set(columns) == set(URL_COLUMNS)
    frames = len(before["frames.image_url"])
    assert (columns["frames.image_url"]["urls"], columns["frames.image_url"]["rewritten"]) == (frames, frames - 1)
    projected = sum(c["rewritten"] for c in columns.values())
    estimated = {b["source_bucket"]: b for b in as_json["estimate"]["buckets"]}
    assert {b: e["objects_to_copy"] for b, e in estimated.items()} == new, "the estimate counts what the copy will do"
    assert as_json["estimate"]["cost"]["prices_source"]
    assert not world.manifest.exists(), "a dry run creates no manifest"
    assert _bucket_names(world) == set(), "a dry run creates no bucket"
    assert world.rows() == before

    refused = migrate(world)
    assert refused.code == 2
    assert "no terminal to ask on; pass --yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not world.manifest.exists()
    assert _bucket_names(world) == set()
    assert world.rows() == before

    # The library asks through `confirm`: a no leaves the database alone, and a rerun asks again.
    asked: list[int] = []

    def decline(preview: Any) -> bool:
        asked.append(sum(c.tally.rewritten for c in preview.columns))
        return False

    work = MigrateRun(load_plan(world.plan_path))
    asyncio.run(work.run(confirm=decline))
    assert [s.status for s in work.steps] == ["done", "done", "done", "declined", "pending"]
    assert work.exit_code == 1
    assert asked
    assert asked[0] == projected, "the dry run counted the rewrite the run then planned"
    assert world.rows() == before
    assert world.journal_changes() == 0
    done_before = world.steps()
    work = MigrateRun(load_plan(world.plan_path), MigrateRequest())
    asyncio.run(work.run(confirm=lambda preview: True))
    assert [s.status for s in work.steps] == ["skipped", "skipped", "skipped", "done", "done"]
    assert world.journal_changes() == asked[0]
    assert all(world.steps()[name] == done_before[name] for name in STEPS[:3])


# (c) a failing step stops the run; a rerun after the repair continues from it ----------------------


def test_a_failing_step_stops_the_run_and_a_rerun_continues_from_it(make_world: Callable[..., World]) -> None:
    world = make_world()
    before = world.rows()
    key = sorted(world.objects("images"))[0]
    client = world.s3()
    client.create_bucket(Bucket=world.dest("images"))
    client.put_object(Bucket=world.dest("images"), Key=key, Body=b"the app's own upload", ContentType="image/png")

    shown = json.loads(migrate(world, "--dry-run", "--json").stdout)
    copy = next(s for s in shown["steps"] if s["name"] == "copy")
    assert [b["source"] for b in copy["copy"]["buckets"]] == ["images"], "the copy's own dry run where the bucket is"
    assert copy["copy"]["buckets"][0]["to_copy"] == len(world.objects("images")) - 1
    assert {b["source"] for b in copy["new_buckets"]} == {"asset-images", "videos"}
    assert not world.manifest.exists()

    failed = migrate(world, "--yes")
    assert failed.code == 1, failed.stdout[-2000:] + failed.stderr
    assert "Step copy stopped on 1 conflicts" in failed.stderr
    assert "--keep-destination-changes" in failed.stderr
    assert "3/5 verify:" not in failed.stdout, "the steps after the failed one do not run"
    assert failed.stdout.count("not run") == 3, "the summary says so"
    steps = world.steps()
    assert {name: state for name, (state, _) in steps.items()} == {"provision": "done", "copy": "failed"}
    assert world.rows() == before

    world.emulator.reset_stats()
    resumed = migrate(world, "--yes", "--keep-destination-changes", "--json")
    assert resumed.code == 0, resumed.stdout[-2000:] + resumed.stderr
    report = json.loads(resumed.stdout)
    assert [s["status"] for s in report["steps"]] == ["skipped", "done", "done", "done", "done"]
    kept = report["steps"][1]["result"]["buckets"]
    assert [b["kept"] for b in kept if b["source"] == "images"] == [1]
    assert report["steps"][3]["summary"]["run_id"] == report["steps"][3]["result"]["run_id"] is not None
    assert world.steps()["provision"] == steps["provision"], "provision is not done again"
    assert world.emulator.stats()["object_reads"] == {}, "objects copied before the failure are not read again"
    assert client.get_object(Bucket=world.dest("images"), Key=key)["Body"].read() == b"the app's own upload"
    assert {name: state for name, (state, _) in world.steps().items()} == dict.fromkeys(STEPS, "done")


# (d) SIGKILL at three moments -----------------------------------------------------------------------


def _wait(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"migrate ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.02)


def _kill_when(world: World, condition: Callable[[], bool], what: str) -> None:
    proc = subprocess.Popen(
        [EXE, "migrate", "--config", str(world.plan_path), "--yes", "--concurrency", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(condition, proc, what)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_three_kills_and_a_rerun_complete_without_redoing_anything(make_world: Callable[..., World]) -> None:
    world = make_world(SeedPlan(projects=1, branches=1, assets_per_branch=6, frames_per_branch=10,
                                videos_per_branch=2, big_folder_entries=40, special_keys=False,
                                image_size=(2_000, 6_000), video_size=(20_000, 60_000)), batch_size=2)  # fmt: skip
    before = world.rows()
    total = sum(len(world.objects(b)) for b in ("asset-images", "images", "videos"))
    world.emulator.settings(latency_ms=40)

    # 1: in the middle of the copy
    _kill_when(world, lambda: world.copied_rows() >= 10, "10 objects copied")
    assert world.steps()["copy"][0] == "started"
    present = world.at_destination()
    reads_then = dict(world.emulator.stats()["object_reads"])
    assert 10 <= sum(len(keys) for keys in present.values()) < total, "killed in the middle of the copy"

    # 2: as soon as the copy is done (the next step just starting); the app's database is held
    # locked on one row from here on, so no rewrite can finish before the third kill
    lock = psycopg.connect(world.dsn)
    try:
        locked = lock.execute("SELECT id FROM frames ORDER BY id LIMIT 1 OFFSET 2 FOR UPDATE").fetchone()
        assert locked is not None
        _kill_when(world, lambda: world.steps().get("copy", ("",))[0] == "done", "the copy step done")
        at_kill_2 = world.steps()
        assert at_kill_2.get("rewrite-urls") is None, "killed between the copy and the rewrite"
        assert world.journal_changes() == 0
        world.emulator.settings(latency_ms=0)

        # 3: during the rewrite, some batches journaled, one waiting on the locked row
        _kill_when(world, lambda: world.journal_changes() > 0, "a journaled batch")
        assert world.steps()["rewrite-urls"][0] == "started"
        at_kill_3 = world.steps()
        with psycopg.connect(world.dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
                (lock.info.backend_pid,),
            )
    finally:
        lock.rollback()
        lock.close()
    journaled_before_rerun = world.journal_changes()
    assert journaled_before_rerun > 0

    done = migrate(world, "--yes")
    assert done.code == 0, done.stdout[-3000:] + done.stderr
    steps = world.steps()
    assert {name: state for name, (state, _) in steps.items()} == dict.fromkeys(STEPS, "done")
    for name in ("provision", "copy"):
        assert steps[name] == at_kill_2[name] == at_kill_3[name], f"{name} was done again"
    assert steps["verify"] == at_kill_3["verify"], "verify, done before the third kill, was done again"
    reads = world.emulator.stats()["object_reads"]
    again = [
        f"{b}/{k}" for b, keys in present.items() for k in keys if reads.get(f"{b}/{k}") != reads_then.get(f"{b}/{k}")
    ]
    assert again == [], f"objects at the destination at the first kill were read again: {again[:5]}"
    assert len(reads) == total, "every object was read from the source"
    assert sum(reads.values()) <= total + 2 * 2, "at most the objects in flight at each kill read twice"

    after = world.rows()
    for column, rows in before.items():
        assert after[column] == [(i, world.expected_value(column, v)) for i, v in rows], column
    rewritten = sum(
        1 for col in before for (_, old), (_, new) in zip(before[col], after[col], strict=True) if old != new
    )
    assert world.journal_changes() == rewritten, "each value journaled once: no double rewrite"

    # the journal undoes both apply runs (the killed one and the rerun's), newest first, exactly
    codes = [cli("rewrite-urls", "--config", str(world.plan_path), "--revert", "--yes").code for _ in range(2)]
    assert codes == [1, 0], "the first revert says the killed run is still in place; the second undoes it"
    assert world.rows() == before
    last = cli("rewrite-urls", "--config", str(world.plan_path), "--revert", "--yes")
    assert "there is no rewrite run to revert" in last.stdout


# the whole phase on a PostgreSQL state ---------------------------------------------------------------


def test_migrate_and_rollback_run_on_a_postgresql_state(make_world: Callable[..., World], postgres) -> None:
    """The phase keeps its steps, its copy (one worker of a shared run) and its journal's partner, the
    manifest, in the state database: migrate lands everything and a rerun does nothing, then rollback
    brings the rows back.  No SQLite file appears beside the plan."""
    world = make_world()
    before = world.rows()
    with state_database(postgres) as dsn:
        done = migrate(world, "--yes", "--state", dsn)
        assert done.code == 0, done.stdout[-3000:] + done.stderr
        landed = world.at_destination()
        assert {b: landed[b] for b in landed} == {b: world.objects(b) for b in ("asset-images", "images", "videos")}
        assert world.rows() != before
        world.emulator.reset_stats()
        again = migrate(world, "--yes", "--json", "--state", dsn)
        assert again.code == 0, again.stderr
        assert [s["status"] for s in json.loads(again.stdout)["steps"]] == ["skipped"] * len(STEPS)
        assert world.emulator.stats()["object_reads"] == {}
        back = cli("rollback", "--config", str(world.plan_path), "--yes", "--state", dsn)
        assert back.code == 0, back.stdout[-3000:] + back.stderr
        assert world.rows() == before
        assert STATE_PASSWORD not in done.stdout + done.stderr + back.stdout + back.stderr
    assert not world.manifest.exists()

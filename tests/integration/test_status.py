"""`status` ticks its checklist from live facts: after a whole phase every line is ticked, and each thing
broken on purpose unticks exactly the lines it breaks, until it is repaired.

One world for the module: a small app seeded like the demo's (our emulator, its database in PostgreSQL),
provisioned in moto with an IAM user, copied, verified and its URLs rewritten through the operations.
Every test breaks one thing, reads the status, repairs it and reads the status again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import psycopg
import pytest
from tests.app_plan import app_plan

from bucketshift import eventloop
from bucketshift.config import Plan, SupabaseEndpoint, load_plan
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.provision import provision
from bucketshift.operations.rewrite import RewriteRequest, RewriteRun
from bucketshift.operations.status import StatusReport, StatusRequest, status
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.provision.iam import POLICY_NAME
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.app_database import seed_app_database
from bucketshift_sandbox.seed import Seeded, SeedPlan, seed_app
from bucketshift_sandbox.servers import MotoServer, PostgresCluster, run_emulator

EXE = str(Path(sys.executable).with_name("bucketshift"))
SEED = SeedPlan(projects=1, branches=1, assets_per_branch=3, frames_per_branch=3, videos_per_branch=2,
                big_folder_entries=0, image_size=(600, 3000), video_size=(3000, 9000), special_keys=False)  # fmt: skip
"""3 images per public bucket (plus a dashboard placeholder), 2 videos: the demo's shape, small."""


@dataclass
class World:
    plan_path: Path
    plan: Plan
    moto: MotoServer
    emulator_url: str
    emulator_key: str
    dsn: str
    prefix: str
    iam_user: str
    key_file: Path
    seeded: Seeded

    def dest(self, source: str) -> str:
        return f"{self.prefix}-{source}"

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.moto.endpoint_url, region_name="us-east-1")

    def status(self) -> StatusReport:
        return eventloop.run(status(self.plan, StatusRequest(iam_user=self.iam_user)))

    def copy(self, **options: Any) -> CopyRun:
        work = CopyRun(self.plan, CopyRequest(**options))
        eventloop.run(work.run())
        return work

    def verify(self) -> VerifyRun:
        work = VerifyRun(self.plan, VerifyRequest())
        eventloop.run(work.run())
        return work

    def rewrite(self) -> None:
        RewriteRun(self.plan, RewriteRequest(mode="apply")).run()

    def keys(self, bucket: str) -> list[str]:
        return sorted(k for k in self.seeded.keys(bucket) if not k.endswith(".emptyFolderPlaceholder"))


async def _seed(url: str, key: str) -> Seeded:
    async with open_store(SupabaseEndpoint(type="supabase", url=url, key=key)) as store:
        return await seed_app(store, SEED)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer, postgres: PostgresCluster) -> Iterator[World]:
    base = tmp_path_factory.mktemp("status")
    name = f"status_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    try:
        with run_emulator(base / "emulator") as emulator:
            seeded = eventloop.run(_seed(emulator.url, emulator.service_role_key))
            seed_app_database(dsn, emulator.url, seeded)
            prefix = f"st-{uuid.uuid4().hex[:8]}"
            plan_path = base / "bucketshift.toml"
            text = app_plan(
                url=emulator.url,
                key=emulator.service_role_key,
                endpoint=moto.endpoint_url,
                prefix=prefix,
                dsn=dsn,
                cors=True,
            )
            plan_path.write_text(text, encoding="utf-8")
            plan = load_plan(plan_path)
            user, key_file = f"app-{prefix}", base / "app.aws-key.env"
            world = World(
                plan_path, plan, moto, emulator.url, emulator.service_role_key, dsn, prefix, user, key_file, seeded
            )
            provision(plan, iam_user=user, key_file=key_file)
            assert world.copy().failed == 0
            assert world.verify().ok
            world.rewrite()
            yield world
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def unticked(report: StatusReport) -> set[tuple[str, str | None]]:
    return {(line.check, line.subject) for line in report.unticked}


def line(report: StatusReport, check: str, subject: str | None) -> Any:
    return next(x for x in report.lines if x.check == check and x.subject == subject)


def all_ticked(world: World) -> StatusReport:
    report = world.status()
    assert unticked(report) == set(), [(x.check, x.subject, x.detail) for x in report.unticked]
    assert report.ok
    return report


def test_after_the_whole_phase_every_line_is_ticked_from_what_is_there(world: World) -> None:
    report = all_ticked(world)
    checks = [x.check for x in report.lines]
    assert checks == sorted(checks, key=["buckets", "exposure", "iam", "objects", "workers", "conflicts", "urls",
                                         "public-urls", "new-uploads"].index)  # fmt: skip
    buckets = ("asset-images", "images", "videos")
    for bucket in buckets:
        assert line(report, "buckets", bucket).ok is True
        assert line(report, "exposure", bucket).ok is True
        objects = line(report, "objects", bucket)
        assert objects.counts["source"] == objects.counts["verified"] == len(world.keys(bucket))
        assert objects.counts["manifest_verified"] == len(world.keys(bucket))
        assert line(report, "conflicts", bucket).counts == {"conflicts": 0}
        uploads = line(report, "new-uploads", bucket)
        assert (uploads.ok, uploads.detail) == (None, "none yet"), "no upload yet is not a failure"
    assert line(report, "iam", world.iam_user).ok is True
    frames = line(report, "urls", "frames.image_url")
    assert frames.counts["rows_rewritten"] == len(world.keys("images")) + 1, "each frame and its thumbnail URL"
    assert frames.counts["supabase_urls"] == frames.counts["not_at_destination"] == 1, "the deleted frame, reported"
    assert "deleted_1760000000.png" in frames.detail
    videos = line(report, "urls", "video_generation_jobs.video_url")
    assert videos.counts["rows_rewritten"] == len(world.keys("videos"))
    for bucket in ("asset-images", "images"):
        sample = line(report, "public-urls", bucket)
        assert sample.ok is True
        assert sample.counts == {"fetched": 3, "failed": 0}
    assert not [x for x in report.lines if x.check == "public-urls" and x.subject == "videos"], "private: no URL"


def test_a_removed_bucket_policy_unticks_the_exposure_and_the_images_stop_displaying(world: World) -> None:
    world.s3().delete_bucket_policy(Bucket=world.dest("images"))
    report = world.status()
    assert unticked(report) == {("exposure", "images"), ("public-urls", "images")}
    exposure = line(report, "exposure", "images").detail
    assert "without the policy statement that lets everyone GET" in exposure
    assert "policy differs from the plan (provision would create it)" in exposure
    assert "answered 403" in line(report, "public-urls", "images").detail
    provision(world.plan)
    all_ticked(world)


def test_an_object_deleted_at_the_destination_unticks_its_buckets_objects(world: World) -> None:
    gone = world.keys("videos")[0]
    world.s3().delete_object(Bucket=world.dest("videos"), Key=gone)
    report = world.status()
    assert unticked(report) == {("objects", "videos")}
    objects = line(report, "objects", "videos")
    assert objects.counts["missing_at_destination"] == 1
    assert objects.counts["verified"] == len(world.keys("videos")) - 1
    assert gone in objects.detail
    assert world.copy().failed == 0
    assert world.verify().ok
    all_ticked(world)


async def _put_source(world: World, key: str, body: bytes) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=world.emulator_url, key=world.emulator_key)
    async with open_store(endpoint) as store:
        await store.put("images", key, body, content_type="image/png")


def test_a_source_object_not_yet_copied_unticks_its_buckets_objects(world: World) -> None:
    key = "project_1/branch_1/frames/uploaded_to_supabase_late.png"
    eventloop.run(_put_source(world, key, b"\x89PNG late" * 40))
    report = world.status()
    assert unticked(report) == {("objects", "images")}
    objects = line(report, "objects", "images")
    assert (objects.counts["source"], objects.counts["not_copied"]) == (len(world.keys("images")) + 1, 1)
    assert f"1 not copied yet (run copy): {key}" in objects.detail
    assert world.copy(mode="sync").failed == 0
    assert world.verify().ok
    all_ticked(world)


def test_a_destination_bucket_that_is_not_there_unticks_its_lines(world: World) -> None:
    missing = f"{world.prefix}-nowhere"
    buckets = [m.model_copy(update={"destination": missing}) if m.source == "videos" else m for m in world.plan.buckets]
    plan = world.plan.model_copy(update={"buckets": buckets})
    report = eventloop.run(status(plan, StatusRequest(buckets=["videos"])))
    assert unticked(report) == {("buckets", "videos"), ("exposure", "videos"), ("objects", "videos")}
    assert line(report, "buckets", "videos").detail == "missing; run bucketshift provision"
    assert "does not exist" in line(report, "exposure", "videos").detail
    assert f"destination bucket {missing} does not exist" in line(report, "objects", "videos").detail
    assert line(report, "new-uploads", "videos").ok is None
    not_planned = line(report, "iam", None)
    assert not_planned.ok is None, "no IAM user named: neither ticked nor failing"
    assert not_planned.detail.startswith("not planned")
    assert {x.subject for x in report.lines if x.check in ("buckets", "objects")} == {"videos"}, "--bucket"


def test_a_rewritten_row_edited_back_to_supabase_unticks_its_column(world: World) -> None:
    frame = world.keys("images")[0]
    old = f"{world.emulator_url}/storage/v1/object/public/images/{quote(frame, safe='/')}"
    with psycopg.connect(world.dsn, autocommit=True) as conn:
        conn.execute("UPDATE frames SET image_url = %s WHERE id = 1", (old,))
    report = world.status()
    assert unticked(report) == {("urls", "frames.image_url")}
    frames = line(report, "urls", "frames.image_url")
    assert frames.counts["verified_not_rewritten"] == 1
    assert "still point at Supabase" in frames.detail
    world.rewrite()
    all_ticked(world)


def test_a_conflict_unticks_the_conflicts_line_until_settled(world: World) -> None:
    key = world.keys("images")[1]
    world.s3().put_object(
        Bucket=world.dest("images"), Key=key, Body=b"\x89PNG the app's own edit", ContentType="image/png"
    )
    before = world.status()
    assert unticked(before) == {("objects", "images")}, "seen live before any copy records it"
    assert line(before, "objects", "images").counts["changed_at_destination"] == 1
    assert line(before, "new-uploads", "images").counts == {"new": 0, "rewritten": 1}

    assert world.copy().conflicts == 1
    report = world.status()
    assert unticked(report) == {("conflicts", "images")}
    conflicts = line(report, "conflicts", "images")
    assert conflicts.counts == {"conflicts": 1}
    assert key in conflicts.detail
    assert line(report, "objects", "images").counts["conflicts"] == 1

    assert world.copy(on_conflict="keep").conflicts == 0
    assert world.verify().ok
    all_ticked(world)


def test_an_upload_by_the_app_at_the_destination_shows_as_new_uploads(world: World) -> None:
    key = "project_1/branch_1/frames/uploaded_after_cutover.png"
    world.s3().put_object(Bucket=world.dest("images"), Key=key, Body=b"\x89PNG new", ContentType="image/png")
    report = all_ticked(world)
    uploads = line(report, "new-uploads", "images")
    assert uploads.ok is True
    assert uploads.counts == {"new": 1, "rewritten": 0}
    assert key in uploads.detail
    assert line(report, "new-uploads", "asset-images").ok is None
    world.s3().delete_object(Bucket=world.dest("images"), Key=key)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_the_cli_gives_its_json_with_exit_0_and_shows_an_unticked_line_with_exit_1(world: World) -> None:
    args = ["status", "--config", str(world.plan_path), "--iam-user", world.iam_user]
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is True
    assert {x["check"] for x in document["lines"]} == set(document["checks"])
    assert all(set(x) == {"check", "name", "ok", "detail", "counts", "subject"} for x in document["lines"])

    iam = boto3.client("iam", endpoint_url=world.moto.endpoint_url, region_name="us-east-1")
    iam.delete_user_policy(UserName=world.iam_user, PolicyName=POLICY_NAME)
    key = "project_1/[red]upload[/red] [link=http://example.com]x[/link].png"
    world.s3().put_object(Bucket=world.dest("images"), Key=key, Body=b"\x89PNG new", ContentType="image/png")
    shown = cli(*args)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    out = shown.stdout
    assert [x for x in out.splitlines() if "✗" in x] == [x for x in out.splitlines() if "its policy" in x]
    assert f"✗ the app's IAM user and its policy: user {world.iam_user}: its policy {POLICY_NAME} is missing" in out
    assert f"✓ app uploads in {world.dest('images')}: written by the app since the copy: 1 new: {key}" in out
    assert "1 line not ticked" in out

    provision(world.plan, iam_user=world.iam_user, key_file=world.key_file)
    world.s3().delete_object(Bucket=world.dest("images"), Key=key)
    all_ticked(world)

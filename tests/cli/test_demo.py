"""The README's first command: `bucketshift demo` runs a whole migration locally and verifies it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("bucketshift"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    workdir = tmp_path_factory.mktemp("demo") / "demo"
    done = subprocess.run(
        [EXE, "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, workdir


def _between(out: str, start: str, end: str) -> str:
    assert start in out, start
    assert end in out, end
    return out.split(start, 1)[1].split(end, 1)[0]


def test_demo_migrates_and_verifies(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, workdir = demo_run
    out = done.stdout
    migrate = _between(out, "1. migrate --yes", "2. the app during the cut-over")
    assert migrate.count("verified: 0 missing, 0 differing") == 2, "verify, then verify again after the rewrite"
    assert "migrated: every step done" in migrate
    for bucket in ("demo-asset-images", "demo-images", "demo-videos"):
        assert bucket in migrate
    assert "X-Amz-Signature=" in migrate, "the private video bucket is offered through a signed URL"
    assert "demo-images (public URL):" in migrate
    assert "Traceback" not in done.stderr
    assert (workdir / "bucketshift.manifest.sqlite3").exists()
    page = workdir / "report.html"
    assert page.exists()
    assert f"report written to {page}" in done.stderr.replace("\n", "")
    assert 'id="buckets"' in page.read_text(encoding="utf-8")


def test_demo_rewrites_the_apps_stored_urls(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    out = demo_run[0].stdout
    seeded = re.search(r"rows holding storage URLs: (.+)", out)
    assert seeded is not None, out[:2000]
    rows = {name: int(n) for name, n in re.findall(r"(\w+\.\w+) (\d+)", seeded.group(1))}
    assert set(rows) == {
        "global_assets.image_key_url",
        "project_assets.image_key_url",
        "frames.image_url",
        "video_generation_jobs.video_url",
    }
    rewritten = sum(rows.values()) - 1  # one frame points at an object that no longer exists
    rewrite = _between(out, "rewrite-urls: the storage URLs", "verify-after-rewrite:")
    assert "not verified at the destination, left as is: images/project_1/branch_1/frames/deleted_" in rewrite
    assert "1 x image transformation" in rewrite
    videos = re.findall(r"video_generation_jobs\.video_url: \S+\n\s+-> (\S+)", rewrite)
    assert videos, rewrite
    assert all(v.startswith("s3://demo-videos/project_") for v in videos), "a private video never gets a public URL"
    assert f"{rewritten} URLs rewritten in 4 columns (journal run 1)" in out


def test_the_app_writes_to_both_sides_in_the_cut_over_then_to_s3(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    out = demo_run[0].stdout
    mirror = _between(out, "2. the app during the cut-over", "3. sync, verify")
    on_s3 = _between(out, "4. the app on S3", "5. status")
    for part, supabase in ((mirror, "yes"), (on_s3, "no")):
        frames = re.findall(r"│ frame .*│ yes\s+│ (yes|no)\s+│ (\S+)", part)
        videos = re.findall(r"│ video .*│ yes\s+│ (yes|no)\s+│ (\S+)", part)
        assert [f[0] for f in frames] == [supabase], part
        assert [v[0] for v in videos] == [supabase], part
        assert videos[0][1].startswith("s3://demo-videos/project_demo/videos/"), "the app keeps a private reference"
    sync = _between(out, "3. sync, verify", "4. the app on S3")
    assert "verified: 0 missing, 0 differing" in sync


def test_status_is_all_ticked_after_the_move_and_open_again_after_the_rollback(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    out = demo_run[0].stdout
    before = _between(out, "5. status", "6. rollback --yes")
    assert "✗" not in before, before
    assert "not ticked" not in before
    assert "app uploads in demo-images: written by the app since the copy: 1 new" in before, "the S3-only one"
    rollback = _between(out, "6. rollback --yes", "7. status")
    assert "switch the application back with: STORAGE_BACKEND=supabase" in rollback
    back = {m: int(n) for m, n in re.findall(r"│ (\w+(?:-\w+)?)<-demo-\S+\s+│ \d+\s+│ (\d+)", rollback)}
    assert back == {"asset-images": 0, "images": 1, "videos": 1}, "exactly the files the app wrote on S3 alone"
    assert re.search(r"forward rewrite run 1 reverted \(journaled as run \d+\): \d+ values restored", rollback)
    assert "/storage/v1/object/authenticated/videos/project_demo/" in rollback, "new rows point at Supabase again"
    after = _between(out, "7. status", "plan file:")
    assert "URLs of verified objects still point at Supabase" in after, "the negative: after the way back, unticked"

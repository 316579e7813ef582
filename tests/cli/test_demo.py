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


def test_demo_ends_with_a_passing_verify(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, workdir = demo_run
    out = done.stdout
    assert "verified: 0 missing, 0 differing" in out
    for bucket in ("demo-asset-images", "demo-images", "demo-videos"):
        assert bucket in out
    assert "X-Amz-Signature=" in out, "the private video bucket is offered through a signed URL"
    assert "demo-images (public URL):" in out
    assert "Traceback" not in done.stderr
    manifest = workdir / "bucketshift.manifest.sqlite3"
    assert manifest.exists()


def test_demo_rewrites_the_apps_stored_urls_and_undoes_it(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
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
    plan, _, rest = out.partition("6. rewrite-urls --apply")
    applied, _, reverted = rest.partition("7. rewrite-urls --revert")
    assert "not verified at the destination, left as is: images/project_1/branch_1/frames/deleted_" in plan
    assert "1 x image transformation" in plan
    videos = re.findall(r"video_generation_jobs\.video_url: \S+\n\s+-> (\S+)", applied)
    assert videos, applied
    assert all(v.startswith("s3://demo-videos/project_") for v in videos), "a private video never gets a public URL"
    assert "journaled as run 1; undo with: bucketshift rewrite-urls --revert --run 1" in applied
    assert f"revert of run 1 (journaled as run 2): {rewritten} values restored" in reverted
    assert "left as they are" not in reverted

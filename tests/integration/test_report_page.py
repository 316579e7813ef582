"""The HTML report of a real copy and verify, opened in headless Chromium as a person would open it.

Source: the Supabase emulator with one object whose bytes are gone (its read fails) and one the
application changed at the destination (a conflict); after the copy, one copied object is deleted
at the destination so verify takes it back.  The page is then loaded from disk by Chromium
(screenshot at 1366x768, and the DOM as Chromium built it) and every number in that DOM is
compared with the manifest counted by plain SQL.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.report_helpers import browse, dom_of
from tests.unit.report_dom import Page, copied_bytes, manifest_failures, manifest_numbers

from bucketshift.config import SupabaseEndpoint
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.provision import posture
from bucketshift.operations.report import destination_posture, verify_report, write_report
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.report.model import SECTIONS
from bucketshift.stores.registry import open_store
from bucketshift_sandbox.seed import SeedPlan, seed_app


def _remove_bytes(emulator_dir: Path, bucket: str, key: str) -> None:
    """Make one source object unreadable: its catalog row stays (it is listed), its bytes go."""
    query = "SELECT version FROM objects WHERE bucket_id = ? AND name = ?"
    with sqlite3.connect(emulator_dir / "catalog.sqlite3") as db:
        (version,) = db.execute(query, (bucket, key)).fetchone()
    (emulator_dir / "blobs" / version).unlink()


def _differs(numbers: dict[tuple[str, str], tuple[int, int]], page: Page) -> list[str]:
    shown = page.bucket_numbers()
    return [f"{k}: page {shown.get(k)} manifest {v}" for k, v in numbers.items() if shown.get(k) != v] + [
        f"{k}: only on the page" for k in shown.keys() - numbers.keys()
    ]


async def test_the_report_page_shows_every_section_with_the_manifests_numbers(migration, tmp_path: Path) -> None:
    endpoint = SupabaseEndpoint(type="supabase", url=migration.emulator.url, key=migration.emulator.service_role_key)
    async with open_store(endpoint) as store:
        seeded = await seed_app(store, SeedPlan(projects=1, branches=2, assets_per_branch=4, frames_per_branch=6,
                                                videos_per_branch=2, big_folder_entries=0))  # fmt: skip
    frames = sorted(k for k in seeded.keys("images") if "/frames/frame" in k)
    assets = sorted(seeded.keys("asset-images"))
    unreadable, taken_back, conflict = frames[0], frames[1], assets[0]
    _remove_bytes(migration.emulator.data_dir, "images", unreadable)
    s3 = migration.s3()
    s3.put_object(Bucket=migration.dest("asset-images"), Key=conflict, Body=b"written by the app")

    plan = migration.plan
    copy = CopyRun(plan, CopyRequest(max_attempts=2))
    await copy.run()
    assert (copy.failed, copy.conflicts) == (1, 1), [f for r in copy.reports for f in r.failures]
    s3.delete_object(Bucket=migration.dest("images"), Key=taken_back)
    verify = VerifyRun(plan, VerifyRequest())
    await verify.run()
    assert not verify.ok

    # What `verify --report PATH` writes after the verify (cli/report_commands.report_verify).
    page_path = write_report(
        tmp_path / "report.html", verify_report(plan, None, verify.reports, destination_posture(plan))
    )
    postures = posture(plan).buckets  # never provisioned: every bucket has findings
    screenshot = tmp_path / "report.png"
    shot = browse(page_path, tmp_path / "chromium-profile", f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000
    print(f"\nreport page: {page_path}\nscreenshot (1366x768): {screenshot}")
    dom = dom_of(page_path, tmp_path / "chromium-profile")

    # Every section is there; those verify does not fill say they were not part of this run.
    assert dom.sections() == {sid: sid not in ("rewrite", "estimate", "checklist") for sid, _ in SECTIONS}
    assert dom.text.count("Not part of this run.") == 3

    # Every per-bucket number in the rendered DOM equals the manifest's, counted by SQL.
    manifest = copy.manifest_path
    numbers = manifest_numbers(manifest)
    assert _differs(numbers, dom) == []
    assert numbers[("images", "failed")][0] == 1
    assert numbers[("asset-images", "conflicts")][0] == 1
    assert numbers[("images", "pending")][0] == 1
    assert numbers[("videos", "verified")][0] == len(seeded.keys("videos"))

    # The chart holds every byte copied; the failures table every row that failed, conflicts or was taken back.
    (chart,) = dom.tags("svg")
    assert (int(chart.attrs["data-total-objects"]), int(chart.attrs["data-total-bytes"])) == copied_bytes(manifest)
    assert sum(int(bar.attrs["data-bytes"]) for bar in dom.tags("rect")) == copied_bytes(manifest)[1]
    shown = {(e.attrs["data-bucket"], e.attrs["data-state"]) for e in dom.with_attr("data-state")}
    expected = manifest_failures(manifest)
    assert shown == {(bucket, state) for bucket, _, state in expected}
    assert len(dom.with_attr("data-state")) == len(expected) == 3
    for _, key, _ in expected:
        assert key in dom.text
    assert "NotFound" in dom.text or "not found" in dom.text.lower()
    exposure = {p.bucket: len(p.findings) for p in postures}
    assert {e.attrs["data-bucket"]: int(e.attrs["data-findings"]) for e in dom.with_attr("data-findings")} == exposure
    assert set(exposure) == {migration.dest(b) for b in ("asset-images", "images", "videos")}

    # The negative: a page made from another manifest (the same run, one object more verified)
    # fails the same comparison.
    other_state = tmp_path / "other.sqlite3"
    shutil.copy(manifest, other_state)
    with sqlite3.connect(other_state) as db:
        db.execute("UPDATE objects SET state = 'verified' WHERE state = 'failed'")
    other = write_report(tmp_path / "other.html", verify_report(plan, other_state, verify.reports))
    other_dom = dom_of(other, tmp_path / "chromium-profile")
    assert other_dom.bucket_numbers() == manifest_numbers(other_state)
    assert _differs(numbers, other_dom) != []

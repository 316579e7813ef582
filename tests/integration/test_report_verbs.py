"""`--report PATH` on `migrate`, `status` and `rollback`, run as a user runs them (the CLI in-process).

One small world (test_migrate's) is migrated with `--report`; the page is opened once in headless
Chromium and every number in its DOM is compared with the manifest counted by plain SQL, and the
estimate with what the copy did.  `status` and `rollback` pages are read with the same DOM reader
from the HTML they wrote.  The negative: a migrate stopped at the copy by a conflict still writes
its page, and the page names the conflict and the step that stopped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.test_migrate import World, cli, new_world
from tests.report_helpers import dom_of
from tests.unit.report_dom import Page, copied_bytes, manifest_failures, manifest_numbers, read_page

from bucketshift.report.model import SECTIONS
from bucketshift_sandbox.app_database import URL_COLUMNS
from bucketshift_sandbox.servers import MotoServer, PostgresCluster

STEPS = ["provision", "copy", "verify", "rewrite-urls", "verify-after-rewrite"]


@pytest.fixture
def make_world(tmp_path: Path, moto: MotoServer, postgres: PostgresCluster) -> Iterator[Callable[[int], World]]:
    """test_migrate's world under names of this file's own (`report...`), so the two never meet."""
    with contextlib.ExitStack() as stack:
        yield lambda n: new_world(stack, tmp_path, moto, postgres, tag="report", n=n)


def _verb(world: World, verb: str, *args: str) -> tuple[int, str, str]:
    done = cli(verb, "--config", str(world.plan_path), *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr, done.stderr
    return done.code, done.stdout, done.stderr


def _estimate(page: Page) -> dict[str, tuple[float, float | None]]:
    """Label -> (estimated, actual) as the estimate table's cells hold them."""
    out: dict[str, tuple[float, float | None]] = {}
    label = None
    values: dict[str, str] = {}
    for e in page.elements:
        if e.tag == "tr" and "data-label" in e.attrs:
            label, values = e.attrs["data-label"], {}
        elif e.tag == "td" and label is not None and e.attrs.get("data-field") in ("estimated", "actual"):
            values[e.attrs["data-field"]] = e.attrs["data-value"]
            if len(values) == 2:
                out[label] = (float(values["estimated"]), float(values["actual"]) if values["actual"] else None)
    return out


def _checks(page: Page) -> list[tuple[str, str]]:
    return [(e.attrs["data-check"], e.attrs["data-ok"]) for e in page.with_attr("data-check")]


def _numbers_differ(path: Path, page: Page, buckets: set[str]) -> list[str]:
    """Page numbers against the manifest's, for `buckets` (a mapping with no row yet counts zeros)."""
    numbers = manifest_numbers(path)
    shown = page.bucket_numbers()
    fields = {f for _, f in shown}
    expected = {(b, f): numbers.get((b, f), (0, 0)) for b in buckets for f in fields}
    return [f"{k}: page {shown.get(k)} manifest {v}" for k, v in expected.items() if shown.get(k) != v] + [
        f"{k}: only on the page" for k in shown.keys() - expected.keys()
    ]


def test_migrate_status_and_rollback_write_pages_whose_numbers_are_the_manifests(
    make_world: Callable[[int], World], tmp_path: Path
) -> None:
    world = make_world(1)
    page_path = tmp_path / "migrate.html"
    code, out, err = _verb(world, "migrate", "--yes", "--report", str(page_path))
    assert code == 0, out[-2000:] + err
    assert "report written to" in err
    dom = dom_of(page_path, tmp_path / "chromium-profile")
    print(f"\nmigrate report: {page_path}")

    # Every section holds data; the steps are the checklist, each ticked.
    assert dom.sections() == {sid: True for sid, _ in SECTIONS}
    assert "Not part of this run." not in dom.text
    assert _checks(dom) == [("step", "true")] * len(STEPS)
    for number, name in enumerate(STEPS, 1):
        assert f"{number}/5 {name}" in dom.text

    # The numbers are the manifest's, counted by SQL; everything was copied and verified.
    sources = {"asset-images", "images", "videos"}
    assert _numbers_differ(world.manifest, dom, sources) == []
    numbers = manifest_numbers(world.manifest)
    for bucket in sources:
        assert numbers[(bucket, "verified")][0] == len(world.objects(bucket)) > 0
    (chart,) = dom.tags("svg")
    assert (int(chart.attrs["data-total-objects"]), int(chart.attrs["data-total-bytes"])) == copied_bytes(
        world.manifest
    )
    assert dom.with_attr("data-total", "0"), "no failure"

    # The estimate made right before the copy equals what a fresh copy did: objects, bytes and cost.
    estimate = _estimate(dom)
    copied, size = copied_bytes(world.manifest)
    assert estimate["objects to copy"] == (copied, copied)
    assert estimate["bytes to copy"] == (size, size)
    assert estimate["one-time cost"][0] == estimate["one-time cost"][1]
    assert estimate["time of the copy"][1] is not None
    assert estimate["time of the copy"][1] > 0
    assert "list prices for us-east-1" in dom.text
    assert "wall-clock" in dom.text

    # The rewrite per column, and every destination bucket's exposure as planned.
    rewritten = {e.attrs["data-column"] for e in dom.with_attr("data-column")}
    assert rewritten == set(URL_COLUMNS)
    exposure = {e.attrs["data-bucket"]: e.attrs["data-findings"] for e in dom.with_attr("data-findings")}
    assert exposure == {world.dest(b): "0" for b in sources}

    # status --report: every line of the checklist, as `status --json` gives it.
    status_page = tmp_path / "status.html"
    code, out, err = _verb(world, "status", "--json", "--report", str(status_page))
    lines = json.loads(out)["lines"]
    assert code == 0, [line for line in lines if line["ok"] is False]
    page = read_page(status_page.read_text(encoding="utf-8"))
    flag = {True: "true", False: "false", None: "none"}
    assert _checks(page) == [(line["check"], flag[line["ok"]]) for line in lines]
    assert page.sections() == {sid: sid not in ("rewrite", "estimate") for sid, _ in SECTIONS}
    assert _numbers_differ(world.manifest, page, sources) == []
    assert {e.attrs["data-bucket"] for e in page.with_attr("data-findings")} == {world.dest(b) for b in sources}
    # its negative: an object deleted at the destination unticks the objects line on the page too.
    key = sorted(world.objects("images"))[0]
    world.s3().delete_object(Bucket=world.dest("images"), Key=key)
    code, _, _ = _verb(world, "status", "--report", str(status_page))
    assert code == 1
    broken = read_page(status_page.read_text(encoding="utf-8"))
    assert ("objects", "false") in _checks(broken)
    assert key in broken.text
    world.s3().put_object(Bucket=world.dest("images"), Key=key, Body=b"the app's upload while on S3")

    # rollback --dry-run --report: a page that says it is a dry run, the way back's steps, nothing changed.
    dry_page = tmp_path / "rollback-dry.html"
    steps_before = world.steps()
    code, out, err = _verb(world, "rollback", "--dry-run", "--report", str(dry_page))
    assert code == 0, out[-2000:] + err
    dry = read_page(dry_page.read_text(encoding="utf-8"))
    assert "rollback report: the way back to Supabase (dry run: nothing was changed)" in dry.text
    assert _checks(dry) == [("step", "none")] * 4
    assert "would run" in dry.text
    assert world.steps() == steps_before

    # rollback --yes --report: the way back's rows (S3 bucket -> Supabase bucket), the rewrite back.
    back_page = tmp_path / "rollback.html"
    code, out, err = _verb(world, "rollback", "--yes", "--report", str(back_page))
    assert code == 0, out[-2000:] + err
    back = read_page(back_page.read_text(encoding="utf-8"))
    assert "the way back to Supabase" in back.text
    assert _checks(back) == [("step", "true")] * 4
    dests = {world.dest(b) for b in sources}
    assert _numbers_differ(world.manifest, back, dests) == []
    back_numbers = back.bucket_numbers()
    assert back_numbers[(world.dest("images"), "copied")][0] == 1, "the app's upload went back"
    images = len(world.objects("images"))
    assert back_numbers[(world.dest("images"), "skipped")][0] == images - 1, "in sync since the cut-over"
    assert back_numbers[(world.dest("videos"), "copied")] == (0, 0)
    assert back.sections()["rewrite"] is True
    assert "rewritten back to Supabase" in back.text
    assert {e.attrs["data-column"] for e in back.with_attr("data-column")} == set(URL_COLUMNS)


def test_a_migrate_stopped_by_a_conflict_still_writes_its_page_and_names_the_conflict(
    make_world: Callable[[int], World], tmp_path: Path
) -> None:
    world = make_world(2)
    key = sorted(world.objects("images"))[0]
    client = world.s3()
    client.create_bucket(Bucket=world.dest("images"))
    client.put_object(Bucket=world.dest("images"), Key=key, Body=b"the app's own upload", ContentType="image/png")

    page_path = tmp_path / "stopped.html"
    code, out, err = _verb(world, "migrate", "--yes", "--report", str(page_path))
    assert code == 1, out[-2000:] + err
    assert "Step copy stopped on 1 conflicts" in err
    page = read_page(page_path.read_text(encoding="utf-8"))

    # The copy step is unticked with what to do next; the steps after it did not run.
    assert _checks(page) == [("step", "true"), ("step", "false")] + [("step", "none")] * 3
    assert "--keep-destination-changes" in page.text
    # The failures: the conflict's row from the manifest, and the step that stopped.
    failures = {(e.attrs["data-bucket"], e.attrs["data-state"]) for e in page.with_attr("data-state")}
    expected = manifest_failures(world.manifest)
    assert expected == {("images", key, "conflict")}
    assert failures == {("images", "conflict"), ("step copy", "step failed")}
    assert key in page.text
    assert _numbers_differ(world.manifest, page, {"asset-images", "images", "videos"}) == []
    # The estimate still sits beside what the copy did (the conflict is neither estimated nor copied).
    estimate = _estimate(page)
    copied, size = copied_bytes(world.manifest)
    assert estimate["objects to copy"] == (copied, copied)
    assert estimate["bytes to copy"] == (size, size)
    total = sum(len(world.objects(b)) for b in ("asset-images", "images", "videos"))
    assert copied == total - 1
    assert page.sections()["rewrite"] is False, "the rewrite did not run"

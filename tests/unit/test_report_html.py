"""The report page as data and HTML: escaping, absent sections, no secrets, numbers from the manifest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.report_dom import copied_bytes, manifest_failures, manifest_numbers, read_page

from bucketshift.config import load_plan
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import Manifest
from bucketshift.errors import ConfigError, UsageError
from bucketshift.operations.report import manifest_report, write_report
from bucketshift.report import (
    SECTIONS,
    BucketTotals,
    CheckLine,
    ColumnRewrite,
    EstimateLine,
    EstimateVsActual,
    FailureRow,
    PostureRow,
    Report,
    Tally,
    from_manifest,
    render_html,
)
from bucketshift.report.from_manifest import throughput_series

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_KEY = "<script>alert(1)</script>.png"
HOSTILE_BUCKET = '"><img src=x onerror=alert(2)>'


def _totals(bucket: str, n: int = 3) -> BucketTotals:
    t = Tally(n, n * 1000)
    zero = Tally()
    return BucketTotals(bucket, f"{bucket}-dest", t, t, zero, t, zero, zero, zero)


def _report(**sections: object) -> Report:
    return Report("bucketshift test report", WHEN, "plan.toml", "verify", **sections)  # type: ignore[arg-type]


def _full() -> Report:
    return _report(
        buckets=(_totals("images"),),
        throughput=throughput_series([(WHEN, 5_000_000), (WHEN + timedelta(seconds=3), 1_000_000)]),
        rewrite=(ColumnRewrite("public.frames.image_url", 10, 2, 1),),
        failures=(FailureRow("images", "a.png", "boom", 8),),
        posture=(PostureRow("images", "public-read", ()),),
        estimate=EstimateVsActual((EstimateLine("bytes", 6e6, 6e6, "B"),), note="list prices of 2026-01-01"),
        checklist=(CheckLine("step", "1/2 provision", True, "2 changes applied"), CheckLine("step", "2/2 copy", None)),
    )


def test_outside_text_is_shown_as_text_never_as_markup() -> None:
    report = _report(
        buckets=(_totals(HOSTILE_BUCKET),),
        failures=(FailureRow(HOSTILE_BUCKET, HOSTILE_KEY, "server said <b>no</b> & closed", 3),),
        posture=(PostureRow(HOSTILE_BUCKET, "private", ("policy grants <everyone>",)),),
        notes=(f"note about {HOSTILE_KEY}",),
        checklist=(CheckLine(HOSTILE_BUCKET, f"bucket {HOSTILE_BUCKET}", False, f"missing: {HOSTILE_KEY} <b>x</b>"),),
    )
    page = read_page(render_html(report))
    assert [e.tag for e in page.elements if e.tag in ("script", "img", "b")] == []
    assert HOSTILE_KEY in page.text
    assert "server said <b>no</b> & closed" in page.text
    assert "policy grants <everyone>" in page.text
    assert f"missing: {HOSTILE_KEY} <b>x</b>" in page.text
    assert [e.attrs["data-check"] for e in page.with_attr("data-ok", "false")] == [HOSTILE_BUCKET]
    assert page.bucket_numbers()[(HOSTILE_BUCKET, "verified")] == (3, 3000)
    # The negative twin: the same reader does see markup when it is there.
    assert read_page(f"<p>{HOSTILE_KEY}</p>").tags("script")


def test_absent_sections_say_so_and_present_ones_hold_data() -> None:
    partial = read_page(render_html(_report(buckets=(_totals("images"),))))
    assert partial.sections() == {sid: sid == "buckets" for sid, _ in SECTIONS}
    assert partial.text.count("Not part of this run.") == len(SECTIONS) - 1

    full = read_page(render_html(_full()))
    assert full.sections() == {sid: True for sid, _ in SECTIONS}
    assert "Not part of this run." not in full.text
    assert [len(full.tags(t)) for t in ("svg", "polyline")] == [1, 1]
    bars = full.tags("rect")
    assert len(bars) == len(_full().throughput.points)  # type: ignore[union-attr]
    assert sum(int(b.attrs["data-bytes"]) for b in bars) == 6_000_000
    assert [int(b.attrs["data-bytes"]) for b in bars if b.attrs["data-bytes"] != "0"] == [5_000_000, 1_000_000]

    empty = read_page(render_html(_report(failures=())))
    assert empty.sections()["failures"] is True
    assert "No failures." in empty.text


def test_the_page_needs_no_network() -> None:
    html = render_html(_full())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert [s for s in ("@import", "<link", "<script", "url(") if s in html] == []
    assert re.search(r"(src|href)=\"https?://", '<img src="https://x/y.png">')  # the check can fail


SECRETS = {
    "key": "sb_secret_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4",
    "dsn_password": "s3cr3t-Pa55word",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


def _plan_with_secrets(tmp_path: Path) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(
        f"""
[source]
type = "supabase"
url = "http://127.0.0.1:1"
key = "{SECRETS["key"]}"
dsn = "postgresql://postgres:{SECRETS["dsn_password"]}@127.0.0.1:1/postgres"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:2"
access_key_id = "AKIAEXAMPLE"
secret_access_key = "{SECRETS["aws_secret"]}"

[[buckets]]
source = "images"
access = "public-read"

[database]
dsn = "postgresql://app:{SECRETS["dsn_password"]}@127.0.0.1:1/app"
columns = ["frames.image_url"]
""",
        encoding="utf-8",
    )
    return path


def _seed_manifest(path: Path, mapping: str) -> None:
    """One row in every state the manifest knows, and a verify that took one back."""
    with Manifest(path) as m:
        copy = dict(sha256=None, crc64nvme=None, source_etag="e", source_modified=None, dest_etag="d")
        m.mark_copied(mapping, "copied.png", size=100, dest_key="copied.png", attempts=1, **copy)
        m.mark_copied(mapping, "verified.png", size=200, dest_key="verified.png", attempts=2, **copy)
        m.mark_copied(mapping, "adopted.png", size=400, dest_key="adopted.png", attempts=0, **copy)
        m.mark_copied(mapping, "taken-back.png", size=800, dest_key="taken-back.png", attempts=1, **copy)
        m.mark_kept(mapping, "kept.png", source_etag="e", source_modified=None, source_size=1600,
                    dest_key="kept.png", dest_etag="x", dest_size=1700, dest_modified=None)  # fmt: skip
        m.mark_verified(mapping, ["verified.png", "adopted.png"])
        m.take_back(mapping, [("taken-back.png", "missing at the destination (verify)")])
        m.mark_failed(mapping, HOSTILE_KEY, "NotFound: gone", 8)
        m.mark_conflict(mapping, "conflict.png", "the app changed it", dest_key="conflict.png", dest_etag="z",
                        dest_size=3200, dest_modified=None)  # fmt: skip
        m.mark_copying(mapping, "in-flight.png", source_etag="e", source_modified=None, dest_key="in-flight.png")


def test_numbers_equal_the_manifest_and_no_secret_reaches_the_page(tmp_path: Path) -> None:
    plan = load_plan(_plan_with_secrets(tmp_path))
    state = tmp_path / "state.sqlite3"
    _seed_manifest(state, "images->images")
    report = manifest_report(plan, state, command="status", clock=lambda: WHEN)
    html = render_html(report)
    page = read_page(html)

    numbers = manifest_numbers(state)
    assert page.bucket_numbers() == numbers
    assert numbers[("images", "copied")] == (2, 300)  # copied.png and verified.png
    assert numbers[("images", "skipped")] == (2, 2000)  # adopted.png and kept.png
    assert numbers[("images", "verified")] == (2, 600)
    assert numbers[("images", "pending")] == (2, 800)  # taken back; in flight (no size yet)
    totals = report.buckets[0] if report.buckets else None
    assert totals is not None
    parts = ("copied", "skipped", "failed", "conflicts", "pending")
    assert totals.planned.objects == sum(totals.tally(p).objects for p in parts)

    assert {(f.bucket, f.key, f.state) for f in report.failures or ()} == manifest_failures(state)
    assert report.throughput is not None
    assert (report.throughput.total_objects, report.throughput.total_bytes) == copied_bytes(state)

    for name, secret in SECRETS.items():
        assert secret not in html, name
    assert not re.search(r"sb_secret_|eyJ[A-Za-z0-9_-]{10,}|://[^/\s:@]+:[^@\s]+@", html)
    assert page.with_attr("id", "plan-name")
    assert "plan.toml" in page.text
    # The negative twins: a manifest changed after the page was made no longer agrees with it,
    # and a value that is a secret is caught.
    with Manifest(state) as m:
        m.mark_verified("images->images", ["copied.png"])
    assert page.bucket_numbers() != manifest_numbers(state)
    assert re.search(r"://[^/\s:@]+:[^@\s]+@", f"postgresql://app:{SECRETS['dsn_password']}@h/db")


def test_throughput_keeps_every_byte_in_at_most_sixty_intervals() -> None:
    finished = [(WHEN + timedelta(seconds=s * 7.3), 1_000 + s) for s in range(500)]
    series = throughput_series(finished)
    assert series.total_bytes == sum(size for _, size in finished)
    assert series.total_objects == 500
    assert len(series.points) <= 60
    assert series.step == 120
    assert series.points[0].offset == 0
    assert series.started == WHEN
    one = throughput_series([(WHEN, 10_000_000)])
    assert [(p.offset, p.bytes) for p in one.points] == [(0, 10_000_000)]
    assert series.rate(series.points[0]) == series.points[0].bytes / 120
    assert throughput_series([]).points == ()


def test_from_manifest_names_each_mapping_and_reads_only(tmp_path: Path) -> None:
    state = tmp_path / "m.sqlite3"
    _seed_manifest(state, "videos->videos-dest")
    before = state.stat().st_mtime_ns
    sections = from_manifest(state, [MappingSpec("videos", "videos-dest"), MappingSpec("images", "images")])
    assert [b.bucket for b in sections.buckets] == ["videos", "images"]
    assert sections.buckets[1].planned == Tally()  # a mapping with no rows yet
    assert sections.buckets[0].unsized == 3  # failed, conflict and in flight: no bytes read yet
    assert state.stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="no manifest"):
        from_manifest(tmp_path / "absent.sqlite3", [])


def test_write_report_replaces_atomically_and_says_when_it_cannot(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_report(target, _full())
    write_report(target, _report(buckets=(_totals("images", 5),)))
    assert read_page(target.read_text(encoding="utf-8")).bucket_numbers()[("images", "planned")] == (5, 5000)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="cannot write the report"):
        write_report(blocker / "report.html", _full())

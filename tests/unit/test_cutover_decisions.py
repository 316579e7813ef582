"""The pure parts of cut-over safety: what a copy may write where, the manifest's claims, the memory budget."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import Decision, Write, classify, judge, write_for
from bucketshift.engine.manifest import KEPT, SCHEMA_VERSION, Manifest, ObjectRecord, State
from bucketshift.stores.base import ObjectInfo, SourceVersion, md5_of_etag, split_reserved

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
MD5_A = "0" * 31 + "a"
MD5_B = "0" * 31 + "b"


def src(size: int = 10, etag: str = MD5_A, key: str = "a/b.png") -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, last_modified=T0)


def dst(size: int = 10, etag: str = "d1", origin: SourceVersion | None = None) -> ObjectInfo:
    return ObjectInfo(key="a/b.png", size=size, etag=etag, last_modified=T1, copied_from=origin)


def row(state: State = State.COPIED, *, size: int = 10, dest_etag: str | None = "d1", resolution: str | None = None,
        source_etag: str = MD5_A) -> ObjectRecord:  # fmt: skip
    return ObjectRecord("m", "a/b.png", state, size, "sha", "crc", source_etag, T0.isoformat(), "a/b.png", dest_etag,
                        size, None, resolution, 1, None)  # fmt: skip


# what a copy does with each object ------------------------------------------------------------


def test_nothing_anywhere_is_new_and_written_create_only() -> None:
    assert classify(src(), None, dest=None, dest_checked=True) is Decision.NEW
    assert write_for(Decision.NEW, None, None) == Write(if_match=None)
    assert not Write().overwrite


def test_the_object_bucketshift_wrote_is_left_or_replaced_only_over_its_own_version() -> None:
    assert classify(src(), row(), dest=dst(), dest_checked=True) is Decision.SAME
    changed = classify(src(size=12, etag=MD5_B), row(), dest=dst(), dest_checked=True)
    assert changed is Decision.CHANGED
    assert write_for(changed, row(), dst()) == Write(if_match="d1")


@pytest.mark.parametrize(
    ("found", "why"),
    [(dst(size=99, etag="app"), "another size"), (dst(size=10, etag="app"), "the same size, another ETag")],
)
def test_an_object_the_app_rewrote_is_never_overwritten(found: ObjectInfo, why: str) -> None:
    """The bug this issue starts from: a re-upload at the destination was classed `missing` and overwritten."""
    first = classify(src(), row(), dest=found, dest_checked=True)
    assert first is Decision.LOOK, why
    assert judge(src(), row(), found) is Decision.CONFLICT
    assert judge(src(), row(), found, "overwrite") is Decision.OVERWRITE
    assert write_for(Decision.OVERWRITE, row(), found) == Write(if_match="app"), "only over the version seen"
    assert judge(src(), row(), found, "keep") is Decision.KEEP


def test_a_source_change_over_an_app_change_is_a_conflict_even_without_a_destination_listing() -> None:
    """sync does not list the destination: its write carries If-Match, and a failed one is judged."""
    assert classify(src(size=12, etag=MD5_B), row(), dest_checked=False) is Decision.CHANGED
    assert write_for(Decision.CHANGED, row(), None, dest_checked=False) == Write(if_match="d1")
    assert judge(src(size=12, etag=MD5_B), row(), dst(size=10, etag="app")) is Decision.CONFLICT


def test_deleted_at_the_destination_is_copied_again_not_a_conflict() -> None:
    assert classify(src(), row(), dest=None, dest_checked=True) is Decision.MISSING
    assert write_for(Decision.MISSING, row(), None) == Write(if_match=None)
    taken_back = row(State.PENDING)
    assert write_for(Decision.RETRY, taken_back, None) == Write(if_match=None), "listed and absent: create-only"
    assert write_for(Decision.RETRY, taken_back, None, dest_checked=False) == Write(if_match="d1")
    assert judge(src(), row(), None) is Decision.MISSING


def test_the_source_bytes_already_at_the_destination_are_adopted() -> None:
    same = dst(etag=MD5_A)
    assert classify(src(), None, dest=same, dest_checked=True) is Decision.ADOPT
    assert classify(src(), None, dest=dst(etag=MD5_B), dest_checked=True) is Decision.LOOK
    assert classify(src(), None, dest=dst(size=11, etag=MD5_A), dest_checked=True) is Decision.LOOK


def test_an_object_carrying_this_source_version_is_adopted_and_another_version_is_not() -> None:
    assert judge(src(), None, dst(origin=SourceVersion(MD5_A, 10))) is Decision.ADOPT
    assert judge(src(), None, dst(origin=SourceVersion(MD5_B, 10))) is Decision.CONFLICT
    assert judge(src(), None, dst(origin=SourceVersion(MD5_A, 11))) is Decision.CONFLICT
    assert judge(src(), None, dst(origin=SourceVersion(None, 10))) is Decision.CONFLICT
    interrupted = row(State.COPYING, dest_etag=None)
    assert classify(src(), interrupted, dest=dst(), dest_checked=True) is Decision.LOOK
    assert judge(src(), interrupted, dst(origin=SourceVersion(MD5_A, 10))) is Decision.ADOPT


def test_a_kept_destination_version_is_done_until_either_side_changes() -> None:
    kept = row(resolution=KEPT, dest_etag="app")
    assert classify(src(), kept, dest=dst(etag="app"), dest_checked=True) is Decision.SAME
    assert classify(src(size=12, etag=MD5_B), kept, dest=dst(etag="app"), dest_checked=True) is Decision.CONFLICT
    assert classify(src(), kept, dest=dst(etag="app2"), dest_checked=True) is Decision.LOOK
    assert classify(src(size=12, etag=MD5_B), kept, dest_checked=False) is Decision.CONFLICT


def test_a_row_verify_took_back_is_repaired_over_bucketshift_s_own_version_only() -> None:
    taken_back = row(State.PENDING)
    assert classify(src(), taken_back, dest=dst(), dest_checked=True) is Decision.RETRY
    assert write_for(Decision.RETRY, taken_back, dst()) == Write(if_match="d1")
    assert classify(src(), taken_back, dest=dst(etag="app"), dest_checked=True) is Decision.LOOK


def test_a_recorded_conflict_stays_one_until_settled() -> None:
    conflict = row(State.CONFLICT, dest_etag="app")
    assert classify(src(), conflict, dest=dst(etag="app"), dest_checked=True) is Decision.LOOK
    assert judge(src(), conflict, dst(etag="app")) is Decision.CONFLICT
    assert classify(src(), conflict, dest_checked=False) is Decision.CONFLICT
    assert classify(src(), conflict, dest_checked=False, on_conflict="keep") is Decision.KEEP


def test_reserved_metadata_never_travels_as_user_metadata() -> None:
    marks = SourceVersion("e", 5, "s").as_metadata()
    rest, origin = split_reserved({**marks, "owner": "u"})
    assert rest == {"owner": "u"}
    assert origin == SourceVersion("e", 5, "s")
    assert origin.matches("e", 5)
    assert not origin.matches("e", 6)
    assert not origin.matches(None, 5)
    assert md5_of_etag("0123456789abcdef0123456789abcdef") is not None
    assert md5_of_etag("0123456789abcdef0123456789abcdef-2") is None


# the manifest's claims -------------------------------------------------------------------------


def test_the_manifest_commits_by_the_clock_without_another_write(tmp_path: Path) -> None:
    """A finished object's row must not wait minutes for the next write to commit it."""
    path = tmp_path / "m.sqlite3"
    manifest = Manifest(path, flush_seconds=0.2)
    try:
        manifest.mark_copied("m", "k", size=1, sha256="s", crc64nvme="c", source_etag="e", source_modified=None,
                             dest_key="k", dest_etag="d", attempts=1)  # fmt: skip
        deadline = time.monotonic() + 5
        seen: list[tuple[str, str]] = []
        while time.monotonic() < deadline and not seen:
            time.sleep(0.05)
            with sqlite3.connect(path) as other:
                seen = other.execute("SELECT key, state FROM objects").fetchall()
        assert seen == [("k", "copied")]
    finally:
        manifest.close()
    slow = Manifest(tmp_path / "slow.sqlite3", flush_seconds=3600)
    try:
        slow.mark_failed("m", "k", "x", 1)
        time.sleep(0.4)
        with sqlite3.connect(tmp_path / "slow.sqlite3") as other:
            assert other.execute("SELECT count(*) FROM objects").fetchone() == (0,), "the twin: no commit yet"
    finally:
        slow.close()


def test_a_version_1_manifest_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE schema_info (version INTEGER NOT NULL); INSERT INTO schema_info VALUES (1);
        CREATE TABLE objects (mapping TEXT NOT NULL, key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'copied', 'verified', 'failed')),
            size INTEGER, sha256 TEXT, source_etag TEXT, source_modified TEXT, dest_key TEXT, dest_etag TEXT,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            copied_at TEXT, verified_at TEXT, PRIMARY KEY (mapping, key)) WITHOUT ROWID;
        CREATE INDEX objects_state ON objects (mapping, state);
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, started_at TEXT NOT NULL,
            finished_at TEXT, summary TEXT);
        INSERT INTO objects VALUES ('m', 'k', 'verified', 7, 'sha', 'e', NULL, 'p/k', 'd', 1, NULL, 't', 't', 't', 't');
        """
    )
    db.commit()
    db.close()
    with Manifest(path) as manifest:
        record = manifest.get("m", "k")
        assert record is not None
        assert (record.state, record.size, record.dest_size, record.dest_key, record.dest_etag) == (
            State.VERIFIED, 7, 7, "p/k", "d",
        )  # fmt: skip
        manifest.mark_conflict("m", "k2", "app", dest_key="k2", dest_etag="x", dest_size=1, dest_modified=None)
        assert manifest.counts("m") == {"verified": 1, "conflict": 1}
    assert sqlite3.connect(path).execute("SELECT version FROM schema_info").fetchone() == (SCHEMA_VERSION,)


def test_verify_takes_a_claim_back_with_its_reason_and_keeps_what_was_written(tmp_path: Path) -> None:
    with Manifest(tmp_path / "m.sqlite3") as manifest:
        for key in ("ok", "gone"):
            manifest.mark_copied("m", key, size=1, sha256="s", crc64nvme="c", source_etag="e", source_modified=None,
                                 dest_key=key, dest_etag="d", attempts=1)  # fmt: skip
        manifest.mark_verified("m", ["ok", "gone"])
        manifest.take_back("m", [("gone", "missing at the destination (verify)")])
        gone = manifest.get("m", "gone")
        assert gone is not None
        assert gone.state is State.PENDING
        assert gone.last_error == "missing at the destination (verify)"
        assert (gone.dest_etag, gone.sha256) == ("d", "s")
        assert [r.key for r in manifest.iter_records("m", [State.VERIFIED])] == ["ok"]


def test_a_kept_row_names_the_source_version_it_was_settled_against(tmp_path: Path) -> None:
    with Manifest(tmp_path / "m.sqlite3") as manifest:
        manifest.mark_kept("m", "k", source_etag="e", source_modified=None, source_size=5, dest_key="k",
                           dest_etag="app", dest_size=9, dest_modified=None)  # fmt: skip
        kept = manifest.get("m", "k")
        assert kept is not None
        assert kept.kept
        assert kept.done
        assert (kept.size, kept.dest_size, kept.dest_etag, kept.sha256) == (5, 9, "app", None)


def test_a_killed_writer_loses_at_most_the_last_half_second(tmp_path: Path) -> None:
    """SIGKILL a process that writes rows: every row written more than FLUSH_SECONDS before is there."""
    path = tmp_path / "m.sqlite3"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bucketshift.engine.manifest import Manifest\n"
        "m = Manifest(Path(sys.argv[1]))\n"
        "for n in range(20):\n"
        "    m.mark_copied('m', f'k{n}', size=1, sha256='s', crc64nvme='c', source_etag='e', source_modified=None,"
        " dest_key='k', dest_etag='d', attempts=1)\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        time.sleep(1.0)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM objects WHERE state = 'copied'").fetchone() == (20,)


# the memory budget -------------------------------------------------------------------------------


async def test_the_budget_never_holds_more_than_its_limit_and_serves_in_order() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []
    held = await budget.reserve(60)

    async def take(name: str, amount: int) -> None:
        release = await budget.reserve(amount)
        order.append(name)
        assert budget.used <= budget.limit
        await asyncio.sleep(0.01)
        release()

    waiting = [asyncio.create_task(take("part", 80)), asyncio.create_task(take("small", 10))]
    await asyncio.sleep(0.05)
    assert order == [], "the part waits for room, and the small one waits behind it"
    held()
    held()  # giving back twice gives back once
    await asyncio.gather(*waiting)
    assert order == ["part", "small"]
    assert budget.used == 0
    assert budget.peak <= 100
    whole = await budget.reserve(10_000)
    assert budget.used == 100, "a reservation above the budget runs alone"
    whole()


async def test_a_cancelled_wait_gives_its_place_back() -> None:
    budget = MemoryBudget(10)
    held = await budget.reserve(10)
    stuck = asyncio.create_task(budget.reserve(5))
    await asyncio.sleep(0.01)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    held()
    again = await asyncio.wait_for(budget.reserve(10), 1)
    assert budget.used == 10
    again()

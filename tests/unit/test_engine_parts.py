"""Retry, pacing, the diff and the manifest: the engine's parts, with time under test control."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bucketshift.engine.manifest import FLUSH_ROWS, Manifest, State
from bucketshift.engine.pacing import TokenBucket, parse_rate
from bucketshift.errors import AccessDenied, ConfigError, InvalidKey, Throttled, TransientError
from bucketshift.retry import RetryPolicy, with_retries
from bucketshift.stores.base import ObjectInfo


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_retries_retryable_errors_with_growing_capped_jittered_waits() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=4.0, sleep=clock.sleep, rng=random.Random(1))
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 5:
            raise TransientError("503")
        return "ok"

    result, attempts = await with_retries(flaky, policy)
    assert (result, attempts, calls) == ("ok", 5, 5)
    assert len(clock.sleeps) == 4
    assert all(0 <= wait <= cap for wait, cap in zip(clock.sleeps, [1, 2, 4, 4], strict=True))


async def test_gives_up_after_max_attempts() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, sleep=clock.sleep)
    calls = 0

    async def always() -> None:
        nonlocal calls
        calls += 1
        raise Throttled("429")

    with pytest.raises(Throttled):
        await with_retries(always, policy)
    assert calls == 3
    assert all(wait >= policy.throttle_floor / 2 for wait in clock.sleeps), "throttling must back off for real"


@pytest.mark.parametrize("error", [AccessDenied("no"), InvalidKey("bad")])
async def test_never_retries_what_cannot_succeed(error: Exception) -> None:
    clock = FakeClock()
    calls = 0

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await with_retries(fails, RetryPolicy(sleep=clock.sleep))
    assert calls == 1
    assert clock.sleeps == []


async def test_token_bucket_holds_the_average_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        await bucket.acquire()
    assert clock.now == pytest.approx(4.9, abs=0.01)


async def test_token_bucket_lets_a_large_chunk_through_in_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000.0, burst=100.0, clock=clock, sleep=clock.sleep)
    await bucket.acquire(5000)
    await bucket.acquire(100)
    assert clock.now == pytest.approx(5.0, abs=0.01)


@pytest.mark.parametrize(("text", "rate"), [("50MB/s", 50e6), ("800KiB/s", 819200), ("1.5G", 1.5e9), ("100", 100)])
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0MB/s", "-1M", "12XB"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|more than zero"):
        parse_rate(text)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(key: str = "a/b.png", size: int = 10, etag: str | None = "e1", modified: datetime | None = T0) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, last_modified=modified)


def copied(manifest: Manifest, obj: ObjectInfo) -> None:
    manifest.mark_copied(
        "m",
        obj.key,
        size=obj.size,
        sha256="s",
        crc64nvme="c",
        source_etag=obj.etag,
        source_modified=obj.last_modified.isoformat() if obj.last_modified else None,
        dest_key=obj.key,
        dest_etag="d",
        attempts=1,
    )


def copying(manifest: Manifest, key: str) -> None:
    manifest.mark_copying("m", key, source_etag="e", source_modified=None, dest_key=key)


def test_manifest_journals_intent_then_done_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with Manifest(path) as manifest:
        copying(manifest, "k")
        assert manifest.get("m", "k").state is State.COPYING
        copied(manifest, info(key="k"))
        manifest.mark_failed("m", "bad", "AccessDenied", 1)
        manifest.mark_verified("m", ["k", "bad"])
    with Manifest(path) as manifest:
        assert manifest.get("m", "k").state is State.VERIFIED
        assert manifest.get("m", "bad").state is State.FAILED
        assert manifest.counts("m") == {"verified": 1, "failed": 1}
    copy_mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert copy_mode == "wal"


def test_manifest_commits_writes_in_groups_in_order_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"

    def committed() -> dict[str, str]:
        with sqlite3.connect(path) as other:
            return dict(other.execute("SELECT key, state FROM objects").fetchall())

    manifest = Manifest(path, flush_seconds=3600.0)
    copying(manifest, "k")
    copied(manifest, info(key="k"))
    assert committed() == {}, "one object's records wait for their group"
    for n in range(FLUSH_ROWS):
        copying(manifest, f"more/{n}")
    assert committed()["k"] == "copied", "a full group is committed, in the order it was written"
    manifest.mark_failed("m", "late", "TransientError", 3)
    assert manifest.get("m", "late").state is State.FAILED, "reads see every write"
    copying(manifest, "last")
    manifest.close()
    assert committed()["last"] == "copying"


def test_manifest_refuses_a_newer_schema_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    Manifest(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_info SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer than this bucketshift"):
        Manifest(path)
    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (id int)")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="not a bucketshift manifest"):
        Manifest(other)


def test_preview_never_creates_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    Manifest.for_preview(path).close()
    assert not path.exists()

"""One behaviour suite every manifest store must pass: the SQLite file and the PostgreSQL schema.

Each test gets a fresh state (a file, or a schema of its own in one ICU en-US database, where `B`
sorts after `a`, so a store that forgot byte order shows it).  A second store opened on the same
state is how a test sees what is committed: no test reads a store's tables behind its back except
to set a schema version.
"""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bucketshift.engine.manifest import FLUSH_ROWS, KEPT, Manifest, ManifestStore, State, StepState
from bucketshift.engine.manifest_postgres import PAGE_ROWS, PostgresManifest
from bucketshift.engine.state import is_dsn, open_manifest
from bucketshift.errors import ConfigError, TransientError, UsageError
from bucketshift_sandbox.servers import free_port

PASSWORD = "pw-never-shown-4711"
_numbers = itertools.count()


@dataclass
class StateCase:
    """One store under test, on a state no other test touches."""

    name: str
    open: Callable[..., ManifestStore]
    preview: Callable[[], ManifestStore]
    exists: Callable[[], bool]
    set_version: Callable[[int], None]
    child_open: str
    """Python source, run in a child process, that opens this state with `flush` as flush_seconds."""


@pytest.fixture(scope="module")
def state_dsn(postgres) -> Iterator[str]:
    """A database of this module's own, its collation ICU en-US; the DSN carries a password (the
    test cluster trusts loopback, so it is never checked, only carried)."""
    name = f"manifest_contract_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(create.format(sql.Identifier(name)))
    parts = conninfo_to_dict(postgres.dsn)
    password = quote(str(parts.get("password") or PASSWORD), safe="")
    yield f"postgresql://{parts.get('user', 'postgres')}:{password}@{parts['host']}:{parts['port']}/{name}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _sqlite_case(path: Path) -> StateCase:
    def set_version(version: int) -> None:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE schema_info SET version = ?", (version,))
        db.close()

    return StateCase(
        "sqlite",
        lambda read_only=False, flush_seconds=0.5: Manifest(path, read_only=read_only, flush_seconds=flush_seconds),
        lambda: Manifest.for_preview(path),
        path.exists,
        set_version,
        f"from bucketshift.engine.manifest import Manifest\nm = Manifest(Path({str(path)!r}), flush_seconds=flush)",
    )


def _postgres_case(dsn: str) -> StateCase:
    schema = f"state_{next(_numbers)}_{uuid.uuid4().hex[:6]}"

    def exists() -> bool:
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (schema,)).fetchone() == (True,)

    def set_version(version: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("UPDATE {}.schema_info SET version = %s").format(sql.Identifier(schema)), (version,))

    return StateCase(
        "postgres",
        lambda read_only=False, flush_seconds=0.5: PostgresManifest(
            dsn, schema=schema, read_only=read_only, flush_seconds=flush_seconds
        ),
        lambda: PostgresManifest.for_preview(dsn, schema=schema),
        exists,
        set_version,
        "from bucketshift.engine.manifest_postgres import PostgresManifest\n"
        f"m = PostgresManifest({dsn!r}, schema={schema!r}, flush_seconds=flush)",
    )


@pytest.fixture(params=["sqlite", "postgres"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> StateCase:
    if request.param == "sqlite":
        return _sqlite_case(tmp_path / "state.sqlite3")
    return _postgres_case(request.getfixturevalue("state_dsn"))


def copied(store: ManifestStore, key: str, *, mapping: str = "m", attempts: int = 1, sha: str = "s") -> None:
    modified = "2025-01-01T00:00:00Z"
    store.mark_copied(mapping, key, size=len(key), sha256=sha, crc64nvme="c", source_etag="e",
                      source_modified=modified, dest_key=f"p/{key}", dest_etag="d", attempts=attempts)  # fmt: skip


# reading what was written -----------------------------------------------------------------------


def test_rows_read_back_as_written_in_byte_order_of_their_keys(case: StateCase) -> None:
    keys = ["b", "B", "é", "a/1", "a-2", "z"]
    with case.open() as store:
        for key in keys:
            store.mark_copying("m", key, source_etag="e0", source_modified=None, dest_key=f"p/{key}")
        for key in keys[:4]:
            copied(store, key)
        store.mark_failed("m", "z", "TransientError: slow down", 3)
        store.mark_failed("m", "z", "TransientError: again", 2)
        copied(store, "other", mapping="n")
        assert [r.key for r in store.iter_records("m")] == sorted(keys, key=lambda k: k.encode())
        assert [r.key for r in store.iter_records("m", [State.COPYING, State.FAILED])] == ["a-2", "z"]
        assert list(store.iter_records("m", [State.VERIFIED])) == []
        assert store.counts("m") == {"copied": 4, "copying": 1, "failed": 1}
        assert store.counts("none") == {}
        records = store.records("m")
        assert set(records) == set(keys)
        b = records["b"]
        assert (b.state, b.size, b.sha256, b.crc64nvme, b.source_etag, b.dest_key, b.dest_etag, b.dest_size) == (
            State.COPIED, 1, "s", "c", "e", "p/b", "d", 1,
        )  # fmt: skip
        assert (b.source_modified, b.attempts, b.done, b.kept) == ("2025-01-01T00:00:00Z", 1, True, False)
        copying = records["a-2"]
        assert (copying.state, copying.source_etag, copying.size, copying.done) == (State.COPYING, "e0", None, False)
        failed = store.get("m", "z")
        assert failed is not None
        assert (failed.state, failed.attempts, failed.last_error) == (State.FAILED, 5, "TransientError: again")
        assert store.get("m", "missing") is None
        assert store.get("n", "b") is None, "a key belongs to its mapping"
        times = store.copy_times("m")
        assert sorted(times) == ["B", "a/1", "b", "é"], "only copied rows have a copy time"
        assert all(datetime.fromisoformat(when).tzinfo is not None for when in times.values())


def test_iter_records_walks_more_than_one_page_in_order(case: StateCase) -> None:
    count = PAGE_ROWS + 7
    with case.open() as store:
        for n in range(count):
            store.mark_copying("m", f"k/{n:06d}", source_etag=None, source_modified=None, dest_key="d")
        walked = [r.key for r in store.iter_records("m")]
    assert walked == [f"k/{n:06d}" for n in range(count)]


def test_a_copy_again_adds_attempts_and_clears_the_error_and_the_verification(case: StateCase) -> None:
    with case.open() as store:
        store.mark_failed("m", "k", "boom", 2)
        copied(store, "k", attempts=1)
        store.mark_verified("m", ["k"])
        copied(store, "k", attempts=1, sha="s2")
        record = store.get("m", "k")
        assert record is not None
        assert (record.state, record.attempts, record.last_error, record.sha256) == (State.COPIED, 4, None, "s2")


# conflicts, kept versions, verify's claims --------------------------------------------------------


def test_a_conflict_keeps_what_was_copied_and_a_kept_row_names_the_source_version(case: StateCase) -> None:
    with case.open() as store:
        copied(store, "k")
        store.mark_conflict("m", "k", "x" * 3000, dest_key="p/k", dest_etag="app", dest_size=9, dest_modified="t1")
        conflict = store.get("m", "k")
        assert conflict is not None
        assert (conflict.state, conflict.sha256, conflict.size, conflict.dest_etag, conflict.dest_size) == (
            State.CONFLICT, "s", 1, "app", 9,
        )  # fmt: skip
        assert conflict.last_error == "x" * 2000, "a reason is cut at 2000 characters"
        assert not conflict.done
        store.mark_kept("m", "k", source_etag="e2", source_modified=None, source_size=5, dest_key="p/k",
                        dest_etag="app", dest_size=9, dest_modified="t1")  # fmt: skip
        kept = store.get("m", "k")
        assert kept is not None
        assert (kept.state, kept.resolution, kept.kept, kept.done) == (State.COPIED, KEPT, True, True)
        assert (kept.size, kept.source_etag, kept.sha256, kept.dest_size, kept.last_error) == (5, "e2", None, 9, None)


def test_verify_marks_only_copied_rows_and_takes_claims_back_with_the_reason(case: StateCase) -> None:
    with case.open() as store:
        for key in ("ok", "gone"):
            copied(store, key)
        store.mark_failed("m", "broken", "x", 1)
        store.mark_verified("m", ["ok", "gone", "broken", "absent"])
        assert store.counts("m") == {"verified": 2, "failed": 1}, "a failed row is not verified, nor one never seen"
        store.take_back("m", [("gone", "missing at the destination (verify)"), ("broken", "no")])
        gone = store.get("m", "gone")
        assert gone is not None
        assert (gone.state, gone.last_error, gone.dest_etag, gone.sha256) == (
            State.PENDING, "missing at the destination (verify)", "d", "s",
        )  # fmt: skip
        assert [r.key for r in store.iter_records("m", [State.VERIFIED])] == ["ok"]
        assert store.counts("m")["failed"] == 1, "take_back leaves a row that was never copied alone"


# steps and runs --------------------------------------------------------------------------------------


def test_steps_are_kept_per_phase_and_each_is_committed_before_the_call_returns(case: StateCase) -> None:
    store = case.open(flush_seconds=3600)
    try:
        copied(store, "waiting")
        store.start_step("migrate", "provision")
        with case.open(read_only=True) as other:
            assert set(other.steps("migrate")) == {"provision"}
            assert other.get("m", "waiting") is not None, "the writes before a step are committed with it"
        store.finish_step("migrate", "provision", '{"changes": 3}')
        store.start_step("migrate", "copy")
        store.fail_step("migrate", "copy", "boom")
        store.start_step("rollback", "copy-back")
        steps = store.steps("migrate")
        assert {n: s.state for n, s in steps.items()} == {"provision": StepState.DONE, "copy": StepState.FAILED}
        assert (steps["provision"].detail, steps["copy"].detail) == ('{"changes": 3}', "boom")
        assert steps["provision"].finished_at is not None
        store.start_step("migrate", "copy")
        again = store.steps("migrate")["copy"]
        assert (again.state, again.detail, again.finished_at) == (StepState.STARTED, None, None)
        store.clear_steps("migrate")
        assert store.steps("migrate") == {}
        assert set(store.steps("rollback")) == {"copy-back"}
    finally:
        store.close()


def test_runs_get_rising_ids_and_their_summaries_are_committed(case: StateCase) -> None:
    with case.open(flush_seconds=3600) as store:
        first = store.start_run("copy")
        second = store.start_run("sync")
        assert second > first > 0
        store.finish_run(second, '{"copied": 2}')
        store.finish_run(first, '{"copied": 1}')
    with case.open() as store:
        assert store.start_run("verify") > second


# batching and the kill guarantee ------------------------------------------------------------------


def test_writes_commit_in_groups_by_the_clock_and_on_close(case: StateCase) -> None:
    slow = case.open(flush_seconds=3600)
    try:
        copied(slow, "first")
        with case.open(read_only=True) as other:
            assert other.get("m", "first") is None, "one row waits for its group"
            for n in range(FLUSH_ROWS - 1):
                slow.mark_copying("m", f"more/{n}", source_etag=None, source_modified=None, dest_key="d")
            assert other.get("m", "first") is not None, "a full group is committed"
            slow.mark_failed("m", "late", "x", 1)
            assert other.get("m", "late") is None
            assert slow.get("m", "late") is not None, "the writer's own reads see every write: they commit first"
            assert other.get("m", "late") is not None
            slow.mark_failed("m", "last", "x", 1)
            slow.close()
            assert other.get("m", "last") is not None, "close commits what waits"
    finally:
        slow.close()
    quick = case.open(flush_seconds=0.2)
    try:
        copied(quick, "by-clock")
        seen = None
        deadline = time.monotonic() + 5
        with case.open(read_only=True) as other:
            while seen is None and time.monotonic() < deadline:
                time.sleep(0.05)
                seen = other.get("m", "by-clock")
        assert seen is not None, "committed by the clock, with no other write after it"
    finally:
        quick.close()


def test_a_killed_writer_keeps_every_row_written_before_the_last_flush_window(case: StateCase) -> None:
    """Two children write 20 rows each and are killed (SIGKILL) a second later: the one flushing
    every half second kept all 20; its twin, flushing hourly, kept none (so the check can fail)."""
    case.open().close()
    code = (
        "import sys, time\nfrom pathlib import Path\nflush = float(sys.argv[1])\nmapping = sys.argv[2]\n"
        + case.child_open
        + "\nfor n in range(20):\n"
        "    m.mark_copied(mapping, f'k{n}', size=1, sha256='s', crc64nvme='c', source_etag='e',"
        " source_modified=None, dest_key='k', dest_etag='d', attempts=1)\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    children = {
        mapping: subprocess.Popen([sys.executable, "-c", code, flush, mapping], stdout=subprocess.PIPE, text=True)
        for mapping, flush in (("quick", "0.5"), ("hourly", "3600"))
    }
    try:
        for child in children.values():
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "written"
        time.sleep(1.0)
        for child in children.values():
            child.kill()
            child.wait(10)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait(10)
    with case.open(read_only=True) as store:
        assert store.counts("quick") == {"copied": 20}
        assert store.counts("hourly") == {}


# persistence, reading only, previews, versions ------------------------------------------------------


def test_a_reopened_state_holds_everything_written_and_the_schema_is_created_once(case: StateCase) -> None:
    assert not case.exists()
    with case.open() as store:
        copied(store, "k")
        store.start_step("migrate", "copy")
    assert case.exists()
    with case.open() as store:
        assert store.get("m", "k") is not None
        assert set(store.steps("migrate")) == {"copy"}
        copied(store, "k2")
    with case.open(read_only=True) as store:
        assert sorted(store.records("m")) == ["k", "k2"]


def test_a_read_only_state_refuses_every_write_and_an_absent_one_is_not_created(case: StateCase) -> None:
    with pytest.raises(ConfigError, match=r"no manifest|no bucketshift state"):
        case.open(read_only=True)
    assert not case.exists(), "reading only never creates the state"
    with case.open() as store:
        copied(store, "k")
    writes: list[Callable[[ManifestStore], object]] = [
        lambda s: copied(s, "new"),
        lambda s: s.mark_copying("m", "new", source_etag=None, source_modified=None, dest_key="d"),
        lambda s: s.mark_failed("m", "new", "x", 1),
        lambda s: s.mark_conflict("m", "k", "x", dest_key="d", dest_etag=None, dest_size=None, dest_modified=None),
        lambda s: s.mark_kept(
            "m",
            "k",
            source_etag=None,
            source_modified=None,
            source_size=1,
            dest_key="d",
            dest_etag=None,
            dest_size=1,
            dest_modified=None,
        ),
        lambda s: s.mark_verified("m", ["k"]),
        lambda s: s.take_back("m", [("k", "x")]),
        lambda s: s.start_step("migrate", "copy"),
        lambda s: s.finish_step("migrate", "copy"),
        lambda s: s.fail_step("migrate", "copy", "x"),
        lambda s: s.clear_steps("migrate"),
        lambda s: s.start_run("copy"),
        lambda s: s.finish_run(1, "{}"),
    ]
    with case.open(read_only=True) as store:
        for write in writes:
            with pytest.raises(UsageError, match="for reading only"):
                write(store)
        store.mark_verified("m", [])  # nothing to write is no write
        assert store.counts("m") == {"copied": 1}
        assert store.steps("migrate") == {}
    with case.open() as store:
        for write in writes:
            write(store)  # the twin: a writable store takes every one of them
        assert store.counts("m") == {"failed": 1, "pending": 1}
        assert store.steps("migrate") == {}


def test_a_preview_reads_an_existing_state_and_never_creates_one(case: StateCase) -> None:
    with case.preview() as empty:
        assert empty.counts("m") == {}
        assert empty.steps("migrate") == {}
    assert not case.exists(), "a preview of nothing leaves nothing behind"
    with case.open() as store:
        copied(store, "k")
    with case.preview() as store:
        assert store.counts("m") == {"copied": 1}
        with pytest.raises(UsageError):
            copied(store, "k2")


def test_a_newer_schema_version_is_refused_and_the_current_one_opens(case: StateCase) -> None:
    case.open().close()
    case.set_version(99)
    for read_only in (False, True):
        with pytest.raises(ConfigError, match="newer than this bucketshift") as refused:
            case.open(read_only=read_only)
        assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError, match="newer than this bucketshift"):
        case.preview()
    case.set_version(1 if case.name == "postgres" else 3)
    with case.open(read_only=True) as store:
        assert store.counts("m") == {}
        assert PASSWORD not in store.where


# choosing the store ------------------------------------------------------------------------------


def test_open_manifest_chooses_the_store_by_the_dsn_scheme_alone(tmp_path: Path, state_dsn: str) -> None:
    default = tmp_path / "plan.manifest.sqlite3"
    assert is_dsn(state_dsn)
    assert is_dsn("postgres://u@h/db")
    assert is_dsn("POSTGRESQL://u@h/db")
    assert not is_dsn("host=127.0.0.1 dbname=x"), "libpq's key=value form is a file name here"
    assert not is_dsn(Path("postgresql:/x"))
    assert not is_dsn(None)
    with open_manifest(state_dsn, default) as store:
        assert isinstance(store, PostgresManifest)
        assert store.schema == "bucketshift_state"
        assert PASSWORD not in store.where
        copied(store, "k")
    with open_manifest(state_dsn, default, read_only=True) as store:
        assert store.get("m", "k") is not None
    with open_manifest(None, default) as store:
        assert isinstance(store, Manifest)
        assert store.path == default
    with open_manifest(str(tmp_path / "given.sqlite3"), default, preview=True) as store:
        assert isinstance(store, Manifest)
    assert not (tmp_path / "given.sqlite3").exists()
    with open_manifest("host=127.0.0.1 dbname=x", default, preview=True) as store:
        assert isinstance(store, Manifest), "a name that only looks like a DSN is a file, and a preview creates none"


def test_an_unreachable_or_malformed_dsn_is_one_sentence_without_the_password(free_port_dsn: str) -> None:
    with pytest.raises(TransientError, match="refused the connection; check host and port in --state") as refused:
        PostgresManifest(free_port_dsn)
    assert PASSWORD not in str(refused.value)
    for malformed in (f"postgresql://u:{PASSWORD}@[::1/db", f"postgresql://u:{PASSWORD}@127.0.0.1:5432/db?bogus=1"):
        with pytest.raises(ConfigError, match="is not a PostgreSQL connection string") as refused:
            PostgresManifest(malformed)
        assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError, match="the port in --state is not a number"):
        PostgresManifest(f"postgresql://u:{PASSWORD}@127.0.0.1:notaport/db")


@pytest.fixture
def free_port_dsn() -> str:
    return f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db"


def test_a_version_1_state_gains_the_shared_run_tables_and_keeps_its_rows(state_dsn: str) -> None:
    """Version 2 added the tables workers share a run through; a state written by version 1 (without
    them) is upgraded by the first writer, its rows kept, and a reader alone leaves it as it is."""
    schema = f"v1_{uuid.uuid4().hex[:8]}"
    with PostgresManifest(state_dsn, schema=schema) as store:
        copied(store, "kept")
    added = ("shared_runs", "workers", "units", "queue", "pacing")
    with psycopg.connect(state_dsn, autocommit=True) as conn:
        for table in added:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))
        conn.execute(sql.SQL("UPDATE {}.schema_info SET version = 1").format(sql.Identifier(schema)))

    def tables_and_version() -> tuple[set[str], int]:
        with psycopg.connect(state_dsn) as conn:
            names = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            ).fetchall()
            version = conn.execute(sql.SQL("SELECT version FROM {}.schema_info").format(sql.Identifier(schema)))
            return {str(n) for (n,) in names}, int(version.fetchone()[0])  # type: ignore[index]

    with PostgresManifest(state_dsn, schema=schema, read_only=True) as reader:
        assert reader.get("m", "kept") is not None
    tables, version = tables_and_version()
    assert (version, set(added) & tables) == (1, set()), "a reader changes nothing"
    with PostgresManifest(state_dsn, schema=schema) as writer:
        assert writer.get("m", "kept") is not None
    tables, version = tables_and_version()
    assert version == 2
    assert set(added) <= tables

"""The journal's run kinds: forward rewrites (`apply`), a rollback's rewrite back (`rollback`), reverts.

A rollback's rewrite is revertible like any rewrite, but never taken for a forward one: not by
`unreverted_runs` (what `rewrite-urls --revert` reports as still applied, and what status counts as
rewritten), nor by `find_run` without a run number.  A version 2 journal, where a rollback's rewrite
was an `apply` run marked in its summary, is upgraded in place with its rows kept.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.reverse import finish_back_run, forward_runs, start_back_run
from bucketshift.database.revert import revert_run
from bucketshift.database.rewrite import apply_changes
from bucketshift.errors import ConfigError

_numbers = itertools.count(1)
SUPABASE = "https://p.supabase.co/storage/v1/object/public/images/a.png"
S3 = "https://rb-images.s3.amazonaws.com/a.png"
NEW_S3 = "https://rb-images.s3.amazonaws.com/new.png"
NEW_SUPABASE = "https://p.supabase.co/storage/v1/object/public/images/new.png"


@pytest.fixture
def database(postgres: Any) -> Iterator[str]:
    name = f"kinds_{next(_numbers)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE frames (id int PRIMARY KEY, url text)")
        conn.execute("INSERT INTO frames VALUES (1, %s), (2, %s)", (SUPABASE, NEW_S3))
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def urls(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT url FROM frames ORDER BY id").fetchall()
    conn.rollback()
    return [str(row[0]) for row in rows]


def test_a_rollback_run_is_revertible_and_never_taken_for_a_forward_rewrite(database: str) -> None:
    with psycopg.connect(database) as conn, psycopg.connect(database) as writer:
        journal.ensure_schema(conn)
        (column,) = resolve(conn, ["frames.url"])
        conn.rollback()
        forward = journal.start_run(conn, "apply")
        assert apply_changes(writer, column, forward, [(("1",), SUPABASE, S3)]) == 1
        journal.finish_run(conn, forward, {})
        assert journal.unreverted_runs(conn) == [forward]
        # The rollback: the forward run reverted, then the app's own S3 URL rewritten back.
        undo = journal.start_run(conn, "revert", reverts=forward)
        revert_run(conn, forward, undo, batch_size=10, writers=[writer])
        journal.finish_run(conn, undo, {})
        back = start_back_run(conn)
        assert apply_changes(writer, column, back, [(("2",), NEW_S3, NEW_SUPABASE)]) == 1
        finish_back_run(conn, back, {"frames.url": 1})
        assert urls(conn) == [SUPABASE, NEW_SUPABASE]

        assert journal.unreverted_runs(conn) == [], "nothing left that rewrote values to S3"
        assert forward_runs(conn) == []
        with pytest.raises(ConfigError, match="no rewrite run to revert"):
            journal.find_run(conn, None)
        # The rollback's rewrite is undone by its number, like any rewrite.
        found = journal.find_run(conn, back)
        assert (found.kind, found.finished) == ("rollback", True)
        assert not journal.already_reverted(conn, back)
        again = journal.start_run(conn, "revert", reverts=back)
        report = revert_run(conn, back, again, batch_size=10, writers=[writer])
        journal.finish_run(conn, again, {})
        assert (report.restored, report.conflicts) == (1, 0)
        assert urls(conn) == [SUPABASE, NEW_S3]
        assert journal.already_reverted(conn, back)
        with pytest.raises(ConfigError, match="is not a rewrite run"):
            journal.find_run(conn, undo)


def test_a_forward_run_after_a_rollback_is_still_found_and_listed(database: str) -> None:
    """The negative twin: what a rollback run is kept out of still sees the forward runs."""
    with psycopg.connect(database) as conn, psycopg.connect(database) as writer:
        journal.ensure_schema(conn)
        (column,) = resolve(conn, ["frames.url"])
        conn.rollback()
        back = start_back_run(conn)
        apply_changes(writer, column, back, [(("2",), NEW_S3, NEW_SUPABASE)])
        finish_back_run(conn, back, {})
        forward = journal.start_run(conn, "apply")
        apply_changes(writer, column, forward, [(("1",), SUPABASE, S3)])
        journal.finish_run(conn, forward, {})
        assert journal.unreverted_runs(conn) == [forward]
        assert journal.find_run(conn, None).id == forward
        assert forward_runs(conn) == [forward]


_JOURNAL_VERSION_2 = """
CREATE SCHEMA bucketshift;
CREATE TABLE bucketshift.schema_info (version integer NOT NULL);
INSERT INTO bucketshift.schema_info VALUES (2);
CREATE TABLE bucketshift.runs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('apply', 'revert')),
    reverts bigint REFERENCES bucketshift.runs (id),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary jsonb
);
CREATE TABLE bucketshift.journal (
    id bigserial, run_id bigint NOT NULL, table_schema text NOT NULL, table_name text NOT NULL,
    column_name text NOT NULL, row_key jsonb NOT NULL, old_value text, new_value text,
    changed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, id)
);
INSERT INTO bucketshift.runs (kind, finished_at, summary) VALUES ('apply', now(), '{"frames.url": 1}'),
    ('revert', now(), '{"reverted": 1, "rollback": true}'), ('apply', now(), '{"rollback": true}'),
    ('apply', now(), '{}');
UPDATE bucketshift.runs SET reverts = 1 WHERE id = 2;
INSERT INTO bucketshift.journal (run_id, table_schema, table_name, column_name, row_key, old_value, new_value)
    VALUES (1, 'public', 'frames', 'url', '{"id": 1}', 'supabase', 's3'),
    (2, 'public', 'frames', 'url', '{"id": 1}', 's3', 'supabase'),
    (3, 'public', 'frames', 'url', '{"id": 2}', 's3 new', 'supabase new'),
    (4, 'public', 'frames', 'url', '{"id": 3}', 'supabase 3', 's3 3');
"""


def test_a_version_2_journal_is_upgraded_in_place_and_its_rollback_runs_get_their_kind(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute(_JOURNAL_VERSION_2)
        conn.commit()
        rows = conn.execute("SELECT * FROM bucketshift.journal ORDER BY run_id, id").fetchall()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO bucketshift.runs (kind) VALUES ('rollback')")
        conn.rollback()
        journal.ensure_schema(conn)
        journal.ensure_schema(conn)
        version = conn.execute("SELECT version FROM bucketshift.schema_info").fetchall()
        kinds = conn.execute("SELECT id, kind, summary FROM bucketshift.runs ORDER BY id").fetchall()
        kept = conn.execute("SELECT * FROM bucketshift.journal ORDER BY run_id, id").fetchall()
        checks = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'bucketshift.runs'::regclass AND contype = 'c'"
        ).fetchall()
        conn.rollback()
        assert version == [(journal.JOURNAL_VERSION,)] == [(3,)]
        assert [(i, k) for i, k, _ in kinds] == [(1, "apply"), (2, "revert"), (3, "rollback"), (4, "apply")]
        assert kinds[2][2] == {"rollback": True}, "the summary is kept as it was"
        assert kept == rows
        assert checks == [("runs_kind_check",)]
        assert journal.unreverted_runs(conn) == [4]
        assert journal.find_run(conn, 3).kind == "rollback"
        conn.execute("INSERT INTO bucketshift.runs (kind) VALUES ('rollback')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO bucketshift.runs (kind) VALUES ('sideways')")
        conn.rollback()


def test_a_version_2_journal_read_without_upgrading_still_skips_its_marked_rollback_run(database: str) -> None:
    """Status and dry runs read a journal without upgrading it."""
    with psycopg.connect(database) as conn:
        conn.execute(_JOURNAL_VERSION_2)
        conn.commit()
        assert journal.unreverted_runs(conn) == [4]
        assert journal.find_run(conn, None).id == 4

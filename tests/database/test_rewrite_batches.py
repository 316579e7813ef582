"""One batch's write: a value edited between the read and the write is left alone and not journaled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.revert import revert_run
from bucketshift.database.rewrite import _joined, apply_changes, read_batches, rewrite_column
from bucketshift.database.rewriter import Rewriter, Tally

ORIGIN = "https://abcd.supabase.co"
_numbers = count()


def url(i: int) -> str:
    return f"{ORIGIN}/storage/v1/object/public/images/p/f{i}.png"


@pytest.fixture
def database(postgres: Any) -> Iterator[str]:
    name = f"batch_{next(_numbers)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE "T" (id uuid PRIMARY KEY, u text, j jsonb, a text[])')
        for i in range(20):
            conn.execute(
                'INSERT INTO "T" VALUES (gen_random_uuid(), %s, %s::jsonb, %s)',
                (url(i), f'{{"poster": "{url(i)}", "fps": 1.50, "tiny": 0.000001}}', [url(i), None, "x"]),
            )
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("column_name", ["u", "j", "a"])
def test_a_value_edited_between_read_and_write_is_left_alone(database: str, column_name: str) -> None:
    mapping = BucketMapping(source="images", destination="aiuteur-images", access="public-read")
    verified = {"images": dict.fromkeys(f"p/f{i}.png" for i in range(20))}
    rewriter = Rewriter([ORIGIN], [mapping], S3Endpoint(type="s3", region="us-east-1"), verified)
    with psycopg.connect(database) as conn, psycopg.connect(database) as other:
        (column,) = resolve(conn, [f'"T"."{column_name}"'])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        (batch,) = read_batches(conn, column, rewriter, [f"{ORIGIN}/storage/v1/"], 100, Tally())
        conn.rollback()
        assert len(batch.changes) == 20
        edited, _, _ = batch.changes[7]
        target = sql.Identifier(column_name)
        other.execute(sql.SQL('UPDATE "T" SET {} = NULL WHERE id = %s').format(target), edited)
        other.commit()

        assert apply_changes(conn, column, run_id, batch.changes) == 19
        rows = conn.execute("SELECT row_key->>'id', new_value FROM bucketshift.journal WHERE run_id = %s", (run_id,))
        journaled = dict(rows.fetchall())
        current = dict(conn.execute(sql.SQL('SELECT id::text, {}::text FROM "T"').format(target)).fetchall())
    assert str(edited[0]) not in journaled
    assert current[str(edited[0])] is None
    assert len(journaled) == 19
    for key, new_value in journaled.items():
        assert new_value == current[key], "the journal holds the text the database stored"
        assert "aiuteur-images.s3.us-east-1.amazonaws.com" in new_value


def test_batches_that_cannot_travel_joined_are_staged_and_written_alike(database: str) -> None:
    """A text batch goes as separator-joined strings unless a value holds the separator or a
    one-value column is empty; then it is staged by COPY, with the same result."""
    mapping = BucketMapping(source="images", destination="aiuteur-images", access="public-read")
    verified = {"images": dict.fromkeys(f"p/f{i}.png" for i in range(20))}
    rewriter = Rewriter([ORIGIN], [mapping], S3Endpoint(type="s3", region="us-east-1"), verified)
    values = {"": url(0), "a": url(1), "b": f"see\x1f{url(2)} and {url(3)}", "c": url(4), "d": url(5)}
    with psycopg.connect(database) as conn:
        conn.execute('CREATE TABLE "S" (k text PRIMARY KEY, u text)')
        conn.cursor().executemany('INSERT INTO "S" VALUES (%s, %s)', list(values.items()))
        conn.commit()
        (column,) = resolve(conn, ['"S".u'])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        (batch,) = read_batches(conn, column, rewriter, [f"{ORIGIN}/storage/v1/"], 100, Tally())
        conn.rollback()
        by_key = {key[0]: (key, old, new) for key, old, new in batch.changes}
        empty_key, with_separator = [by_key[""]], [by_key["b"]]
        plain = [by_key[k] for k in ("a", "c", "d")]
        assert _joined(column, empty_key) is None
        assert _joined(column, with_separator) is None
        assert _joined(column, [*empty_key, *plain]) is not None, "an empty value among others splits back"
        assert _joined(column, plain) == [
            "a\x1fc\x1fd",
            "\x1f".join(values[k] for k in "acd"),
            "\x1f".join(new for _, _, new in plain),
        ]
        written = sum(apply_changes(conn, column, run_id, part) for part in (empty_key, with_separator, plain))
        current = dict(conn.execute('SELECT k, u FROM "S"').fetchall())
        journaled = conn.execute(
            "SELECT row_key->>'k', old_value, new_value FROM bucketshift.journal WHERE run_id = %s ORDER BY id",
            (run_id,),
        ).fetchall()
    assert written == 5
    assert sorted(journaled) == sorted((k, values[k], current[k]) for k in values)
    assert current == {key[0]: new for key, _, new in batch.changes}
    assert current["b"].startswith("see\x1fhttps://aiuteur-images.s3.us-east-1.amazonaws.com/p/f2.png and ")


def test_a_revert_by_a_composite_key_of_other_types_is_exact(database: str) -> None:
    """Keys that cannot travel joined (a timestamptz) and a value holding the separator go by COPY,
    through two writers, both ways; a value edited since is reported with its typed key."""
    mapping = BucketMapping(source="images", destination="aiuteur-images", access="public-read")
    verified = {"images": dict.fromkeys(f"p/f{i}.png" for i in range(20))}
    rewriter = Rewriter([ORIGIN], [mapping], S3Endpoint(type="s3", region="us-east-1"), verified)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(start + timedelta(seconds=i), f"user {i}", url(i) if i != 4 else f"note\x1f{url(4)}") for i in range(20)]
    table_text = """SELECT string_agg(c::text, '|' ORDER BY c::text) FROM "C" c"""
    with contextlib.ExitStack() as stack:
        conn, *writers = (stack.enter_context(psycopg.connect(database)) for _ in range(3))
        conn.execute('CREATE TABLE "C" (at timestamptz, who text, u text, PRIMARY KEY (at, who))')
        conn.cursor().executemany('INSERT INTO "C" VALUES (%s, %s, %s)', rows)
        conn.commit()
        before = conn.execute(table_text).fetchone()
        (column,) = resolve(conn, ['"C".u'])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        needles = [f"{ORIGIN}/storage/v1/"]
        _, written = rewrite_column(conn, column, rewriter, needles, run_id=run_id, batch_size=7, writers=writers)
        assert written == 20
        conn.execute("UPDATE \"C\" SET u = 'edited' WHERE who = 'user 3'")
        conn.commit()
        revert_id = journal.start_run(conn, "revert", reverts=run_id)
        report = revert_run(conn, run_id, revert_id, batch_size=7, writers=writers)
        assert (report.restored, report.already_restored, report.conflicts) == (19, 0, 1)
        (conflict,) = report.conflict_samples
        assert conflict.row_key["who"] == "user 3"
        assert datetime.fromisoformat(conflict.row_key["at"]) == start + timedelta(seconds=3)
        conn.execute('UPDATE "C" SET u = %s WHERE who = %s', (rows[3][2], "user 3"))
        conn.commit()
        assert conn.execute(table_text).fetchone() == before


_JOURNAL_VERSION_1 = """
CREATE SCHEMA bucketshift;
CREATE TABLE bucketshift.schema_info (version integer NOT NULL);
INSERT INTO bucketshift.schema_info VALUES (1);
CREATE TABLE bucketshift.runs (id bigserial PRIMARY KEY, kind text NOT NULL, reverts bigint,
    started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, summary jsonb);
CREATE TABLE bucketshift.journal (id bigserial PRIMARY KEY, run_id bigint NOT NULL, table_schema text NOT NULL,
    table_name text NOT NULL, column_name text NOT NULL, row_key jsonb NOT NULL, old_value text, new_value text,
    changed_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX journal_run ON bucketshift.journal (run_id, id);
INSERT INTO bucketshift.runs (kind) VALUES ('apply');
INSERT INTO bucketshift.journal (run_id, table_schema, table_name, column_name, row_key, old_value, new_value)
    VALUES (1, 'public', 'T', 'u', '{"id": 1}', 'old', 'new');
"""


def test_a_version_1_journal_is_upgraded_in_place(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute(_JOURNAL_VERSION_1)
        conn.commit()
        journal.ensure_schema(conn)
        journal.ensure_schema(conn)
        version = conn.execute("SELECT version FROM bucketshift.schema_info").fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'bucketshift' AND tablename = 'journal'"
        ).fetchall()
        kept = conn.execute("SELECT run_id, row_key, old_value, new_value FROM bucketshift.journal").fetchall()
    assert version == [(journal.JOURNAL_VERSION,)]
    assert [(name, definition.split(" USING ")[1]) for name, definition in indexes] == [
        ("journal_pkey", "btree (run_id, id)")
    ]
    assert kept == [(1, {"id": 1}, "old", "new")]

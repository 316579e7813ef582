"""One batch's write: a value edited between the read and the write is left alone and not journaled."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.rewrite import apply_changes, read_batches
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
    verified = {"images": {f"p/f{i}.png" for i in range(20)}}
    rewriter = Rewriter([ORIGIN], [mapping], S3Endpoint(type="s3", region="us-east-1"), verified)
    with psycopg.connect(database) as conn, psycopg.connect(database) as other:
        (column,) = resolve(conn, [f'"T"."{column_name}"'])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        (batch,) = read_batches(conn, column, rewriter, [f"{ORIGIN}/storage/v1/"], 100, Tally())
        conn.rollback()
        assert len(batch.changes) == 20
        edited = batch.changes[7].key
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

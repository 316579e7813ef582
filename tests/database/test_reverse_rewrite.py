"""The rewrite back (S3 forms to Supabase URLs) changes the URL inside a value and not one other byte.

Pure tests of `BackRewriter` over every value kind, then the same values through PostgreSQL: the
rewrite journaled as a rollback's run, and `revert_run` putting every byte back.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.reverse import BackRewriter, back_needles, finish_back_run, forward_runs, start_back_run
from bucketshift.database.revert import revert_run
from bucketshift.database.rewrite import rewrite_column
from bucketshift.database.rewriter import Tally

ORIGIN = "https://abcd.supabase.co"
ENDPOINT = S3Endpoint(type="s3", region="us-east-1")
MAPPINGS = [
    BucketMapping(source="images", destination="aiuteur-images", access="public-read"),
    BucketMapping(source="asset-images", destination="aiuteur-asset-images", access="public-read", prefix="old/"),
    BucketMapping(source="videos", destination="aiuteur-videos", access="private"),
]
S3 = "https://aiuteur-images.s3.us-east-1.amazonaws.com/"
ASSETS = "https://aiuteur-asset-images.s3.us-east-1.amazonaws.com/old/"
PUBLIC = f"{ORIGIN}/storage/v1/object/public/"
AUTHENTICATED = f"{ORIGIN}/storage/v1/object/authenticated/"
AT_SUPABASE = {
    "images": {"p/a.png", "p/b c.png", "p/ü.png"},
    "asset-images": {"m/x.png"},
    "videos": {"p/v.mp4", "p/other v.mp4"},
}
"""Supabase bucket -> keys whose object is there (copied back or in sync)."""


def rewriter(style: str = "s3-uri") -> BackRewriter:
    return BackRewriter(ORIGIN, MAPPINGS, ENDPOINT, AT_SUPABASE, private_url_style=style)  # type: ignore[arg-type]


def back(value: Any, kind: str = "text", *, style: str = "s3-uri", limit: int | None = None) -> tuple[Any, Tally]:
    tally = Tally()
    return rewriter(style).value(kind, value, tally, limit=limit), tally


# pure -------------------------------------------------------------------------------------


def test_a_public_url_becomes_the_supabase_public_url_with_the_forward_prefix_taken_off() -> None:
    assert back(S3 + "p/a.png")[0] == PUBLIC + "images/p/a.png"
    assert back(ASSETS + "m/x.png")[0] == PUBLIC + "asset-images/m/x.png"
    assert back(S3 + "p/b%20c.png")[0] == PUBLIC + "images/p/b%20c.png"
    assert back(S3 + "p/%C3%BC.png")[0] == PUBLIC + "images/p/%C3%BC.png"


def test_a_private_reference_becomes_the_authenticated_url() -> None:
    assert back("s3://aiuteur-videos/p/v.mp4")[0] == AUTHENTICATED + "videos/p/v.mp4"
    assert back("s3://aiuteur-videos/p/other v.mp4")[0] == AUTHENTICATED + "videos/p/other%20v.mp4"


def test_a_bare_key_is_read_only_with_the_key_style_and_only_when_one_private_bucket_holds_it() -> None:
    assert back("p/v.mp4", style="key")[0] == AUTHENTICATED + "videos/p/v.mp4"
    assert back("p/v.mp4")[0] is None, "without private_url_style = key a bare value is text"
    new, tally = back("p/unknown.mp4", style="key")
    assert new is None
    assert tally.urls == 0


def test_text_around_a_url_keeps_every_byte() -> None:
    new, tally = back(f"see {S3}p/a.png, then (more) text.")
    assert new == f"see {PUBLIC}images/p/a.png, then (more) text."
    assert tally.rewritten == 1


def test_several_urls_in_one_value_each_rewritten_in_place() -> None:
    value = f'![a]({S3}p/a.png) and <img src="{ASSETS}m/x.png">\n{S3}p/a.png.'
    new, tally = back(value)
    assert new == f'![a]({PUBLIC}images/p/a.png) and <img src="{PUBLIC}asset-images/m/x.png">\n{PUBLIC}images/p/a.png.'
    assert tally.rewritten == 3
    assert tally.rows_changed == 1


def test_an_array_changes_only_its_url_elements() -> None:
    new, _ = back([S3 + "p/a.png", None, "plain text", "s3://aiuteur-videos/p/v.mp4"], "text[]")
    assert new == [PUBLIC + "images/p/a.png", None, "plain text", AUTHENTICATED + "videos/p/v.mp4"]


def test_a_json_document_changes_only_its_url_strings() -> None:
    document = (
        f'{{\n  "poster" :\t"{S3}p/a.png",\n  "n": [1.10, -0.0, 1E2],\n  "poster": "s3://aiuteur-videos/p/v.mp4",\n'
        f'  "{S3}p/a.png": "a key is not a value",\n  "note": "caf\\u00e9 \\/ unchanged"\n}}'
    )
    new, tally = back(document, "json")
    assert new == document.replace(f'"{S3}p/a.png",', f'"{PUBLIC}images/p/a.png",').replace(
        '"s3://aiuteur-videos/p/v.mp4"', f'"{AUTHENTICATED}videos/p/v.mp4"'
    )
    assert tally.rewritten == 2


@pytest.mark.parametrize(
    ("value", "counter"),
    [
        (S3 + "p/not-copied-back.png", "unverified"),
        ("https://someone-else.s3.us-east-1.amazonaws.com/p/a.png", None),
        (PUBLIC + "images/p/a.png", None),
        ("see s3://aiuteur-videos/p/v.mp4 here", "embedded_private"),
        ("just text about aiuteur-images", None),
        (ASSETS.replace("/old/", "/") + "m/x.png", "unmapped"),
    ],
)
def test_a_value_that_must_not_change_is_left_byte_for_byte(value: str, counter: str | None) -> None:
    new, tally = back(value)
    assert new is None
    if counter is not None:
        assert getattr(tally, counter) == 1
    assert tally.rewritten == 0


def test_a_value_too_long_for_its_column_is_left_and_counted() -> None:
    new, tally = back(S3 + "p/a.png", limit=len(PUBLIC + "images/p/a.png") - 1)
    assert new is None
    assert tally.too_long == 1
    assert back(S3 + "p/a.png", limit=len(PUBLIC + "images/p/a.png"))[0] == PUBLIC + "images/p/a.png"


def test_a_query_on_an_s3_url_is_dropped_and_said() -> None:
    new, tally = back(S3 + "p/a.png?v=3")
    assert new == PUBLIC + "images/p/a.png"
    assert tally.warnings["query or fragment dropped"] == 1


def test_needles_name_each_buckets_forms_and_every_row_for_bare_keys() -> None:
    needles = back_needles(MAPPINGS, ENDPOINT, "s3-uri")
    assert S3 in needles
    assert "s3://aiuteur-videos/" in needles
    assert "" not in needles
    assert "" in back_needles(MAPPINGS, ENDPOINT, "key")


# through PostgreSQL -----------------------------------------------------------------------

_numbers = itertools.count(1)
ROWS: dict[str, list[Any]] = {
    "notes.body": [
        f"see {S3}p/a.png, then (more) text.",
        f"{S3}p/a.png and {ASSETS}m/x.png",
        S3 + "p/not-copied-back.png",
        "nothing here",
    ],
    "jobs.video": ["s3://aiuteur-videos/p/v.mp4", "s3://aiuteur-videos/p/gone.mp4"],
    "galleries.images": [[S3 + "p/a.png", None, "plain"], ["plain"]],
    "docs.body": [
        f'{{"poster": "{S3}p/a.png", "ratio": 0.1000000000000000055511151231257827, "big": 1.0E-7, "n": [1.10]}}'
    ],
    "raw_docs.body": [f'{{ "a" :  "{S3}p/a.png",\n "a": "{S3}p/b%20c.png", "k": 2.50 }}'],
    "narrow.url": [S3 + "p/a.png"],
}


@pytest.fixture(scope="module")
def database(postgres) -> Iterator[str]:
    name = f"reverse_{next(_numbers)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE notes (id int PRIMARY KEY, body text); CREATE TABLE jobs (id int PRIMARY KEY, video text);"
            "CREATE TABLE galleries (id int PRIMARY KEY, images text[]); CREATE TABLE docs (id int PRIMARY KEY, "
            "body jsonb); CREATE TABLE raw_docs (id int PRIMARY KEY, body json);"
            f"CREATE TABLE narrow (id int PRIMARY KEY, url varchar({len(PUBLIC + 'images/p/a.png') - 1}))"
        )
        for column, values in ROWS.items():
            table, field = column.split(".")
            for i, value in enumerate(values):
                conn.execute(
                    sql.SQL("INSERT INTO {} (id, {}) VALUES (%s, %s)").format(
                        sql.Identifier(table), sql.Identifier(field)
                    ),
                    (i, value),
                )
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _texts(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    out = {}
    for column in ROWS:
        table, field = column.split(".")
        rows = conn.execute(
            sql.SQL("SELECT {}::text FROM {} ORDER BY id").format(sql.Identifier(field), sql.Identifier(table))
        ).fetchall()
        out[column] = [row[0] for row in rows]
    conn.rollback()
    return out


def test_the_rewrite_back_in_the_database_is_journaled_exact_and_revertible(database: str) -> None:
    with psycopg.connect(database) as conn, psycopg.connect(database) as writer:
        journal.ensure_schema(conn)
        before = _texts(conn)
        run_id = start_back_run(conn)
        written = {}
        needles = back_needles(MAPPINGS, ENDPOINT, "s3-uri")
        for column in resolve(conn, list(ROWS)):
            _, written[column.name] = rewrite_column(
                conn, column, rewriter(), needles, run_id=run_id, batch_size=2, writers=[writer]
            )
        finish_back_run(conn, run_id, {})
        after = _texts(conn)
        assert written == {
            "notes.body": 2,
            "jobs.video": 1,
            "galleries.images": 1,
            "docs.body": 1,
            "raw_docs.body": 1,
            "narrow.url": 0,
        }
        assert after["notes.body"] == [
            f"see {PUBLIC}images/p/a.png, then (more) text.",
            f"{PUBLIC}images/p/a.png and {PUBLIC}asset-images/m/x.png",
            *before["notes.body"][2:],
        ]
        assert after["jobs.video"] == [f"{AUTHENTICATED}videos/p/v.mp4", before["jobs.video"][1]]
        assert after["galleries.images"][0] == "{" + f"{PUBLIC}images/p/a.png" + ",NULL,plain}"
        assert json.loads(after["docs.body"][0])["poster"] == PUBLIC + "images/p/a.png"
        assert after["docs.body"][0] == before["docs.body"][0].replace(S3 + "p/a.png", PUBLIC + "images/p/a.png")
        assert after["raw_docs.body"][0] == (
            f'{{ "a" :  "{PUBLIC}images/p/a.png",\n "a": "{PUBLIC}images/p/b%20c.png", "k": 2.50 }}'
        )
        assert after["narrow.url"] == before["narrow.url"], "never cut to fit"
        assert run_id not in forward_runs(conn), "a rollback's own rewrite is never taken for a forward one"
        assert journal.find_run(conn, run_id).kind == "rollback", "rewrite-urls --revert RUN accepts it"
        revert_id = journal.start_run(conn, "revert", reverts=run_id)
        reverted = revert_run(conn, run_id, revert_id, batch_size=2, writers=[writer])
        assert reverted.restored == 6
        assert reverted.conflicts == 0
        assert _texts(conn) == before

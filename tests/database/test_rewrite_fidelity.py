"""A rewrite changes the URL inside a value and not one other byte, and never cuts a value to fit.

A small application database whose columns sit at the edges: a `varchar(n)` column exactly as
wide as one new URL and one character too narrow for the next, a `varchar(n)[]` likewise,
jsonb numbers a float cannot hold, a json document with its own whitespace and a duplicate
key, and objects the manifest records under another destination key than today's prefix gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.database.manifest_helpers import record_verified

from bucketshift.config import load_plan
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.rewrite import apply_changes
from bucketshift.engine.manifest import Manifest
from bucketshift.operations.rewrite import RewriteRequest, RewriteRun

EXE = str(Path(sys.executable).with_name("bucketshift"))
ORIGIN = "https://abcd.supabase.co"
SOURCE = f"{ORIGIN}/storage/v1/object/public/images/"
DEST_BUCKET = "aiuteur-images-production-archive"
DEST = f"https://{DEST_BUCKET}.s3.us-east-1.amazonaws.com/"
WIDTH = len(DEST) + 20
"""The narrow columns' n: a 20-character key's new URL fits exactly, a 21-character key's does not
(while its Supabase URL, 11 characters shorter, fits with room to spare)."""
MOVED = "archive/2024/"
"""Where an earlier plan's prefix put the objects the manifest records under another key."""
_numbers = count()

PLAN = """
[source]
type = "supabase"
url = "{origin}"
key = "service-role-key-for-tests"

[destination]
type = "s3"
region = "us-east-1"

[[buckets]]
source = "images"
destination = "{bucket}"
access = "public-read"

[database]
dsn = "{dsn}"
columns = {columns}
"""


def key(length: int, tag: str = "k") -> str:
    """A key of exactly `length` characters."""
    head = f"p/{tag}-"
    return head + "x" * (length - len(head) - 4) + ".png"


FITS, FITS_SHORTER, TOO_LONG, UNVERIFIED = key(20, "a"), key(19, "b"), key(21, "c"), key(20, "u")
MOVED_KEY = key(20, "m")
JSON_URLS = [key(30, "j1"), key(31, "j2"), key(32, "j3")]

JSONB_DOCUMENT = (
    f'{{"poster": "{SOURCE + JSON_URLS[0]}", "ratio": 0.1000000000000000055511151231257827, "price": 2.50, '
    f'"big": 123456789012345678901234567890.000, "tiny": 1.0E-7, "list": [1.10, "{SOURCE + JSON_URLS[1]}", -0.0]}}'
)

JSON_DOCUMENT = (
    f'{{\n  "zeta" :\t"{SOURCE + JSON_URLS[0]}",\n  "alpha": 2.50,\n  "zeta": "{SOURCE + JSON_URLS[2]}",\n'
    f'  "{SOURCE + JSON_URLS[1]}": "a key is not a value",\n  "note": "caf\\u00e9 \\/ unchanged",\n'
    '  "n": [1E2, -0.0, 0.1000000000000000055511151231257827 ]\n}'
)
"""Whitespace of its own, keys out of order, a duplicate key holding a URL each time, an object key
that is a URL (left alone), escapes in an unchanged string, numbers a float would change."""

SCHEMA = f"""
CREATE TABLE profiles (id integer PRIMARY KEY, avatar_url varchar({WIDTH}));
CREATE TABLE galleries (id integer PRIMARY KEY, images varchar({WIDTH})[]);
CREATE TABLE events (at timestamptz PRIMARY KEY, image_url varchar({WIDTH}));
CREATE TABLE docs (id integer PRIMARY KEY, body jsonb);
CREATE TABLE raw_docs (id integer PRIMARY KEY, body json);
CREATE TABLE frames (id integer PRIMARY KEY, image_url text);
"""

COLUMNS = [
    "profiles.avatar_url",
    "galleries.images",
    "events.image_url",
    "docs.body",
    "raw_docs.body",
    "frames.image_url",
]


@dataclass
class SmallApp:
    dsn: str
    plan_path: Path
    manifest_path: Path

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, "rewrite-urls", *args, "--config", str(self.plan_path)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "250"},
        )  # fmt: skip

    def use_columns(self, *names: str) -> None:
        text = self.plan_path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.startswith("columns = ")]
        self.plan_path.write_text("\n".join([*lines, f"columns = {json.dumps(list(names))}"]) + "\n", encoding="utf-8")

    def text_of(self, table: str, column: str = "body") -> dict[Any, str | None]:
        with self.connect() as conn:
            rows = conn.execute(f"SELECT id, {column}::text FROM {table}").fetchall()  # noqa: S608
        return dict(rows)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.connect() as conn:
            return {
                table: conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1").fetchall()  # noqa: S608
                for table in ("profiles", "galleries", "events", "docs", "raw_docs", "frames")
            }


EVENT_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def small_app(postgres: Any, tmp_path: Path) -> Iterator[SmallApp]:
    name = f"fidelity_{next(_numbers)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for i, k in enumerate([FITS, TOO_LONG, UNVERIFIED, FITS_SHORTER], start=1):
            conn.execute("INSERT INTO profiles VALUES (%s, %s)", (i, SOURCE + k))
        conn.execute("INSERT INTO galleries VALUES (1, %s), (2, %s)",
                     ([SOURCE + FITS, None, SOURCE + FITS_SHORTER], [SOURCE + FITS, SOURCE + TOO_LONG]))  # fmt: skip
        for i, k in enumerate([FITS, TOO_LONG, FITS_SHORTER]):
            conn.execute("INSERT INTO events VALUES (%s, %s)", (EVENT_START + timedelta(seconds=i), SOURCE + k))
        conn.execute("INSERT INTO docs VALUES (1, %s)", (JSONB_DOCUMENT,))
        conn.execute("INSERT INTO raw_docs VALUES (1, %s)", (JSON_DOCUMENT,))
        conn.execute("INSERT INTO frames VALUES (1, %s), (2, %s)", (SOURCE + MOVED_KEY, SOURCE + FITS))
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(origin=ORIGIN, bucket=DEST_BUCKET, dsn=dsn, columns=json.dumps(COLUMNS)))
    manifest_path = tmp_path / "plan.manifest.sqlite3"
    mapping = f"images->{DEST_BUCKET}"
    with Manifest(manifest_path) as manifest:
        recorded = {k: k for k in [FITS, FITS_SHORTER, TOO_LONG, *JSON_URLS]} | {MOVED_KEY: MOVED + MOVED_KEY}
        record_verified(manifest, mapping, recorded)
    yield SmallApp(dsn, plan, manifest_path)
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def journaled(app: SmallApp, column: str) -> list[tuple[str, str, str]]:
    with app.connect() as conn:
        rows = conn.execute(
            "SELECT row_key::text, old_value, new_value FROM bucketshift.journal WHERE column_name = %s AND "
            "table_name = %s ORDER BY id",
            (column.split(".")[1], column.split(".")[0]),
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_the_test_data_sits_at_the_edge_of_the_narrow_columns() -> None:
    assert len(DEST + FITS) == WIDTH
    assert len(DEST + TOO_LONG) == WIDTH + 1
    assert len(SOURCE + TOO_LONG) < WIDTH, "the old URL must fit, or the data could not be there"


def test_the_plan_reports_values_too_long_for_their_column_and_apply_leaves_them(small_app: SmallApp) -> None:
    small_app.use_columns("profiles.avatar_url", "galleries.images", "events.image_url")
    before = small_app.snapshot()
    planned = small_app.cli()
    assert planned.returncode == 0, planned.stderr
    shown = " ".join(planned.stdout.split())
    for column in ("profiles.avatar_url", "galleries.images", "events.image_url"):
        assert f"{column}: 1 values left as they are: the new value would be longer than the column's " \
               f"{WIDTH} characters" in shown, planned.stdout  # fmt: skip
    assert f"needs {WIDTH + 1} characters" in shown
    assert SOURCE + TOO_LONG in shown, "a sample names the value left alone"
    as_json = small_app.cli("--json")
    assert as_json.returncode == 0, as_json.stderr
    by_column = {c["column"]: c for c in json.loads(as_json.stdout)["columns"]}
    assert {name: tally["too_long"] for name, tally in by_column.items()} == dict.fromkeys(by_column, 1)
    assert by_column["profiles.avatar_url"]["too_long_samples"][0]["needs"] == WIDTH + 1
    assert small_app.snapshot() == before, "a plan writes nothing"

    report = RewriteRun(load_plan(small_app.plan_path), RewriteRequest(mode="apply")).run()
    tallies = {c.column: c.tally for c in report.columns}
    assert {name: t.too_long for name, t in tallies.items()} == dict.fromkeys(tallies, 1)
    assert {c.column: c.written for c in report.columns} == {
        "profiles.avatar_url": 2, "galleries.images": 1, "events.image_url": 2,
    }  # fmt: skip
    assert tallies["profiles.avatar_url"].rewritten == 2, "a URL in a value left alone is not counted as rewritten"
    profiles = small_app.text_of("profiles", "avatar_url")
    assert profiles == {
        1: DEST + FITS,  # exactly as wide as the column: written whole
        2: SOURCE + TOO_LONG,  # one character too many: left as it was, never cut
        3: SOURCE + UNVERIFIED,
        4: DEST + FITS_SHORTER,
    }
    galleries = small_app.text_of("galleries", "images")
    assert galleries[2] == "{" + f"{SOURCE + FITS},{SOURCE + TOO_LONG}" + "}", "the whole row is left alone"
    assert galleries[1] == "{" + f"{DEST + FITS},NULL,{DEST + FITS_SHORTER}" + "}"
    with small_app.connect() as conn:
        events = dict(conn.execute("SELECT at, image_url FROM events").fetchall())
    assert events[EVENT_START + timedelta(seconds=1)] == SOURCE + TOO_LONG
    assert events[EVENT_START] == DEST + FITS
    assert [row_key for row_key, _, _ in journaled(small_app, "profiles.avatar_url")] == ['{"id": 1}', '{"id": 4}']
    assert [row_key for row_key, _, _ in journaled(small_app, "galleries.images")] == ['{"id": 1}']
    assert len(journaled(small_app, "events.image_url")) == 2

    reverted = small_app.cli("--revert", "--yes")
    assert reverted.returncode == 0, reverted.stderr
    assert small_app.snapshot() == before


def test_sql_leaves_out_values_too_long_for_their_column(small_app: SmallApp, tmp_path: Path) -> None:
    small_app.use_columns("profiles.avatar_url", "galleries.images")
    out = tmp_path / "rewrite.sql"
    done = small_app.cli("--sql", str(out))
    assert done.returncode == 0, done.stderr
    statements = [line for line in out.read_text().splitlines() if line.startswith("UPDATE")]
    assert len(statements) == 3, statements
    assert not any(DEST + TOO_LONG in s for s in statements)
    assert any(f"'{DEST + FITS}'" in s for s in statements), "the value that just fits is there"
    assert all("::character varying" not in s for s in statements), "an explicit cast would cut a value run by hand"


@pytest.mark.parametrize(
    ("column_name", "bad", "good"),
    [
        ("profiles.avatar_url", ((1,), DEST + TOO_LONG), ((4,), DEST + FITS_SHORTER)),  # travels joined
        ("profiles.avatar_url", ((1,), "\x1f" + DEST + FITS), ((4,), DEST + FITS_SHORTER)),  # staged by COPY
        ("events.image_url", ((EVENT_START,), DEST + TOO_LONG), ((EVENT_START + timedelta(seconds=2),), DEST)),
        ("galleries.images", ((1,), [DEST + FITS, None, DEST + TOO_LONG]), ((2,), [DEST + FITS, DEST])),
    ],
    ids=["joined", "staged", "timestamptz key", "array"],
)
def test_the_database_refuses_a_value_too_long_even_if_python_misjudged(
    small_app: SmallApp, column_name: str, bad: tuple[tuple[Any, ...], Any], good: tuple[tuple[Any, ...], Any]
) -> None:
    """A write that would have to cut fails as a whole: the batch is rolled back, nothing journaled."""
    before = small_app.snapshot()
    with psycopg.connect(small_app.dsn) as conn:
        (column,) = resolve(conn, [column_name])
        conn.rollback()
        journal.ensure_schema(conn)
        run_id = journal.start_run(conn, "apply")
        select = f"SELECT {column.column}::text FROM {column.table} WHERE {column.primary_key[0]} = %s"  # noqa: S608
        changes = [(k, conn.execute(select, k).fetchone()[0], new) for k, new in (good, bad)]
        conn.rollback()
        with pytest.raises(psycopg.errors.StringDataRightTruncation, match=f"character varying\\({WIDTH}\\)"):
            apply_changes(conn, column, run_id, changes)
        conn.rollback()
        assert small_app.snapshot() == before, "the fitting value of the same batch is not written either"
        assert conn.execute("SELECT count(*) FROM bucketshift.journal").fetchone() == (0,)
        conn.rollback()
        assert apply_changes(conn, column, run_id, changes[:1]) == 1, "the negative twin: a value that fits"
    assert small_app.snapshot() != before


def test_jsonb_numbers_come_back_exactly(small_app: SmallApp) -> None:
    small_app.use_columns("docs.body")
    before = small_app.text_of("docs")[1]
    assert "0.1000000000000000055511151231257827" in before
    assert '"price": 2.50' in before
    applied = small_app.cli("--apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    expected = before.replace(SOURCE + JSON_URLS[0], DEST + JSON_URLS[0]).replace(
        SOURCE + JSON_URLS[1], DEST + JSON_URLS[1]
    )
    assert small_app.text_of("docs")[1] == expected
    assert small_app.cli("--revert", "--yes").returncode == 0
    assert small_app.text_of("docs")[1] == before


def test_json_changes_only_in_the_strings_that_hold_urls(small_app: SmallApp) -> None:
    small_app.use_columns("raw_docs.body")
    assert small_app.text_of("raw_docs")[1] == JSON_DOCUMENT
    applied = small_app.cli("--apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    expected = JSON_DOCUMENT.replace(f'"{SOURCE + JSON_URLS[0]}"', f'"{DEST + JSON_URLS[0]}"').replace(
        f'"{SOURCE + JSON_URLS[2]}"', f'"{DEST + JSON_URLS[2]}"'
    )
    assert f'"{SOURCE + JSON_URLS[1]}":' in expected, "the object key stays a Supabase URL"
    assert small_app.text_of("raw_docs")[1] == expected
    ((_, old, new),) = journaled(small_app, "raw_docs.body")
    assert (old, new) == (JSON_DOCUMENT, expected)
    assert small_app.cli("--revert", "--yes").returncode == 0
    assert small_app.text_of("raw_docs")[1] == JSON_DOCUMENT


def test_urls_are_built_from_the_destination_key_the_manifest_recorded(small_app: SmallApp) -> None:
    small_app.use_columns("frames.image_url")
    planned = RewriteRun(load_plan(small_app.plan_path), RewriteRequest(mode="plan")).run()
    assert dict(planned.columns[0].tally.samples)[SOURCE + MOVED_KEY] == DEST + MOVED + MOVED_KEY
    assert small_app.cli("--apply", "--yes").returncode == 0
    assert small_app.text_of("frames", "image_url") == {
        1: DEST + MOVED + MOVED_KEY,  # where the object was written, not where today's prefix ("") would put it
        2: DEST + FITS,
    }


def test_a_revert_exits_1_when_it_leaves_conflicts_or_other_runs_and_0_when_clean(small_app: SmallApp) -> None:
    before = small_app.snapshot()
    small_app.use_columns("frames.image_url")
    assert small_app.cli("--apply", "--yes").returncode == 0
    with small_app.connect() as conn:
        conn.execute("UPDATE frames SET image_url = 'https://cdn.example.com/edited.png' WHERE id = 2")
    conflicted = small_app.cli("--revert", "--yes", "--json")
    assert json.loads(conflicted.stdout)["reverted"]["conflicts"] == 1
    assert conflicted.returncode == 1, "a revert that left a value alone is done with a failure found"
    with small_app.connect() as conn:
        conn.execute("UPDATE frames SET image_url = %s WHERE id = 2", (SOURCE + FITS,))
    assert small_app.snapshot() == before

    for column in ("frames.image_url", "profiles.avatar_url"):  # as an interrupted apply run again would
        small_app.use_columns(column)
        assert small_app.cli("--apply", "--yes").returncode == 0
    first = small_app.cli("--revert", "--yes", "--json")
    assert json.loads(first.stdout)["still_applied"] != []
    assert json.loads(first.stdout)["reverted"]["conflicts"] == 0
    assert first.returncode == 1, "another apply run is still in place"
    last = small_app.cli("--revert", "--yes", "--json")
    assert json.loads(last.stdout)["still_applied"] == []
    assert last.returncode == 0, last.stderr
    assert small_app.snapshot() == before
    nothing = small_app.cli("--revert", "--yes")
    assert nothing.returncode == 0, "nothing left to revert is not a failure"

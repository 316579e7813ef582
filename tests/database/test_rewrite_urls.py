"""rewrite-urls against a real PostgreSQL holding 100,000 rows of every URL form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bucketshift.config import S3Endpoint, load_plan
from bucketshift.database import journal
from bucketshift.database.revert import revert_run
from bucketshift.operations.rewrite import RewriteRequest, RewriteRun, StepProgress
from bucketshift.urls import parse_s3_url

EXE = str(Path(sys.executable).with_name("bucketshift"))
URL_COLUMNS = {
    "global_assets.image_key_url",
    "project_assets.image_key_url",
    "frames.image_url",
    "video_generation_jobs.video_url",
    "video_generation_jobs.settings",
    "video_generation_jobs.thumbnails",
    '"Odd Table"."Image URL"',
    "audit.payload",
}
COLUMNS_LINE = "columns = [" + ", ".join(json.dumps(c) for c in sorted(URL_COLUMNS)) + "]"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "250"}
    )


def with_columns(db: Any, line: str = COLUMNS_LINE) -> None:
    text = db.plan_path.read_text()
    text = "\n".join(x for x in text.splitlines() if not x.startswith("columns = ")) + "\n" + line + "\n"
    db.plan_path.write_text(text)


def by_column(done: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert done.returncode == 0, done.stderr[-2000:]
    return {c["column"]: c for c in json.loads(done.stdout)["columns"]}


def test_discovery_finds_exactly_the_columns_that_hold_storage_urls(app_database: Any) -> None:
    done = cli("rewrite-urls", "--discover", "--json", "--config", str(app_database.plan_path))
    assert done.returncode == 0, done.stderr
    found = {d["column"]: d for d in json.loads(done.stdout)["discovered"]}
    with_urls = {name for name, d in found.items() if d["rows"]}
    assert with_urls == {c.replace('"', "") for c in URL_COLUMNS} | {"no_pk.url"}
    assert found["frames.notes"]["rows"] == 0, "a value that merely mentions the host is not a storage URL"
    assert found["frames.notes"]["mentions_only"] > 0
    assert "global_assets.name" not in found


def test_plan_counts_are_exact_and_nothing_is_written(app_database: Any) -> None:
    with_columns(app_database)
    before = app_database.table_hashes()
    columns = by_column(cli("rewrite-urls", "--json", "--config", str(app_database.plan_path)))
    expected = app_database.expected
    for name in URL_COLUMNS:
        shown = name.replace('"', "")
        assert columns[shown]["urls"] == expected.urls[name], name
        assert columns[shown]["rewritten"] == expected.rewritten[name], name
        assert columns[shown]["unverified"] == expected.unverified[name], name
        assert columns[shown]["rows_changed"] == expected.rows_changed[name], name
    assert columns["frames.image_url"]["warnings"]["image transformation"] > 0
    assert columns["audit.payload"]["private_inside_text"] > 0
    assert app_database.table_hashes() == before


def test_apply_rewrites_exactly_the_verified_urls_then_revert_restores_byte_for_byte(app_database: Any) -> None:
    with_columns(app_database)
    before = app_database.table_hashes()
    applied = by_column(cli("rewrite-urls", "--apply", "--yes", "--json", "--config", str(app_database.plan_path)))
    expected = app_database.expected
    for name in URL_COLUMNS:
        assert applied[name.replace('"', "")]["rows_written"] == expected.rows_changed[name], name
    endpoint = S3Endpoint(type="s3", region="us-east-1")
    with app_database.connect() as conn:
        for i, url in conn.execute("SELECT id, video_url FROM video_generation_jobs ORDER BY id LIMIT 500"):
            key = app_database.key_for("videos", i)
            if i % 10 == 3:
                assert url.startswith("https://abcd.supabase.co/storage/v1/"), "unverified objects keep their URL"
            else:
                assert url == f"s3://aiuteur-videos/{key}", "a private video becomes a reference, never a public URL"
        assert (
            conn.execute("SELECT count(*) FROM video_generation_jobs WHERE video_url LIKE '%amazonaws%'").fetchone()[0]
            == 0
        )
        for i, url in conn.execute("SELECT id, image_url FROM frames ORDER BY id LIMIT 500"):
            if i % 10 != 3:
                assert url == app_database.public_s3("images", app_database.key_for("images", i))
                assert parse_s3_url(url, endpoint).key == app_database.key_for("images", i)
        settings = conn.execute("SELECT settings FROM video_generation_jobs WHERE id = 1").fetchone()[0]
        assert settings["poster"].startswith("https://aiuteur-images.s3.us-east-1.amazonaws.com/")
        assert settings["fps"] == 24
        thumbs = conn.execute("SELECT thumbnails FROM video_generation_jobs WHERE id = 1").fetchone()[0]
        assert thumbs[1:] == [None, "plain text"]
        assert (
            conn.execute(
                'SELECT count(*) FROM "Odd Table" WHERE "Image URL" LIKE \'https://aiuteur-images%\''
            ).fetchone()[0]
            > 0
        )
        journal = conn.execute("SELECT count(*) FROM bucketshift.journal").fetchone()[0]
    assert journal == sum(expected.rows_changed[n] for n in URL_COLUMNS)
    after_apply = app_database.table_hashes()

    again = by_column(cli("rewrite-urls", "--apply", "--yes", "--json", "--config", str(app_database.plan_path)))
    assert all(c["rows_written"] == 0 for c in again.values())
    assert app_database.table_hashes() == after_apply

    reverted = cli("rewrite-urls", "--revert", "--yes", "--json", "--config", str(app_database.plan_path))
    assert reverted.returncode == 0, reverted.stderr
    report = json.loads(reverted.stdout)["reverted"]
    assert report["conflicts"] == 0
    assert app_database.table_hashes() == before

    second = cli("rewrite-urls", "--revert", "--yes", "--json", "--config", str(app_database.plan_path))
    assert second.returncode == 0
    assert "reverted" not in json.loads(second.stdout)
    assert app_database.table_hashes() == before


def test_a_value_edited_after_apply_is_reported_and_left_alone(app_database: Any) -> None:
    with_columns(app_database, 'columns = ["frames.image_url"]')
    applied = cli("rewrite-urls", "--apply", "--yes", "--json", "--config", str(app_database.plan_path))
    assert applied.returncode == 0, applied.stderr
    run = json.loads(applied.stdout)["run_id"]
    with app_database.connect() as conn:
        conn.execute("UPDATE frames SET image_url = 'https://cdn.example.com/replaced.png' WHERE id IN (1, 2)")
    reverted = cli("rewrite-urls", "--revert", str(run), "--yes", "--json", "--config", str(app_database.plan_path))
    assert reverted.returncode == 1, "a revert that left values alone is done with failures found"
    report = json.loads(reverted.stdout)["reverted"]
    assert report["conflicts"] == 2
    assert sorted(c["key"]["id"] for c in report["conflict_samples"]) == [1, 2]
    with app_database.connect() as conn:
        kept = conn.execute("SELECT image_url FROM frames WHERE id IN (1, 2)").fetchall()
        assert kept == [("https://cdn.example.com/replaced.png",)] * 2
        back = conn.execute("SELECT image_url FROM frames WHERE id = 4").fetchone()[0]
        assert back.startswith("https://abcd.supabase.co/storage/v1/")
        conn.execute("UPDATE frames SET image_url = %s WHERE id IN (1, 2)", (None,))


def test_progress_counts_the_rows_read_and_the_journal_rows_reverted(app_database: Any) -> None:
    with_columns(app_database, 'columns = ["frames.image_url", "global_assets.image_key_url"]')
    plan = load_plan(app_database.plan_path)
    applying = RewriteRun(plan, RewriteRequest(mode="apply", batch_size=1000))
    applied = applying.run()
    assert applying.steps == {c.column: StepProgress(done=c.tally.rows_scanned, total=None) for c in applied.columns}, (
        "one step per column, each counting the rows it read"
    )
    assert all(c.tally.rows_scanned > 1000 for c in applied.columns), "more than one batch was counted"
    changed = sum(c.written for c in applied.columns)
    reverting = RewriteRun(plan, RewriteRequest(mode="revert", run_id=applied.run_id, batch_size=1000))
    reverted = reverting.run().reverted
    assert reverted is not None
    assert reverted.restored == changed
    assert reverting.steps == {f"revert run {applied.run_id}": StepProgress(done=changed, total=changed)}


class Interrupted(Exception):
    pass


def test_a_revert_interrupted_midway_finishes_on_rerun_without_false_conflicts(app_database: Any) -> None:
    with_columns(app_database, 'columns = ["frames.image_url"]')
    before = app_database.table_hashes()
    applied = RewriteRun(load_plan(app_database.plan_path), RewriteRequest(mode="apply")).run()
    (column,) = applied.columns
    assert applied.run_id is not None
    assert column.written > 3000

    def stop(done: int) -> None:
        raise Interrupted(done)

    with psycopg.connect(app_database.dsn) as conn, psycopg.connect(app_database.dsn) as writer:
        first = journal.start_run(conn, "revert", reverts=applied.run_id)
        with pytest.raises(Interrupted):
            revert_run(conn, applied.run_id, first, batch_size=1000, writers=[writer], progress=stop)
    assert app_database.table_hashes() != before, "the interrupted revert restored its first batch only"

    resumed = cli("rewrite-urls", "--revert", "--yes", "--json", "--config", str(app_database.plan_path))
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)["reverted"]
    assert report["run"] == applied.run_id
    assert report["conflicts"] == 0, "values the interrupted revert put back are not changes made since"
    assert report["already_restored"] == 1000
    assert report["restored"] == column.written - 1000
    assert app_database.table_hashes() == before


def test_a_revert_names_the_other_runs_still_in_place(app_database: Any) -> None:
    before = app_database.table_hashes()
    runs = []
    for column in ("frames.image_url", "global_assets.image_key_url"):  # as an interrupted apply run again would
        with_columns(app_database, f'columns = ["{column}"]')
        applied = cli("rewrite-urls", "--apply", "--yes", "--json", "--config", str(app_database.plan_path))
        assert applied.returncode == 0, applied.stderr
        runs.append(json.loads(applied.stdout)["run_id"])
    first = cli("rewrite-urls", "--revert", "--yes", "--config", str(app_database.plan_path))
    assert first.returncode == 1, "another run still in place: the database is not back where it was"
    assert f"revert of run {runs[1]} " in first.stdout
    assert f"run {runs[0]} also rewrote values and is not reverted" in " ".join(first.stdout.split())
    second = cli("rewrite-urls", "--revert", "--yes", "--json", "--config", str(app_database.plan_path))
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["reverted"]["run"] == runs[0]
    assert report["still_applied"] == []
    assert app_database.table_hashes() == before


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('columns = ["frames.nope"]', "column 'nope' does not exist"),
        ('columns = ["nope.image_url"]', "table public.nope does not exist"),
        ('columns = ["frames.id"]', "only text, varchar, text[], json and jsonb"),
        ('columns = ["no_pk.url"]', "no_pk has no primary key"),
    ],
)
def test_a_wrong_column_or_table_is_one_line(app_database: Any, line: str, expected: str) -> None:
    with_columns(app_database, line)
    done = cli("rewrite-urls", "--apply", "--yes", "--config", str(app_database.plan_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


def test_sql_file_holds_the_updates_and_changes_nothing(app_database: Any, tmp_path: Path) -> None:
    with_columns(app_database, 'columns = ["\\"Odd Table\\".\\"Image URL\\""]')
    before = app_database.table_hashes()
    out = tmp_path / "rewrite.sql"
    done = cli("rewrite-urls", "--sql", str(out), "--config", str(app_database.plan_path))
    assert done.returncode == 0, done.stderr
    statements = [line for line in out.read_text().splitlines() if line.startswith("UPDATE")]
    assert len(statements) == app_database.expected.rows_changed['"Odd Table"."Image URL"']
    assert statements[0].startswith('UPDATE "public"."Odd Table" SET "Image URL" = ')
    assert app_database.table_hashes() == before

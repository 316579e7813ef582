"""The state kept in the source project's own database is said once: Storage shares its pool."""

from __future__ import annotations

from pathlib import Path

from bucketshift.config import load_plan
from bucketshift.engine.state import same_database
from bucketshift.operations.context import state_of, state_warning, state_where

SOURCE = "postgresql://postgres:source-pw@db.example.test:5432/postgres"


def _plan(tmp_path: Path, source_dsn: str | None = SOURCE):
    dsn = f'dsn = "{source_dsn}"' if source_dsn else ""
    path = tmp_path / "plan.toml"
    path.write_text(
        f"""
[source]
type = "supabase"
url = "http://127.0.0.1:1"
key = "sb_secret_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4"
{dsn}

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:2"

[[buckets]]
source = "images"
access = "public-read"
""",
        encoding="utf-8",
    )
    return load_plan(path)


def test_the_source_database_with_another_password_is_warned(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    state = "postgresql://postgres:other-pw@db.example.test/postgres"  # port left to libpq's default
    warning = state_warning(plan, state)
    assert warning is not None
    for said in ("connection pool", "429", "544"):
        assert said in warning
    for secret in ("other-pw", "source-pw"):
        assert secret not in warning
    assert same_database(state, SOURCE)


def test_another_database_a_file_or_no_source_dsn_is_not_warned(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert state_warning(plan, "postgresql://postgres:source-pw@db.example.test:5432/bucketshift") is None
    assert state_warning(plan, "postgresql://postgres:source-pw@db.example.test:6543/postgres") is None
    assert state_warning(plan, "postgresql://postgres:source-pw@other.example.test:5432/postgres") is None
    assert state_warning(plan, None) is None
    assert state_warning(plan, str(tmp_path / "m.sqlite3")) is None
    assert state_warning(_plan(tmp_path, None), SOURCE) is None


def test_a_dsn_is_kept_whole_and_shown_without_its_password(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    dsn = "postgresql://worker:pw-9x@127.0.0.1:5433/state"
    assert state_of(plan, dsn) == dsn
    assert state_where(plan, dsn) == "PostgreSQL worker@127.0.0.1:5433/state (schema bucketshift_state)"
    assert state_of(plan, None) == tmp_path / "plan.manifest.sqlite3"
    assert state_of(plan, "x/m.sqlite3") == Path("x/m.sqlite3")
    assert state_where(plan, None) == str(tmp_path / "plan.manifest.sqlite3")

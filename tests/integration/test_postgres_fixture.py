"""The throw-away PostgreSQL the database tests run against is real, local and writable."""

from __future__ import annotations

import psycopg
import pytest

from bucketshift_sandbox.servers import ServerError, pg_bin


def test_postgres_is_a_real_local_server(postgres) -> None:
    if postgres.data_dir is not None:
        assert postgres.dsn.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 110000
        conn.execute('CREATE TABLE IF NOT EXISTS "fixture check" (id int primary key, "Mixed Case" text)')
        conn.execute('INSERT INTO "fixture check" VALUES (1, %s) ON CONFLICT (id) DO NOTHING', ("ok",))
        assert conn.execute('SELECT "Mixed Case" FROM "fixture check"').fetchone()[0] == "ok"
        conn.execute('DROP TABLE "fixture check"')


def test_missing_server_programs_name_the_package_to_install(tmp_path) -> None:
    with pytest.raises(ServerError, match=r"initdb.*apt-get install postgresql"):
        pg_bin("initdb", path=str(tmp_path), search_root=tmp_path)

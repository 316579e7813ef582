"""`bucketshift init` as a user runs it: a plan file written from a live project and its database.

The project is an emulator of this module's own (a session one holds other tests' buckets, and
the plan lists every bucket), with public and private buckets; the app's database is a fresh
one in the session PostgreSQL, holding the project's URLs in several columns, one column that
only mentions the project, and URLs of another project.  Every run is checked for the secrets
(the service role key, the database password) in its output, and the written file too.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from bucketshift.config import load_plan
from bucketshift.database.columns import resolve
from bucketshift.errors import ConfigError
from bucketshift.stores.supabase import SupabaseStore
from bucketshift_sandbox.servers import EmulatorServer, MotoServer, PostgresCluster, run_emulator

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
BUCKETS = {"asset-images": True, "images": True, "videos": False}
"""The project's buckets and whether each is public."""
EXPECTED_COLUMNS = {
    "global_assets.image_key_url",
    "video_generation_jobs.video_url",
    "video_generation_jobs.settings",
    'app."Odd.Table"."Image URL"',
}
MENTIONS_ONLY = "frames.notes"
OTHER_PROJECT = "mirrors.url"
_databases = itertools.count(1)


@dataclass(frozen=True)
class Project:
    emulator: EmulatorServer
    dsn: str
    password: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.emulator.service_role_key, self.password)

    def env(self, **extra: str) -> dict[str, str]:
        return {"SUPABASE_URL": self.emulator.url, "SUPABASE_SERVICE_ROLE_KEY": self.emulator.service_role_key, **extra}


async def _make_buckets(emulator: EmulatorServer) -> None:
    async with SupabaseStore(emulator.url, emulator.service_role_key) as store:
        for name, public in BUCKETS.items():
            await store.create_bucket(name, public=public)
        await store.put("images", "project_1/frames/a.png", b"png bytes", content_type="image/png")


def _fill(conn: psycopg.Connection, origin: str) -> None:
    base = f"{origin}/storage/v1"
    conn.execute(
        """
        CREATE TABLE global_assets (id bigint PRIMARY KEY, image_key_url text, name text);
        CREATE TABLE frames (id bigint PRIMARY KEY, notes text);
        CREATE TABLE video_generation_jobs (id integer PRIMARY KEY, video_url varchar(500), settings jsonb);
        CREATE TABLE mirrors (id integer PRIMARY KEY, url text);
        CREATE SCHEMA app;
        CREATE TABLE app."Odd.Table" ("Key" text PRIMARY KEY, "Image URL" text);
        """
    )
    for i in range(5):
        conn.execute(
            "INSERT INTO global_assets VALUES (%s, %s, %s)",
            (i, f"{base}/object/public/asset-images/p_{i}/asset{i}.png", f"asset {i}"),
        )
        conn.execute("INSERT INTO frames VALUES (%s, %s)", (i, f"listed with {base}/object/list/images"))
        settings = f'{{"poster": "{base}/object/public/images/p_{i}/poster.png", "fps": 24}}'
        conn.execute(
            "INSERT INTO video_generation_jobs VALUES (%s, %s, %s)",
            (i, f"{base}/object/sign/videos/p_{i}/job_{i}.mp4?token=t", settings),
        )
        conn.execute(
            "INSERT INTO mirrors VALUES (%s, %s)",
            (i, f"https://other.supabase.co/storage/v1/object/public/images/p_{i}/x.png"),
        )
        conn.execute('INSERT INTO app."Odd.Table" VALUES (%s, %s)', (f"k{i}", f"{base}/object/public/images/o{i}.png"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster) -> Iterator[Project]:
    name = f"init_app_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(postgres.dsn)
    # The session cluster trusts local connections, so a password is carried but never checked:
    # it is there to be looked for in every output.
    password = str(params.get("password") or "init-test-db-password-5d1f")
    dsn = f"postgresql://{params.get('user', 'postgres')}:{password}@{params['host']}:{params['port']}/{name}"
    try:
        with run_emulator(tmp_path_factory.mktemp("init-emulator")) as emulator:
            asyncio.run(_make_buckets(emulator))
            with psycopg.connect(dsn, autocommit=True) as conn:
                _fill(conn, emulator.url)
            yield Project(emulator, dsn, password)
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def init(
    project: Project, *args: str, cwd: Path, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`bucketshift init ...` with the project's variables (and `env`), none of the caller's own
    Supabase or database variables, and without `drop`; no secret may appear in what it prints."""
    ours = ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL")
    environment = {k: v for k, v in os.environ.items() if k not in ours}
    environment.update({"COLUMNS": "200", **project.env(), **(env or {})})
    done = subprocess.run(
        [EXE, "init", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={k: v for k, v in environment.items() if k not in drop},
    )
    for secret in project.secrets:
        assert secret not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def written(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The plan as our first users would write it: their prefix, their database."""
    work = tmp_path_factory.mktemp("init")
    done = init(project, "--prefix", "aiuteur-", "--dsn", project.dsn, cwd=work)
    assert done.returncode == 0, done.stderr
    return work / "bucketshift.toml", done


def test_the_plan_maps_every_bucket_with_its_access_and_prefixed_name(
    project: Project, written: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    path, done = written
    env = {"SUPABASE_SERVICE_ROLE_KEY": project.emulator.service_role_key, "DATABASE_URL": project.dsn}
    plan = load_plan(path, env=env)
    assert plan.source.url == project.emulator.url  # type: ignore[union-attr]
    assert plan.source.key.get_secret_value() == project.emulator.service_role_key  # type: ignore[union-attr]
    mapped = {m.source: (m.destination, m.access) for m in plan.buckets}
    assert mapped == {
        "asset-images": ("aiuteur-asset-images", "public-read"),
        "images": ("aiuteur-images", "public-read"),
        "videos": ("aiuteur-videos", "private"),
    }
    assert plan.destination.region == "us-east-1"  # type: ignore[union-attr]
    assert plan.destination.endpoint_url is None  # type: ignore[union-attr]
    assert "3 buckets" in done.stdout
    assert "(2 public-read, 1 private)" in done.stdout
    # The file names its secrets' variables: without them it does not load.
    with pytest.raises(ConfigError, match="SUPABASE_SERVICE_ROLE_KEY is not set"):
        load_plan(path, env={"DATABASE_URL": project.dsn})
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_plan(path, env={"SUPABASE_SERVICE_ROLE_KEY": "k"})


def test_the_plan_lists_the_columns_discovery_finds_and_only_those(
    project: Project, written: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    path, done = written
    plan = load_plan(path, env={"SUPABASE_SERVICE_ROLE_KEY": "k", "DATABASE_URL": project.dsn})
    assert plan.database is not None
    assert plan.database.dsn.get_secret_value() == project.dsn
    assert set(plan.database.columns) == EXPECTED_COLUMNS
    assert MENTIONS_ONLY not in plan.database.columns, "a column that only mentions the host holds no URL"
    assert OTHER_PROJECT not in plan.database.columns, "another project's URLs are not this project's"
    text = path.read_text(encoding="utf-8")
    assert f'"{MENTIONS_ONLY}" (5 rows)' in text, "the mention-only column is named in a comment"
    assert OTHER_PROJECT not in text
    with psycopg.connect(project.dsn) as conn:
        found = {c.name for c in resolve(conn, plan.database.columns)}
    assert found == {"global_assets.image_key_url", "video_generation_jobs.video_url",
                     "video_generation_jobs.settings", "app.Odd.Table.Image URL"}  # fmt: skip
    assert "global_assets.image_key_url (5 rows)" in done.stdout


def test_no_secret_is_written_only_the_variables_naming_them(
    project: Project, written: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    text = written[0].read_text(encoding="utf-8")
    for secret in (*project.secrets, project.dsn):
        assert secret not in text
    assert 'key = "${SUPABASE_SERVICE_ROLE_KEY}"' in text
    assert 'dsn = "${DATABASE_URL}"' in text
    assert "access_key_id" not in text
    assert "secret_access_key" not in text
    assert "AWS default chain" in text


def test_dry_run_prints_the_same_plan_and_writes_nothing(
    project: Project, written: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    done = init(project, "--prefix", "aiuteur-", "--dsn", project.dsn, "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == written[0].read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_without_a_database_the_section_is_left_for_later(project: Project, tmp_path: Path) -> None:
    done = init(project, "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan_file = tmp_path / "p.toml"
    plan_file.write_text(done.stdout, encoding="utf-8")
    plan = load_plan(plan_file, env={"SUPABASE_SERVICE_ROLE_KEY": "k"})
    assert plan.database is None
    assert {m.destination for m in plan.buckets} == set(BUCKETS), "no prefix: the Supabase names"
    assert '# dsn = "${DATABASE_URL}"' in done.stdout


def test_an_existing_file_is_refused_and_left_as_it_was(
    project: Project, written: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    target = tmp_path / "bucketshift.toml"
    before = b"# mine, hand-written\n[source]\r\n\x00 not even toml"
    target.write_bytes(before)
    done = init(project, "--prefix", "aiuteur-", "-o", str(target), cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists" in one_line(done)
    assert target.read_bytes() == before
    # The same command where no file was: written (the module's plan).
    assert written[0].read_text(encoding="utf-8").startswith("# The bucketshift plan")
    assert f"wrote {written[0].name}" in written[1].stdout


@pytest.mark.parametrize(("prefix", "ok"), [("Aiuteur_", False), ("app.v2-", True)])
def test_a_prefix_that_cannot_start_an_s3_name_is_one_line_and_exit_2(
    project: Project, tmp_path: Path, prefix: str, ok: bool
) -> None:
    done = init(project, "--prefix", prefix, cwd=tmp_path)
    if ok:
        assert done.returncode == 0, done.stderr
        assert "app.v2-videos" in done.stdout
        return
    assert done.returncode == 2
    assert f"--prefix {prefix!r} cannot start an S3 bucket name" in one_line(done)
    assert not (tmp_path / "bucketshift.toml").exists()


def test_an_unreachable_project_is_one_line(project: Project, tmp_path: Path) -> None:
    done = init(project, "--supabase-url", "http://127.0.0.1:1", cwd=tmp_path)
    assert done.returncode != 0
    line = one_line(done)
    assert "cannot reach Supabase Storage at 127.0.0.1:1" in line
    assert "connection refused" in line
    assert not (tmp_path / "bucketshift.toml").exists()


@pytest.mark.parametrize("which", ["missing", "anon"])
def test_the_key_comes_from_the_environment_and_must_be_the_service_role(
    project: Project, tmp_path: Path, which: str
) -> None:
    if which == "anon":
        done = init(project, cwd=tmp_path, env={"SUPABASE_SERVICE_ROLE_KEY": project.emulator.anon_key})
    else:
        done = init(project, cwd=tmp_path, drop=("SUPABASE_SERVICE_ROLE_KEY",))
    assert done.returncode == 2
    line = one_line(done)
    assert "SUPABASE_SERVICE_ROLE_KEY" in line
    assert ("is not set" in line) if which == "missing" else ("anon key" in line)
    assert project.emulator.anon_key not in done.stderr


def test_a_database_that_refuses_is_one_line_without_its_password(project: Project, tmp_path: Path) -> None:
    wrong = project.dsn.rsplit("/", 1)[0] + "/no_such_database"
    done = init(project, "--dsn", wrong, cwd=tmp_path)
    assert done.returncode == 2
    assert "no database no_such_database" in one_line(done)
    assert not (tmp_path / "bucketshift.toml").exists()


def test_check_provision_and_copy_dry_run_accept_the_plan_unchanged(
    project: Project, moto: MotoServer, tmp_path: Path
) -> None:
    done = init(project, "--prefix", "init-check-", "--endpoint-url", moto.endpoint_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "bucketshift.toml").read_bytes()
    env = {**os.environ, **project.env(), "COLUMNS": "200"}

    def run(*args: str, environment: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args, "-c", "bucketshift.toml"], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env=environment)  # fmt: skip

    checked = run("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("reachable") == 2
    assert "init-check-videos" in checked.stdout
    assert "warning" not in checked.stdout, "each bucket's access agrees with its public flag"
    provisioned = run("provision", "--yes")
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    copied = run("copy", "--dry-run")
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert (tmp_path / "bucketshift.toml").read_bytes() == written
    without_key = {k: v for k, v in env.items() if k != "SUPABASE_SERVICE_ROLE_KEY"}
    refused = run("check", environment=without_key)
    assert refused.returncode == 2
    assert "SUPABASE_SERVICE_ROLE_KEY is not set" in one_line(refused)

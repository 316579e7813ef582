"""The command line as a user runs it: a child process, its output and its exit status."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bucketshift.config import SupabaseEndpoint
from bucketshift.stores.registry import open_store

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"


def bucketshift(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
    )


def test_help_lists_the_verbs_that_exist() -> None:
    done = bucketshift("--help")
    assert done.returncode == 0
    listed = done.stdout.split("Commands:", 1)[1].splitlines()
    verbs = tuple(line.split()[0] for line in listed if line.startswith("  ") and line.strip())
    assert verbs == VERBS, "every verb that exists, in the order a migration uses them, and no other"


def test_missing_plan_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = bucketshift("check", "--config", str(tmp_path / "plan.toml"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "plan.toml not found" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[source\n", "not valid TOML"),
        ('[source]\ntype = "supabase"\n', "source.url: required field is missing"),
        (
            '[source]\ntype="supabase"\nurl="http://127.0.0.1:1"\nkey="${BUCKETSHIFT_UNSET_FOR_TEST}"\n',
            "environment variable BUCKETSHIFT_UNSET_FOR_TEST is not set",
        ),
    ],
)
def test_malformed_plan_file_is_one_line_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(text, encoding="utf-8")
    done = bucketshift("check", "--config", str(plan))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


def test_bad_usage_is_exit_2() -> None:
    assert bucketshift("no-such-verb").returncode == 2


VERBS = (
    "init", "check", "ls", "plan", "estimate", "provision", "copy", "sync", "verify", "reconcile", "rewrite-urls",
    "migrate", "status", "rollback", "app-env", "demo",
)  # fmt: skip


@pytest.mark.parametrize("verb", ["", *VERBS])
def test_help_shows_flags_as_plain_flags_and_values_with_their_type(verb: str) -> None:
    done = bucketshift(*([verb] if verb else []), "--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    options = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("-")]
    signatures = {re.split(r"\s{2,}", line)[0].split(", ")[-1] for line in options}
    flags = {"--help", "--json", "--dry-run", "--yes", "--version", "--deep", "--keep-placeholders", "--apply"}
    shown = {s.split()[0] for s in signatures} & flags
    assert "--help" in shown
    assert shown <= signatures, "a flag is shown alone, with no value after it"
    if verb in ("copy", "sync", "verify"):
        assert "--concurrency <int range>" in signatures, "an option that takes a value still says which"


def test_the_cli_unwraps_a_task_groups_errors_when_all_are_ours() -> None:
    from bucketshift.cli.main import _ours
    from bucketshift.errors import ConfigError, TransientError

    first = ConfigError("no AWS credentials found")
    assert _ours(ExceptionGroup("g", [first, ExceptionGroup("h", [TransientError("x")])])) is first
    assert _ours(ExceptionGroup("g", [first, ValueError("a bug")])) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["rewrite-urls", "3"], "a run number only goes with --revert"),
        (["rewrite-urls", "--apply", "--run", "3"], "a run number only goes with --revert"),
        (["rewrite-urls", "--revert", "3", "--run", "4"], "two runs to revert given (3 and --run 4)"),
        (["rewrite-urls", "--apply", "--revert"], "choose one of --apply, --revert"),
    ],
)
def test_rewrite_urls_usage_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    done = bucketshift(*args, "--config", str(tmp_path / "never-read.toml"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


PLAN = """
[source]
type = "supabase"
url = "{url}"
key = "${{TEST_SERVICE_KEY}}"

[destination]
type = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[[buckets]]
source = "cli-images"
access = "public-read"

[[buckets]]
source = "cli-videos"
access = "private"
"""


@pytest.fixture(scope="module")
async def cli_plan(emulator, moto, tmp_path_factory: pytest.TempPathFactory) -> Path:
    endpoint = SupabaseEndpoint(type="supabase", url=emulator.url, key=emulator.service_role_key)
    async with open_store(endpoint) as store:
        await store.create_bucket("cli-images", public=True)
        await store.create_bucket("cli-videos", public=False)
        for i in range(3):
            await store.put(
                "cli-images", f"project_1/master-assets/img_{i}.png", b"png" * (i + 1), content_type="image/png"
            )
    path = tmp_path_factory.mktemp("cli") / "plan.toml"
    path.write_text(PLAN.format(url=emulator.url, endpoint=moto.endpoint_url), encoding="utf-8")
    return path


def test_check_reaches_both_sides_and_never_prints_the_key(cli_plan: Path, emulator) -> None:
    done = bucketshift("check", "--config", str(cli_plan), env={"TEST_SERVICE_KEY": emulator.service_role_key})
    assert done.returncode == 0, done.stderr
    assert "source (supabase): reachable" in done.stdout
    assert "destination (s3): reachable" in done.stdout
    assert "cli-videos" in done.stdout
    assert emulator.service_role_key not in done.stdout + done.stderr


def test_check_with_a_wrong_key_reports_the_source_unreachable(cli_plan: Path, emulator) -> None:
    done = bucketshift("check", "--config", str(cli_plan), "--json", env={"TEST_SERVICE_KEY": "wrong-key"})
    assert done.returncode == 1
    assert '"source_error": "' in done.stdout
    assert "wrong-key" not in done.stdout + done.stderr


def test_ls_lists_and_counts(cli_plan: Path, emulator) -> None:
    done = bucketshift(
        "ls", "cli-images", "--config", str(cli_plan), env={"TEST_SERVICE_KEY": emulator.service_role_key}
    )
    assert done.returncode == 0, done.stderr
    assert "project_1/master-assets/img_2.png" in done.stdout
    assert "3 objects, 18 B" in done.stdout


def test_ls_of_a_bucket_not_in_the_plan_is_one_line(cli_plan: Path, emulator) -> None:
    done = bucketshift("ls", "other", "--config", str(cli_plan), env={"TEST_SERVICE_KEY": emulator.service_role_key})
    assert done.returncode == 2
    assert "bucket 'other' is not in the plan file" in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["copy", "--overwrite-destination-changes", "--keep-destination-changes"], "contradict each other"),
        (["sync", "--overwrite-destination-changes", "--keep-destination-changes"], "contradict each other"),
        (["copy", "--list-from-db", "--list-from-api"], "contradict each other"),
        (["verify", "--list-from-db", "--list-from-api"], "contradict each other"),
    ],
)
def test_flags_that_contradict_each_other_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    done = bucketshift(*args, "--config", str(tmp_path / "never-read.toml"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]
    assert not list(tmp_path.iterdir()), "nothing written"

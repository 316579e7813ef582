"""`init` against the demo's project writes a plan file that `migrate --dry-run` takes as it is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bucketshift.operations.demo import demo_environment
from bucketshift.stores.base import PLACEHOLDER_NAME
from bucketshift_sandbox.app_database import URL_COLUMNS
from bucketshift_sandbox.seed import SeedPlan

EXE = shutil.which("bucketshift", path=str(Path(sys.executable).parent)) or "bucketshift"
SMALL = SeedPlan(projects=1, branches=1, assets_per_branch=4, frames_per_branch=5, videos_per_branch=1,
                 big_folder_entries=3, special_keys=False)  # fmt: skip


def test_init_on_the_demo_project_gives_a_plan_migrate_dry_run_accepts_unchanged(tmp_path: Path) -> None:
    with demo_environment(tmp_path / "demo", seed=SMALL) as demo:
        assert demo.database_dsn is not None, demo.no_database
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "DATABASE_URL"))}
        env = {**clean, "COLUMNS": "200", "SUPABASE_SERVICE_ROLE_KEY": demo.emulator.service_role_key}

        def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                                  env={**env, **extra}, check=False)  # fmt: skip

        made = run("init", "--supabase-url", demo.emulator.url, "--endpoint-url", demo.moto.endpoint_url,
                   "--prefix", "fresh-", "--dsn", demo.database_dsn)  # fmt: skip
        assert made.returncode == 0, made.stderr
        plan = tmp_path / "bucketshift.toml"
        written = plan.read_bytes()
        text = written.decode()
        holding = {column for column, rows in demo.database_rows.items() if rows}
        assert holding, demo.database_rows
        for column in URL_COLUMNS:
            assert (f'"{column}"' in text) == (column in holding), column
        assert demo.database_dsn not in text
        assert demo.emulator.service_role_key not in text

        refused = run("migrate", "--dry-run", "--json", "-c", str(plan))
        assert refused.returncode == 2, "the plan names DATABASE_URL; without it, one line and exit 2"
        assert "DATABASE_URL" in refused.stderr

        shown = run("migrate", "--dry-run", "--json", "-c", str(plan), DATABASE_URL=demo.database_dsn)
        assert shown.returncode == 0, shown.stderr
        preview = json.loads(shown.stdout)
        steps = [s["name"] for s in preview["steps"]]
        assert steps == ["provision", "copy", "verify", "rewrite-urls", "verify-after-rewrite"]
        new = {b["source"]: b["objects"] for b in preview["steps"][1]["new_buckets"]}
        seeded = {b: [k for k in demo.seeded.keys(b) if not k.endswith(PLACEHOLDER_NAME)] for b in new}
        assert new == {b: len(keys) for b, keys in seeded.items()}
        assert set(new) == {"asset-images", "images", "videos"}
        estimated = {b["source_bucket"]: b["objects_to_copy"] for b in preview["estimate"]["buckets"]}
        assert estimated == new
        rewrite = {c["column"]: c for c in preview["steps"][3]["rewrite"]["columns"]}
        assert set(rewrite) == holding
        assert plan.read_bytes() == written, "the file is taken as it is"
        assert not (tmp_path / "bucketshift.manifest.sqlite3").exists(), "a dry run writes no manifest"

"""The phase's step records: what a rerun of `migrate` or `rollback` skips and what it resumes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bucketshift.engine.manifest import SCHEMA_VERSION, Manifest, StepState


def test_steps_are_kept_per_phase_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with Manifest(path) as manifest:
        manifest.start_step("migrate", "provision")
        manifest.finish_step("migrate", "provision", '{"changes": 3}')
        manifest.start_step("migrate", "copy")
        manifest.start_step("rollback", "copy-back")
        manifest.fail_step("rollback", "copy-back", "source unreachable")
    with Manifest(path, read_only=True) as manifest:
        migrate = manifest.steps("migrate")
        rollback = manifest.steps("rollback")
    assert {name: step.state for name, step in migrate.items()} == {
        "provision": StepState.DONE,
        "copy": StepState.STARTED,
    }
    assert migrate["provision"].detail == '{"changes": 3}'
    assert migrate["provision"].finished_at is not None
    assert migrate["copy"].finished_at is None
    assert (rollback["copy-back"].state, rollback["copy-back"].detail) == (StepState.FAILED, "source unreachable")


def test_a_step_started_again_forgets_its_last_outcome_and_clear_forgets_the_phase(tmp_path: Path) -> None:
    with Manifest(tmp_path / "m.sqlite3") as manifest:
        manifest.start_step("migrate", "copy")
        manifest.fail_step("migrate", "copy", "boom")
        manifest.start_step("migrate", "copy")
        step = manifest.steps("migrate")["copy"]
        assert (step.state, step.detail, step.finished_at) == (StepState.STARTED, None, None)
        manifest.start_step("rollback", "revert")
        manifest.clear_steps("migrate")
        assert manifest.steps("migrate") == {}
        assert set(manifest.steps("rollback")) == {"revert"}


def test_a_step_is_committed_before_the_call_returns(tmp_path: Path) -> None:
    """A kill right after `start_step` must find the step started: nothing waits for the flusher."""
    path = tmp_path / "m.sqlite3"
    manifest = Manifest(path, flush_seconds=3600)
    try:
        manifest.start_step("migrate", "verify")
        seen = sqlite3.connect(path).execute("SELECT state FROM steps WHERE name = 'verify'").fetchall()
        assert seen == [("started",)]
    finally:
        manifest.close()


def test_a_version_2_manifest_is_upgraded_keeping_its_objects(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with Manifest(path) as manifest:
        manifest.mark_verified("m", [])
        manifest.mark_failed("m", "k", "x", 1)
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE steps; UPDATE schema_info SET version = 2;")
    db.close()
    with Manifest(path) as manifest:
        assert manifest.counts("m") == {"failed": 1}
        assert manifest.steps("migrate") == {}
        manifest.start_step("migrate", "copy")
    assert sqlite3.connect(path).execute("SELECT version FROM schema_info").fetchone() == (SCHEMA_VERSION,)

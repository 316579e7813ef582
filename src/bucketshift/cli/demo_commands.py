"""`bucketshift demo`: the whole phase on this machine, as a user runs it against production.

`migrate`, the app writing new files during the cut-over (mirror) and after it (S3), `status`,
`rollback`, `status` again, and the report: each verb's own runner and output, in that order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render, render_demo, render_migrate, render_status
from bucketshift.cli.migrate_commands import run_migrate
from bucketshift.cli.render_rollback import rollback_report
from bucketshift.cli.report_commands import save_report
from bucketshift.cli.rollback_commands import run_rollback
from bucketshift.errors import EXIT_FAILURES
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.demo import DemoEnvironment, demo_environment, demo_landing
from bucketshift.operations.demo_app import media_service, repository_examples, upload_through_service
from bucketshift.operations.migrate import MigrateRequest, MigrateRun
from bucketshift.operations.report import migrate_report
from bucketshift.operations.rollback import RollbackRequest, RollbackRun
from bucketshift.operations.status import StatusReport, StatusRequest, status
from bucketshift.operations.verify import VerifyRequest, VerifyRun

__all__ = ["register"]


def _status(env: DemoEnvironment) -> StatusReport:
    report = eventloop.run(status(env.plan, StatusRequest()))
    render_status.checklist(report)
    return report


def _app_writes(env: DemoEnvironment) -> None:
    """New files through the reference service: during the cut-over (mirror, S3 primary), the cut-over
    pass that records them, then on S3 alone."""
    render_demo.heading(2, "the app during the cut-over", "STORAGE_BACKEND=mirror, STORAGE_PRIMARY=s3: both sides")
    with media_service(env, "mirror", "s3") as base:
        render_demo.app_uploads(eventloop.run(upload_through_service(base, env, 1)))
    render_demo.heading(3, "sync, verify", "the cut-over pass: what the source got since the copy, then checked")
    started = time.monotonic()
    work = CopyRun(env.plan, CopyRequest(mode="sync", reconcile=False))
    eventloop.run(work.run())
    render.transfer_summary(work.reports, mode="sync", dry_run=False, elapsed=time.monotonic() - started)
    checked = VerifyRun(env.plan, VerifyRequest())
    eventloop.run(checked.run())
    render.verify_summary(checked.reports)
    render_demo.heading(4, "the app on S3", "STORAGE_BACKEND=s3: new files land in S3 only")
    with media_service(env, "s3") as base:
        render_demo.app_uploads(eventloop.run(upload_through_service(base, env, 2)))


def demo(
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where the demo keeps its servers' data (default: a temp dir).")
    ] = None,
) -> None:
    """Run the whole phase on this machine: migrate, the app's new files, status, rollback, a report."""
    render.out.print("[bold]bucketshift demo[/bold]: starting a Supabase Storage emulator and moto (S3) on 127.0.0.1")
    with demo_environment(workdir) as env:
        counts = {b: len(env.seeded.keys(b)) for b in ("asset-images", "images", "videos")}
        render.demo_intro(env.emulator.url, env.moto.endpoint_url, env.plan_path, counts, env.database_rows)
        render_demo.heading(1, "migrate --yes", "provision, copy, verify, rewrite the app's URLs, verify again")
        work = MigrateRun(env.plan, MigrateRequest(yes=True, estimate_before_copy=True))
        eventloop.run(run_migrate(work, False))
        render_migrate.summary(work)
        if not work.ok:
            raise typer.Exit(work.exit_code or EXIT_FAILURES)
        manifest = env.plan_path.with_name("bucketshift.manifest.sqlite3")
        render.demo_landing(eventloop.run(demo_landing(env)), manifest=str(manifest))
        report = migrate_report(work)
        if env.no_database is not None:
            render_demo.note(f"the app's new files and its URLs are not shown: {env.no_database}")
        elif repository_examples() is None:
            render_demo.note("the reference media service lives in a clone's examples/; its new files are not shown")
        else:
            _app_writes(env)
        render_demo.heading(5, "status", "the phase's checklist, each line read now from both sides and the database")
        _status(env)
        render_demo.heading(6, "rollback --yes", "copy back what the app wrote on S3, put the URLs back, verify")
        back = run_rollback(RollbackRun(env.plan, RollbackRequest()))
        rollback_report(back)
        render_demo.heading(
            7, "status", "after the rollback the app is on Supabase again, so the move's checklist is open again"
        )
        _status(env)
        page = env.workdir / "report.html"
        save_report(page, report)
        render_demo.where("plan file", str(env.plan_path))
        render.demo_end()
    if not back.ok:
        raise typer.Exit(EXIT_FAILURES)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

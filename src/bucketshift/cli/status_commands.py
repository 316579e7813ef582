"""`bucketshift status`: the phase's checklist, ticked from live facts; exit 1 when a line is not.

Thin: parse the options, call the operation, render its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render, render_status
from bucketshift.cli.report_commands import ReportOption, save_report
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.config import load_plan
from bucketshift.errors import EXIT_FAILURES
from bucketshift.operations.report import status_report
from bucketshift.operations.status import StatusRequest, status

__all__ = ["register"]

DEFAULT_PLAN = Path("bucketshift.toml")


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        config: Annotated[
            Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG")
        ] = DEFAULT_PLAN,
        state: StateOption = None,
        bucket: Annotated[
            list[str] | None, typer.Option("--bucket", "-b", help="Only this bucket mapping (repeatable).")
        ] = None,
        iam_user: Annotated[
            str | None, typer.Option("--iam-user", help="Also check this IAM user's policy (as provision made it).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        report_path: ReportOption = None,
    ) -> None:
        """The phase's checklist, each line read now from S3, the source, the manifest and the app's database."""
        request = StatusRequest(state=state, buckets=bucket, iam_user=iam_user)
        plan = warn_state(load_plan(config), state)
        report = eventloop.run(status(plan, request))
        if json_output:
            render.emit_json(render_status.status_json(report))
        else:
            render_status.checklist(report)
        if report_path is not None:
            save_report(report_path, status_report(plan, request, report))
        if not report.ok:
            raise typer.Exit(EXIT_FAILURES)

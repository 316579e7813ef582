"""`--report PATH` for the verbs that write one: the option, and writing the page after the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bucketshift.cli import render
from bucketshift.operations.report import destination_posture, verify_report, write_report
from bucketshift.operations.verify import VerifyRun
from bucketshift.report.model import Report

__all__ = ["ReportOption", "report_verify", "save_report"]

ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Also write what the run did as one self-contained HTML page here."),
]


def save_report(path: Path, report: Report) -> None:
    """Write the page and say where, on stderr (stdout may be carrying --json)."""
    written = write_report(path, report)
    render.err.print(Text.assemble("report written to ", (str(written.resolve()), "bold")))


def report_verify(work: VerifyRun, path: Path) -> None:
    """After `verify`: the manifest's numbers with what this verify found, and each bucket's exposure."""
    report = verify_report(work.plan, work.request.state, work.reports, destination_posture(work.plan))
    save_report(path, report)

"""`--state`, shared by every verb that reads or writes the manifest, and the one warning about it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from bucketshift.cli import render
from bucketshift.config import Plan
from bucketshift.operations.context import state_warning

__all__ = ["StateOption", "warn_state"]

StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        envvar="BUCKETSHIFT_STATE",
        help="The manifest: a file (default: beside the plan file) or a postgresql:// DSN workers share.",
    ),
]
"""A string, not a Path: a Path would fold `postgresql://` into `postgresql:/`.  The environment
variable keeps a DSN and its password off the command line."""


def warn_state(plan: Plan, state: str | None) -> Plan:
    """Say on stderr when the state is the source project's own database; returns `plan`."""
    warning = state_warning(plan, state)
    if warning is not None:
        render.err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    return plan

"""`bucketshift estimate`: what a copy will move, request, cost and take, before a byte moves.

Thin: parse the options, call the operation, render its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render
from bucketshift.cli.render_estimate import estimate_json, estimate_table
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.config import load_plan
from bucketshift.engine.shard import parse_shard
from bucketshift.errors import UsageError
from bucketshift.operations.context import ListFrom
from bucketshift.operations.estimate import estimate

__all__ = ["register"]

DEFAULT_PLAN = Path("bucketshift.toml")


def _list_from(db: bool, api: bool) -> ListFrom:
    if db and api:
        raise UsageError("--list-from-db and --list-from-api contradict each other; give one")
    return "db" if db else "api" if api else "auto"


def estimate_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG")] = (
        DEFAULT_PLAN
    ),
    state: StateOption = None,
    bucket: Annotated[
        list[str] | None, typer.Option("--bucket", "-b", help="Only this bucket mapping (repeatable).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=1024, help="Objects in flight (default: plan file).")
    ] = None,
    keep_placeholders: Annotated[
        bool, typer.Option("--keep-placeholders", help="Count .emptyFolderPlaceholder objects as copied too.")
    ] = False,
    list_from_db: Annotated[bool, typer.Option("--list-from-db", help="List the source from storage.objects.")] = False,
    list_from_api: Annotated[
        bool, typer.Option("--list-from-api", help="List the source through the Storage API even with a dsn.")
    ] = False,
    no_reconcile: Annotated[
        bool, typer.Option("--no-reconcile", help="As copy --no-reconcile: no second listing to compare.")
    ] = False,
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help="Leave the time out (no probe of the endpoints).")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Only the objects `copy --shard K/N` would take."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Objects, bytes, requests, cost and time of the copy, from the listing and a short probe; writes nothing."""
    plan = warn_state(load_plan(config), state)
    result = eventloop.run(
        estimate(
            plan, state=state, only=bucket, list_from=_list_from(list_from_db, list_from_api),
            probe=not no_probe, reconcile=not no_reconcile, keep_placeholders=keep_placeholders,
            concurrency=concurrency, shard=None if shard is None else parse_shard(shard),
        )
    )  # fmt: skip
    if json_output:
        render.emit_json(estimate_json(result))
    else:
        estimate_table(result)


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate_command)

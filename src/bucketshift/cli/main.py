"""`bucketshift`: thin commands over the operations; errors become one line and an exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bucketshift import __version__
from bucketshift.cli import render
from bucketshift.config import Plan, load_plan
from bucketshift.errors import EXIT_FAILURES, BucketshiftError
from bucketshift.operations.check import check as check_op
from bucketshift.operations.listing import list_objects

T = TypeVar("T")

app = typer.Typer(
    name="bucketshift",
    help="Move an application's object storage from Supabase Storage to S3 (and back).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _plan(path: Path) -> Plan:
    return load_plan(path)


def _run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


def _version(value: bool) -> None:
    if value:
        print(f"bucketshift {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Move an application's object storage from Supabase Storage to S3 (and back)."""


@app.command()
def check(config: ConfigOption = Path("bucketshift.toml"), json_output: JsonOption = False) -> None:
    """Validate the plan file and reach both sides; nothing is changed."""
    plan = _plan(config)
    result = _run(lambda: check_op(plan))
    render.emit_json(result) if json_output else render.check(result)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURES)


@app.command("ls")
def ls(
    bucket: Annotated[str, typer.Argument(help="A bucket of the plan (source or destination name).")],
    prefix: Annotated[str, typer.Argument(help="Only keys that start with this.")] = "",
    config: ConfigOption = Path("bucketshift.toml"),
    destination: Annotated[bool, typer.Option("--destination", help="List the destination side.")] = False,
    limit: Annotated[int, typer.Option(help="How many objects to show (all are counted).", min=0)] = 50,
    json_output: JsonOption = False,
) -> None:
    """List a bucket completely, as bucketshift sees it (all pages, all folders)."""
    plan = _plan(config)
    side = "destination" if destination else "source"
    result = _run(lambda: list_objects(plan, side, bucket, prefix, limit))
    render.emit_json(result) if json_output else render.listing(result)


def run(argv: list[str] | None = None) -> Any:
    """Console entry point: known errors become one sentence on stderr and their exit code."""
    try:
        return app(args=argv, standalone_mode=True)
    except BucketshiftError as exc:
        render.err.print(f"[red]error:[/red] {exc.message}", markup=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        render.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("BUCKETSHIFT_DEBUG"):
            raise
        render.err.print(
            f"internal error: {type(exc).__name__}: {exc} (set BUCKETSHIFT_DEBUG=1 for the traceback)", markup=False
        )
        sys.exit(EXIT_FAILURES)


if __name__ == "__main__":
    run()

"""`bucketshift`: thin commands over the operations; errors become one line and an exit code."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bucketshift import __version__
from bucketshift.cli import render
from bucketshift.cli.progress import Row, live
from bucketshift.config import Plan, load_plan
from bucketshift.engine.pacing import parse_rate
from bucketshift.errors import EXIT_FAILURES, BucketshiftError, UsageError
from bucketshift.operations.check import check as check_op
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.demo import demo_environment, demo_landing
from bucketshift.operations.listing import list_objects
from bucketshift.operations.verify import VerifyRequest, VerifyRun

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


StateOption = Annotated[Path | None, typer.Option("--state", help="The manifest file (default: beside the plan file).")]
BucketsOption = Annotated[
    list[str] | None, typer.Option("--bucket", "-b", help="Only this bucket mapping (repeatable).")
]
ConcurrencyOption = Annotated[
    int | None, typer.Option("--concurrency", min=1, max=1024, help="Objects in flight (default: plan file).")
]
PlaceholdersOption = Annotated[
    bool, typer.Option("--keep-placeholders", help="Also copy .emptyFolderPlaceholder objects.")
]


def _transfer_rows(run: CopyRun) -> list[Row]:
    rows = []
    for r in run.reports:
        s = r.stats
        note = "" if s.listing_done else f"listing ({s.listed} seen)"
        rows.append(
            Row(
                r.spec.source_bucket,
                s.copied + s.failed,
                s.to_copy if s.listing_done else None,
                s.bytes_moved,
                s.failed,
                note,
            )
        )
    return rows


def _transfer(
    mode: str,
    config: Path,
    dry_run: bool,
    concurrency: int | None,
    keep_placeholders: bool,
    max_rps: float | None,
    bandwidth: str | None,
    state: Path | None,
    buckets: list[str] | None,
    json_output: bool,
) -> None:
    plan = _plan(config)
    _transfer_plan(plan, mode, dry_run, concurrency, keep_placeholders, max_rps, bandwidth, state, buckets, json_output)


def _transfer_plan(
    plan: Plan,
    mode: str,
    dry_run: bool,
    concurrency: int | None,
    keep_placeholders: bool,
    max_rps: float | None,
    bandwidth: str | None,
    state: Path | None,
    buckets: list[str] | None,
    json_output: bool,
    *,
    exit_on_failure: bool = True,
) -> None:
    try:
        rate = parse_rate(bandwidth) if bandwidth else None
    except ValueError as exc:
        raise UsageError(f"--bandwidth: {exc}") from None
    request = CopyRequest(
        mode=mode,
        dry_run=dry_run,
        concurrency=concurrency,
        keep_placeholders=keep_placeholders,
        max_requests_per_second=max_rps,
        bandwidth=rate,
        state=state,
        buckets=buckets,
    )
    work = CopyRun(plan, request)

    async def go() -> None:
        async with live(render.err, lambda: _transfer_rows(work), enabled=not dry_run):
            await work.run()

    started = time.monotonic()
    asyncio.run(go())
    if json_output:
        render.emit_json(
            render.transfer_json(work.reports, mode=mode, dry_run=dry_run, manifest=str(work.manifest_path))
        )
    else:
        render.transfer_summary(work.reports, mode=mode, dry_run=dry_run, elapsed=time.monotonic() - started)
    if work.failed and exit_on_failure:
        raise typer.Exit(EXIT_FAILURES)


DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would be copied; write nothing.")]
RpsOption = Annotated[
    float | None, typer.Option("--max-requests-per-second", min=0.1, help="Cap on requests to the source.")
]
BandwidthOption = Annotated[str | None, typer.Option("--bandwidth", help="Cap on bytes moved, e.g. 50MB/s.")]


@app.command()
def copy(
    config: ConfigOption = Path("bucketshift.toml"),
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = None,
    keep_placeholders: PlaceholdersOption = False,
    max_requests_per_second: RpsOption = None,
    bandwidth: BandwidthOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Copy every object that is missing or different at the destination; resumable."""
    _transfer(
        "copy",
        config,
        dry_run,
        concurrency,
        keep_placeholders,
        max_requests_per_second,
        bandwidth,
        state,
        bucket,
        json_output,
    )


@app.command()
def sync(
    config: ConfigOption = Path("bucketshift.toml"),
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = None,
    keep_placeholders: PlaceholdersOption = False,
    max_requests_per_second: RpsOption = None,
    bandwidth: BandwidthOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    json_output: JsonOption = False,
) -> None:
    """The cut-over pass: copy only what is new or changed at the source since the last copy; never deletes."""
    _transfer(
        "sync",
        config,
        dry_run,
        concurrency,
        keep_placeholders,
        max_requests_per_second,
        bandwidth,
        state,
        bucket,
        json_output,
    )


def _verify_rows(run: VerifyRun) -> list[Row]:
    return [
        Row(
            r.spec.source_bucket,
            r.stats.checked,
            None if not r.stats.listing_done else r.stats.checked,
            r.stats.hashed_bytes,
            r.stats.missing + r.stats.differing,
        )
        for r in run.reports
    ]


@app.command()
def verify(
    config: ConfigOption = Path("bucketshift.toml"),
    deep: Annotated[bool, typer.Option("--deep", help="Re-read and hash every destination object.")] = False,
    keep_placeholders: PlaceholdersOption = False,
    concurrency: ConcurrencyOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check every source object is at the destination with the same size and sha256; exit 1 if not."""
    plan = _plan(config)
    request = VerifyRequest(
        deep=deep, keep_placeholders=keep_placeholders, concurrency=concurrency, state=state, buckets=bucket
    )
    work = VerifyRun(plan, request)
    _run_verify(work, json_output=json_output)
    if not work.ok:
        raise typer.Exit(EXIT_FAILURES)


def _run_verify(work: VerifyRun, *, json_output: bool) -> None:
    async def go() -> None:
        async with live(render.err, lambda: _verify_rows(work)):
            await work.run()

    asyncio.run(go())
    render.emit_json(render.verify_json(work.reports)) if json_output else render.verify_summary(work.reports)


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where the demo keeps its servers' data (default: a temp dir).")
    ] = None,
) -> None:
    """Run a whole migration on this machine: local Supabase emulator -> local S3 (moto)."""
    render.out.print("[bold]bucketshift demo[/bold]: starting a Supabase Storage emulator and moto (S3) on 127.0.0.1")
    with demo_environment(workdir) as env:
        counts = {b: len(env.seeded.keys(b)) for b in ("asset-images", "images", "videos")}
        render.demo_intro(env.emulator.url, env.moto.endpoint_url, env.plan_path, counts)
        render.out.print("\n[bold]1. copy[/bold]: every object, streamed, with its metadata and sha256")
        _transfer_plan(env.plan, "copy", False, None, False, None, None, None, None, False, exit_on_failure=False)
        render.out.print("\n[bold]2. verify[/bold]: every source object at the destination, same size and sha256")
        work = VerifyRun(env.plan, VerifyRequest())
        _run_verify(work, json_output=False)
        landed = asyncio.run(demo_landing(env))
        render.demo_landing(landed, manifest=str(env.plan_path.with_name("bucketshift.manifest.sqlite3")))
    if not work.ok:
        raise typer.Exit(EXIT_FAILURES)


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

"""`bucketshift`: thin commands over the operations; errors become one line and an exit code."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.text import Text
from typer.core import TyperGroup

from bucketshift import __version__, eventloop, heap
from bucketshift.cli import render
from bucketshift.cli.app_commands import register as register_app_env
from bucketshift.cli.demo_commands import register as register_demo
from bucketshift.cli.estimate_commands import register as register_estimate
from bucketshift.cli.init_commands import register as register_init
from bucketshift.cli.migrate_commands import register as register_migrate
from bucketshift.cli.progress import live
from bucketshift.cli.progress_rows import transfer_rows, verify_rows
from bucketshift.cli.provision_commands import register, run_posture
from bucketshift.cli.render_shard import shard_json, transfer_shard_line, verify_shard_line
from bucketshift.cli.render_workers import worker_json, worker_line
from bucketshift.cli.report_commands import ReportOption, report_verify
from bucketshift.cli.rewrite_commands import register as register_rewrite
from bucketshift.cli.rollback_commands import register as register_rollback
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.cli.status_commands import register as register_status
from bucketshift.config import Plan, load_plan
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.engine.pacing import parse_rate
from bucketshift.engine.shard import Shard, parse_shard
from bucketshift.engine.shared_run import DEFAULT_LEASE_SECONDS
from bucketshift.errors import EXIT_FAILURES, BucketshiftError, UsageError
from bucketshift.operations.check import check as check_op
from bucketshift.operations.context import ListFrom
from bucketshift.operations.copy import CopyRequest, CopyRun, Mode
from bucketshift.operations.listing import list_objects
from bucketshift.operations.reconcile import reconcile_plan
from bucketshift.operations.verify import VerifyRequest, VerifyRun

PHASE_ORDER = (
    "init", "check", "ls", "plan", "estimate", "provision", "copy", "sync", "verify", "reconcile", "rewrite-urls",
    "migrate", "status", "rollback", "app-env", "demo",
)  # fmt: skip
"""The verbs as the help lists them: in the order a migration uses them, not the order they were written."""


class _InPhaseOrder(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        known = {name: i for i, name in enumerate(PHASE_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: known.get(name, len(known)))


app = typer.Typer(
    cls=_InPhaseOrder,
    name="bucketshift",
    help="Move an application's object storage from Supabase Storage to S3 (and back).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich help labels every flag `<bool>` as if it took a value, and
    # reads help texts as markup.
    rich_markup_mode=None,
)
register(app)
register_rewrite(app)
register_app_env(app)
register_estimate(app)
register_init(app)
register_migrate(app)
register_status(app)
register_demo(app)
register_rollback(app)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG", show_default=True)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
BucketsOption = Annotated[
    list[str] | None, typer.Option("--bucket", "-b", help="Only this bucket mapping (repeatable).")
]
ConcurrencyOption = Annotated[
    int | None, typer.Option("--concurrency", min=1, max=1024, help="Objects in flight (default: plan file).")
]
PlaceholdersOption = Annotated[
    bool, typer.Option("--keep-placeholders", help="Also copy .emptyFolderPlaceholder objects.")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would be copied; write nothing.")]
RpsOption = Annotated[
    float | None, typer.Option("--max-requests-per-second", min=0.1, help="Cap on requests to the source.")
]
BandwidthOption = Annotated[str | None, typer.Option("--bandwidth", help="Cap on bytes moved, e.g. 50MB/s.")]
ListFromDbOption = Annotated[
    bool,
    typer.Option("--list-from-db", help="List the source from storage.objects (the default when [source] has a dsn)."),
]
ListFromApiOption = Annotated[
    bool, typer.Option("--list-from-api", help="List the source through the Storage API even when [source] has a dsn.")
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite-destination-changes",
        help="Objects the app changed at the destination: write the source's version over them.",
    ),
]
KeepOption = Annotated[
    bool,
    typer.Option(
        "--keep-destination-changes",
        help="Objects the app changed at the destination: keep them, recorded as done for verify and rewrite-urls.",
    ),
]
NoReconcileOption = Annotated[
    bool, typer.Option("--no-reconcile", help="Skip comparing the API listing with storage.objects first.")
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Only the objects whose key hashes to K modulo N (0-based, as rclone's --hash-filter): "
        "run 0/N .. N-1/N on N machines.",
    ),
]
LeaseOption = Annotated[
    float,
    typer.Option(
        "--lease",
        metavar="SECONDS",
        min=1.0,
        help="With a postgresql:// --state (workers share the run): how long a worker's claims hold without "
        "renewal; a killed worker's objects go to the others after this.",
    ),
]
DEFAULT_PLAN = Path("bucketshift.toml")


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
def check(config: ConfigOption = DEFAULT_PLAN, json_output: JsonOption = False) -> None:
    """Validate the plan file and reach both sides; nothing is changed."""
    result = eventloop.run(check_op(load_plan(config)))
    render.emit_json(result) if json_output else render.check(result)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURES)


@app.command("ls")
def ls(
    bucket: Annotated[str, typer.Argument(help="A bucket of the plan (source or destination name).")],
    prefix: Annotated[str, typer.Argument(help="Only keys that start with this.")] = "",
    config: ConfigOption = DEFAULT_PLAN,
    destination: Annotated[bool, typer.Option("--destination", help="List the destination side.")] = False,
    limit: Annotated[int, typer.Option(help="How many objects to show (all are counted).", min=0)] = 50,
    json_output: JsonOption = False,
) -> None:
    """List a bucket completely, as bucketshift sees it (all pages, all folders)."""
    side = "destination" if destination else "source"
    result = eventloop.run(list_objects(load_plan(config), side, bucket, prefix, limit))
    render.emit_json(result) if json_output else render.listing(result)


def _list_from(db: bool, api: bool) -> ListFrom:
    if db and api:
        raise UsageError("--list-from-db and --list-from-api contradict each other; give one")
    return "db" if db else "api" if api else "auto"


def _on_conflict(overwrite: bool, keep: bool) -> ConflictPolicy:
    if overwrite and keep:
        raise UsageError(
            "--overwrite-destination-changes and --keep-destination-changes contradict each other; give one"
        )
    return "overwrite" if overwrite else "keep" if keep else "report"


def _rate(bandwidth: str | None) -> float | None:
    try:
        return parse_rate(bandwidth) if bandwidth else None
    except ValueError as exc:
        raise UsageError(f"--bandwidth: {exc}") from None


def _shard(text: str | None) -> Shard | None:
    return None if text is None else parse_shard(text)


def _run_transfer(plan: Plan, request: CopyRequest, *, json_output: bool) -> CopyRun:
    work = CopyRun(plan, request)

    async def go() -> None:
        async with live(render.err, lambda: transfer_rows(work), enabled=not request.dry_run):
            await work.run()

    started = time.monotonic()
    eventloop.run(go())
    if json_output:
        result = render.transfer_json(work, manifest=work.manifest_where)
        render.emit_json(worker_json(shard_json(result, request.shard, work.reports), work))
    else:
        render.reconciled(work.reconciled)
        render.transfer_summary(
            work.reports, mode=request.mode, dry_run=request.dry_run, elapsed=time.monotonic() - started
        )
        transfer_shard_line(request.shard, work.reports)
        worker_line(work)
    return work


def _transfer_command(mode: Mode, config: Path, json_output: bool, **options: Any) -> None:
    options["bandwidth"] = _rate(options.get("bandwidth"))
    options["shard"] = _shard(options.get("shard"))
    plan = warn_state(load_plan(config), options.get("state"))
    work = _run_transfer(plan, CopyRequest(mode=mode, **options), json_output=json_output)
    if work.failed or work.conflicts:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def copy(
    config: ConfigOption = DEFAULT_PLAN,
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = None,
    keep_placeholders: PlaceholdersOption = False,
    max_requests_per_second: RpsOption = None,
    bandwidth: BandwidthOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    list_from_db: ListFromDbOption = False,
    list_from_api: ListFromApiOption = False,
    no_reconcile: NoReconcileOption = False,
    overwrite_destination_changes: OverwriteOption = False,
    keep_destination_changes: KeepOption = False,
    shard: ShardOption = None,
    lease: LeaseOption = DEFAULT_LEASE_SECONDS,
    json_output: JsonOption = False,
) -> None:
    """Copy every object that is missing or different at the destination; resumable.

    With a postgresql:// --state, start it N times (anywhere): the processes share one run."""
    _transfer_command(
        "copy", config, json_output, dry_run=dry_run, concurrency=concurrency, keep_placeholders=keep_placeholders,
        max_requests_per_second=max_requests_per_second, bandwidth=bandwidth, state=state, buckets=bucket,
        list_from=_list_from(list_from_db, list_from_api), reconcile=not no_reconcile,
        on_conflict=_on_conflict(overwrite_destination_changes, keep_destination_changes), shard=shard,
        lease_seconds=lease,
    )  # fmt: skip


@app.command()
def sync(
    config: ConfigOption = DEFAULT_PLAN,
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = None,
    keep_placeholders: PlaceholdersOption = False,
    max_requests_per_second: RpsOption = None,
    bandwidth: BandwidthOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    list_from_db: ListFromDbOption = False,
    list_from_api: ListFromApiOption = False,
    overwrite_destination_changes: OverwriteOption = False,
    keep_destination_changes: KeepOption = False,
    shard: ShardOption = None,
    lease: LeaseOption = DEFAULT_LEASE_SECONDS,
    json_output: JsonOption = False,
) -> None:
    """The cut-over pass: copy only what is new or changed at the source since the last copy; never deletes."""
    _transfer_command(
        "sync", config, json_output, dry_run=dry_run, concurrency=concurrency, keep_placeholders=keep_placeholders,
        max_requests_per_second=max_requests_per_second, bandwidth=bandwidth, state=state, buckets=bucket,
        list_from=_list_from(list_from_db, list_from_api), reconcile=False,
        on_conflict=_on_conflict(overwrite_destination_changes, keep_destination_changes), shard=shard,
        lease_seconds=lease,
    )  # fmt: skip


def _run_verify(work: VerifyRun, *, json_output: bool) -> None:
    async def go() -> None:
        async with live(render.err, lambda: verify_rows(work)):
            await work.run()

    eventloop.run(go())
    if json_output:
        render.emit_json(shard_json(render.verify_json(work.reports), work.request.shard, work.reports))
    else:
        render.verify_summary(work.reports)
        verify_shard_line(work.request.shard, work.reports)


@app.command()
def verify(
    config: ConfigOption = DEFAULT_PLAN,
    deep: Annotated[bool, typer.Option("--deep", help="Re-read and hash every destination object.")] = False,
    keep_placeholders: PlaceholdersOption = False,
    concurrency: ConcurrencyOption = None,
    state: StateOption = None,
    bucket: BucketsOption = None,
    list_from_db: ListFromDbOption = False,
    list_from_api: ListFromApiOption = False,
    shard: ShardOption = None,
    json_output: JsonOption = False,
    posture: Annotated[bool, typer.Option("--posture", help="Instead: check each bucket's exposure.")] = False,
    report: ReportOption = None,
) -> None:
    """Check every source object is at the destination with the same size and sha256; exit 1 if not."""
    if posture:
        return run_posture(config, json_output)
    request = VerifyRequest(deep=deep, keep_placeholders=keep_placeholders, concurrency=concurrency, state=state,
                            buckets=bucket, list_from=_list_from(list_from_db, list_from_api),
                            shard=_shard(shard))  # fmt: skip
    work = VerifyRun(warn_state(load_plan(config), state), request)
    _run_verify(work, json_output=json_output)
    if report is not None:
        report_verify(work, report)
    if not work.ok:
        raise typer.Exit(EXIT_FAILURES)


@app.command()
def reconcile(
    config: ConfigOption = DEFAULT_PLAN, bucket: BucketsOption = None, json_output: JsonOption = False
) -> None:
    """Compare the source's API listing with its storage.objects rows (needs the source dsn); exit 1 if they differ."""
    reports = eventloop.run(reconcile_plan(load_plan(config), bucket))
    render.emit_json(reports) if json_output else render.reconciled(reports)
    if not all(r.ok for r in reports):
        raise typer.Exit(EXIT_FAILURES)


def _one_line(message: str) -> str:
    """Line breaks inside data (a key may hold one) shown as escapes, so an error stays one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _ours(group: BaseExceptionGroup[BaseException]) -> BucketshiftError | None:
    """The first of our errors in a task group's failure, when every error in it is one of ours."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    first = leaves[0] if leaves else None
    if isinstance(first, BucketshiftError) and all(isinstance(e, BucketshiftError) for e in leaves):
        return first
    return None


def _fail(exc: BucketshiftError) -> NoReturn:
    render.err.print(Text.assemble(("error:", "red"), " ", _one_line(exc.message)))
    sys.exit(exc.exit_code)


def run(argv: list[str] | None = None) -> Any:
    """Console entry point: known errors become one sentence on stderr and their exit code."""
    heap.return_large_buffers()
    eventloop.stop_on_sigterm()
    try:
        return app(args=argv, standalone_mode=True)
    except BucketshiftError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        render.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, ExceptionGroup) and (known := _ours(exc)) is not None:
            _fail(known)
        if os.environ.get("BUCKETSHIFT_DEBUG"):
            raise
        text = _one_line(f"{type(exc).__name__}: {exc}")
        render.err.print(f"internal error: {text} (set BUCKETSHIFT_DEBUG=1 for the traceback)", markup=False)
        sys.exit(EXIT_FAILURES)


if __name__ == "__main__":
    run()

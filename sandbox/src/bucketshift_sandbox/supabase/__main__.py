"""``python -m bucketshift_sandbox.supabase``: serve the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from bucketshift import eventloop
from bucketshift_sandbox.supabase.app import create_app
from bucketshift_sandbox.supabase.keys import DEFAULT_JWT_SECRET, DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from bucketshift_sandbox.supabase.pg_catalog import CatalogUnavailable
from bucketshift_sandbox.supabase.settings import (
    DEFAULT_FAULTS,
    DEFAULT_FILE_SIZE_LIMIT,
    DEFAULT_STALL_SECONDS,
    ETAG_STYLES,
    FAULT_KINDS,
    MAX_STALL_SECONDS,
    EmulatorSettings,
    SettingsError,
)

READY_LINE = "bucketshift-emulator listening on http://{host}:{port}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bucketshift_sandbox.supabase", description="A local Supabase Storage API emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--data", type=Path, required=True, help="directory for catalog.sqlite3 and blobs/")
    parser.add_argument(
        "--catalog-dsn",
        default=None,
        metavar="DSN",
        help="keep bucket and object rows in storage.buckets/storage.objects of this PostgreSQL database"
        " (schema created if absent) instead of DIR/catalog.sqlite3",
    )
    parser.add_argument("--jwt-secret", default=DEFAULT_JWT_SECRET, help="HS256 secret of JWTs and signed URLs")
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY, help="the sb_secret_ key that means service_role")
    parser.add_argument(
        "--publishable-key", default=DEFAULT_PUBLISHABLE_KEY, help="the sb_publishable_ key that means anon"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every storage request")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of storage requests given a fault (0-1)")
    parser.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help=f"comma-separated fault kinds among {','.join(FAULT_KINDS)} (default {','.join(DEFAULT_FAULTS)})",
    )
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault sequence (repeatable runs)")
    parser.add_argument(
        "--fault-routes",
        default="",
        metavar="LABELS",
        help="comma-separated route labels (e.g. 'GET object/authenticated') that alone get faults (default: all)",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=DEFAULT_STALL_SECONDS,
        help=f"how long a stall fault sends nothing (0-{MAX_STALL_SECONDS:.0f}, default {DEFAULT_STALL_SECONDS:.0f})",
    )
    parser.add_argument(
        "--etag-style", default="md5", help=f"ETags of uploads: {' or '.join(ETAG_STYLES)} (default md5: the body's)"
    )
    parser.add_argument("--no-list-v2", action="store_true", help="answer list-v2 with 400 FeatureNotEnabled")
    parser.add_argument(
        "--file-size-limit", type=int, default=DEFAULT_FILE_SIZE_LIMIT, help="server-wide upload limit in bytes"
    )
    parser.add_argument(
        "--standard-upload-limit",
        type=int,
        default=None,
        metavar="BYTES",
        help="a lower limit for standard (non-resumable) uploads only, as UPLOAD_FILE_SIZE_LIMIT_STANDARD"
        " (default: none, the server-wide limit)",
    )
    parser.add_argument(
        "--no-resumable", action="store_true", help="do not serve /upload/resumable (answer 404 as without the route)"
    )
    return parser


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; a stopped emulator exits 0 instead.

    ``on_exit`` runs when the stop signal arrives, before uvicorn waits for open responses:
    it ends pending stalls, which would otherwise hold the shutdown for its whole grace period.
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop gracefully (a second SIGINT forces), without re-raising the signal afterwards."""
        del frame
        self._on_exit()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


async def _serve(config: uvicorn.Config, host: str, on_exit: Callable[[], None]) -> int:
    """Run uvicorn and print the ready line once its socket listens (with the real port)."""
    server = _Server(config, on_exit)
    task = asyncio.create_task(server.serve())
    # uvicorn sets ``started`` once its sockets listen and offers nothing to await for it.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        sys.stdout.write(READY_LINE.format(host=host, port=port) + "\n")
        sys.stdout.flush()
    await task
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    args = _parser().parse_args(argv)
    try:
        settings = EmulatorSettings(
            jwt_secret=args.jwt_secret,
            secret_key=args.secret_key,
            publishable_key=args.publishable_key,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            faults=[kind.strip() for kind in args.faults.split(",") if kind.strip()],
            fault_seed=args.fault_seed,
            fault_routes=[label.strip() for label in args.fault_routes.split(",") if label.strip()],
            stall_seconds=args.stall_seconds,
            etag_style=args.etag_style,
            list_v2=not args.no_list_v2,
            file_size_limit=args.file_size_limit,
            standard_upload_limit=args.standard_upload_limit,
            resumable=not args.no_resumable,
        )
    except SettingsError as exc:
        sys.stderr.write(f"bucketshift-emulator: {exc}\n")
        return 2
    try:
        app = create_app(args.data, settings, catalog_dsn=args.catalog_dsn)
    except CatalogUnavailable as exc:
        sys.stderr.write(f"bucketshift-emulator: {exc}\n")
        return 2
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return eventloop.run(_serve(config, args.host, app.state.emulator.stalls.release))


if __name__ == "__main__":
    sys.exit(main())

"""How results look on a terminal and as JSON; the only place that prints."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bucketshift.operations.check import CheckResult
from bucketshift.operations.listing import ListResult

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    print(json.dumps(_plain(value), indent=2, sort_keys=True))


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def check(result: CheckResult) -> None:
    for side, kind, error in (
        ("source", result.source_type, result.source_error),
        ("destination", result.destination_type, result.destination_error),
    ):
        status = f"[red]unreachable: {error}[/red]" if error else "[green]reachable[/green]"
        out.print(f"{side} ({kind}): {status}")
    table = Table("source bucket", "public", "destination bucket", "access", "exists at destination")
    for b in result.buckets:
        exists = {True: "yes", False: "no (provision creates it)", None: "?"}[b.destination_exists]
        public = {True: "yes", False: "no", None: "-"}[b.source_public]
        source = b.source if b.source_exists else f"[red]{b.source} (missing)[/red]"
        table.add_row(source, public, b.destination, b.access, exists)
    out.print(table)
    for b in result.buckets:
        for warning in b.warnings:
            out.print(f"[yellow]warning:[/yellow] {warning}")


def listing(result: ListResult) -> None:
    table = Table("key", "size", "content type", "last modified")
    for info in result.shown:
        modified = info.last_modified.strftime("%Y-%m-%d %H:%M") if info.last_modified else ""
        table.add_row(info.key, size(info.size), info.content_type or "", modified)
    out.print(table)
    more = f", first {len(result.shown)} shown" if len(result.shown) < result.count else ""
    out.print(f"{result.side} bucket {result.bucket}: {result.count} objects, {size(result.total_bytes)}{more}")

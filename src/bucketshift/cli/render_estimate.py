"""How an estimate looks: one table per bucket mapping, requests, cost and time (data escaped).

`estimate_table` is what `bucketshift estimate` prints; `plan` and `migrate --dry-run` call it too.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bucketshift.cli import render
from bucketshift.operations.estimate import Estimate

__all__ = ["estimate_json", "estimate_table"]


def _n(value: int) -> str:
    return f"{value:,}"


def _usd(value: float, currency: str) -> str:
    return f"{value:,.4f} {currency}" if value < 1 else f"{value:,.2f} {currency}"


def estimate_table(result: Estimate, console: Console | None = None) -> None:
    """The estimate as rich tables on `console` (stdout by default); keys and names never as markup."""
    out = console or render.out
    table = Table(title=Text(f"Estimate (source listed from {result.listed_from})"), title_justify="left")
    for name in (
        "mapping",
        "objects",
        "bytes",
        "to copy",
        "bytes to copy",
        "GET",
        "LIST src/dst",
        "PUT",
        "multipart",
        "HEAD src/dst",
    ):
        table.add_column(name, justify="left" if name == "mapping" else "right")
    for b in result.buckets:
        table.add_row(
            Text(b.mapping),
            _n(b.objects),
            render.size(b.bytes),
            _n(b.objects_to_copy),
            render.size(b.bytes_to_copy),
            _n(b.source_gets),
            f"{_n(b.source_lists + b.source_list_queries)} / {_n(b.dest_lists)}",
            _n(b.dest_puts),
            f"{_n(b.multipart_uploads)} ({_n(b.multipart_parts)} parts)",
            f"{_n(b.source_heads)} / {_n(b.dest_heads)}",
        )
    out.print(table)
    r = result.requests
    out.print(
        Text(
            f"Requests: source {_n(r['source_gets'])} GET, {_n(r['source_heads'])} object info, "
            f"{_n(r['source_lists'])} listing"
            + (f" (+{_n(r['source_list_queries'])} storage.objects pages)" if r["source_list_queries"] else "")
            + f"; destination {_n(r['dest_puts'])} PUT, {_n(r['multipart_uploads'])} multipart uploads "
            f"({_n(r['multipart_parts'])} parts, {_n(r['multipart_requests'])} requests), {_n(r['dest_heads'])} HEAD, "
            f"{_n(r['dest_lists'])} LIST"
        )
    )
    c, p = result.cost, result.cost.prices
    cost = Table(title=Text(f"Cost ({c.prices_source}, prices of {c.prices_date})"), title_justify="left")
    for name in ("item", "quantity", "price", "cost"):
        cost.add_column(name, justify="left" if name == "item" else "right")
    moved = sum(b.bytes_to_copy for b in result.buckets)
    stored = sum(b.stored_bytes for b in result.buckets)
    cost.add_row("source egress", render.size(moved), f"{p.source_egress_per_gb} / GB", _usd(c.egress_usd, p.currency))
    put_price, get_price = f"{p.put_per_1000} / 1,000", f"{p.get_per_1000} / 1,000"
    cost.add_row("S3 PUT-class", _n(r["dest_put_class"]), put_price, _usd(c.put_requests_usd, p.currency))
    cost.add_row("S3 GET-class", _n(r["dest_get_class"]), get_price, _usd(c.get_requests_usd, p.currency))
    cost.add_row("once, in all", "", "", _usd(c.total_once_usd, p.currency))
    storage_price = f"{p.storage_per_gb_month} / GB-month"
    cost.add_row("S3 storage, per month", render.size(stored), storage_price, _usd(c.storage_month_usd, p.currency))
    out.print(cost)
    t = result.time
    when = "not estimated" if t.seconds is None else _duration(t.seconds)
    out.print(Text(f"Time: {when}; {t.how}"))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"about {seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min" if hours else f"about {minutes} min {rest:02d} s"


def estimate_json(result: Estimate) -> dict[str, Any]:
    """The estimate as plain data (`--json`)."""
    return {
        "buckets": render._plain(result.buckets),
        "requests": dict(result.requests),
        "cost": render._plain(result.cost),
        "time": render._plain(result.time),
        "listed_from": result.listed_from,
        "objects_to_copy": result.objects_to_copy,
        "bytes_to_copy": result.bytes_to_copy,
    }

"""Live progress for long work: rich bars on a terminal, one plain line every few seconds otherwise.

It polls the live counters an operation exposes, so the library never prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bucketshift.cli.pace import Pace
from bucketshift.cli.render import size


@dataclass(frozen=True)
class Row:
    label: str
    done: int
    total: int | None
    bytes_done: int
    failures: int
    note: str = ""
    unit: str = "objects"
    """What `done` counts; rows of other units than objects carry no bytes, and their rate is of `done`."""

    @property
    def complete(self) -> bool:
        return self.total is not None and self.done >= self.total

    @property
    def counts_bytes(self) -> bool:
        return self.unit == "objects"

    def measure(self) -> int:
        """The amount whose rate is shown."""
        return self.bytes_done if self.counts_bytes else self.done

    def rate_text(self, rate: float) -> str:
        return f"{size(int(rate))}/s" if self.counts_bytes else f"{int(rate):,} {self.unit}/s"


def _line(row: Row, rate: float) -> str:
    total = "?" if row.total is None else str(row.total)
    failed = f", {row.failures} failed" if row.failures else ""
    note = f", {row.note}" if row.note else ""
    amount = f", {size(row.bytes_done)}" if row.counts_bytes else ""
    return f"{row.label}: {row.done}/{total} {row.unit}{amount}, {row.rate_text(rate)}{failed}{note}"


@asynccontextmanager
async def live(
    console: Console, rows: Callable[[], list[Row]], *, enabled: bool = True, plain_every: float = 5.0
) -> AsyncIterator[None]:
    """Show `rows()` until the block ends."""
    if not enabled:
        yield
        return
    if console.is_terminal:
        async with _rich(console, rows):
            yield
    else:
        async with _plain(console, rows, plain_every):
            yield


@asynccontextmanager
async def _rich(console: Console, rows: Callable[[], list[Row]]) -> AsyncIterator[None]:
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.fields[total_text]}"),
        TextColumn("{task.fields[bytes]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[failures]}"),
        console=console,
        transient=False,
    )
    ids: dict[str, int] = {}
    paces: dict[str, Pace] = {}

    def refresh() -> None:
        now = time.monotonic()
        for row in rows():
            if row.label not in ids:
                ids[row.label] = progress.add_task(
                    row.label, total=None, total_text="?", bytes="", rate="", failures=""
                )
                paces[row.label] = Pace()
            pace = paces[row.label]
            pace.sample(now, row.measure(), complete=row.complete)
            rate = pace.rate(now)
            progress.update(
                ids[row.label],
                completed=row.done,
                total=row.total,
                total_text="?" if row.total is None else str(row.total),
                bytes=size(row.bytes_done) if row.counts_bytes else "",
                rate=row.rate_text(rate),
                failures=f"[red]{row.failures} failed[/red]" if row.failures else escape(row.note),
            )

    async def tick() -> None:
        while True:
            refresh()
            await asyncio.sleep(0.1)

    with progress:
        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            refresh()


@asynccontextmanager
async def _plain(console: Console, rows: Callable[[], list[Row]], every: float) -> AsyncIterator[None]:
    paces: dict[str, Pace] = {}

    def sample() -> list[tuple[Row, Pace]]:
        now = time.monotonic()
        seen = []
        for row in rows():
            pace = paces.setdefault(row.label, Pace())
            pace.sample(now, row.measure(), complete=row.complete)
            seen.append((row, pace))
        return seen

    reported = False

    def report() -> None:
        nonlocal reported
        reported = True
        now = time.monotonic()
        for row, pace in sample():
            console.print(_line(row, pace.rate(now)), markup=False, highlight=False)

    async def tick() -> None:
        sample()
        while True:
            for _ in range(max(1, round(every / 0.5))):
                await asyncio.sleep(min(every, 0.5))
                sample()
            report()

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        if reported:
            report()  # the last word on long work: where each row ended, at its own average rate

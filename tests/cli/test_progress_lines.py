"""The plain progress lines printed when output is not a terminal (CI logs, pipes)."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console

from bucketshift.cli.progress import Row, live


def plain_lines(rows: list[Row]) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)

    async def show() -> None:
        async with live(console, lambda: rows, plain_every=0.05):
            await asyncio.sleep(0.2)

    asyncio.run(show())
    return [line for line in out.getvalue().splitlines() if line]


def test_rows_are_counted_as_rows_with_no_bytes() -> None:
    lines = plain_lines([Row("frames.image_url", 120_000, None, 0, 0, unit="rows")])
    assert lines, "a line every plain_every seconds"
    label, _, rest = lines[0].partition(": ")
    assert label == "frames.image_url"
    assert rest.startswith("120000/? rows, ")
    assert rest.endswith(" rows/s")
    assert " B" not in rest


def test_objects_show_their_bytes_and_failures() -> None:
    lines = plain_lines([Row("images", 10, 40, 3_000_000, 2, "retrying")])
    assert lines
    assert lines[0].startswith("images: 10/40 objects, 3.0 MB, ")
    assert lines[0].endswith("/s, 2 failed, retrying")


def test_a_finished_row_ends_on_its_average_rate_not_zero() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    state = {"done": 0}

    def rows() -> list[Row]:
        done = state["done"]
        return [Row("images", done, 10, done * 1_000_000, 0)]

    async def show() -> None:
        async with live(console, rows, plain_every=0.05):
            for _ in range(10):
                await asyncio.sleep(0.05)
                state["done"] += 1
            await asyncio.sleep(1.5)  # finished, then idle: a last-second rate would fall to 0 B/s

    asyncio.run(show())
    last = [line for line in out.getvalue().splitlines() if line][-1]
    assert last.startswith("images: 10/10 objects, 10.0 MB, ")
    rate = last.removeprefix("images: 10/10 objects, 10.0 MB, ").removesuffix("/s")
    value, unit = rate.split(" ")
    assert unit == "MB", last
    assert 8 <= float(value) <= 40, last

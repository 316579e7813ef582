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

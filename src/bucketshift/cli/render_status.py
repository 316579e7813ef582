"""The status checklist on a terminal (✓ ticked, ✗ not, a dash not applicable) and as one JSON document.

Names and details carry data from outside (bucket names, keys, URLs, server messages): they are
printed as plain `Text`, never read as markup.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text

from bucketshift.cli import render
from bucketshift.operations.status import CHECKS, StatusReport

__all__ = ["checklist", "status_json"]

_MARKS = {True: ("✓", "green"), False: ("✗", "red"), None: ("\u2013", "dim")}


def status_json(report: StatusReport) -> dict[str, Any]:
    """Every line (check, name, ok, detail, counts, subject) and the verdict."""
    return {
        "ok": report.ok,
        "unticked": len(report.unticked),
        "checks": CHECKS,
        "lines": [dataclasses.asdict(line) for line in report.lines],
    }


def checklist(report: StatusReport) -> None:
    """One heading per check, one line per bucket or column under it, the verdict last."""
    shown: str | None = None
    for line in report.lines:
        if line.check != shown:
            shown = line.check
            render.out.print(Text(CHECKS[line.check], style="bold"))
        mark, style = _MARKS[line.ok]
        render.out.print(Text.assemble("  ", (mark, style), " ", (line.name, style if line.ok is False else ""),
                                       ": ", line.detail))  # fmt: skip
    unticked = len(report.unticked)
    if unticked:
        render.out.print(Text(f"{unticked} line{'s' if unticked > 1 else ''} not ticked", style="red"))
    else:
        render.out.print(Text("every line ticked", style="green"))

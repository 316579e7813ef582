"""How a worker of a shared run says so: one line after its table, and a `worker` key in JSON.

A worker's own table counts only what it did; the line says that, which run it was part of,
and either the whole run's result (it was the last to leave) or where to watch the others.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from bucketshift.cli import render
from bucketshift.operations.copy import CopyRun

__all__ = ["worker_json", "worker_line"]

_COUNTS = ("copied", "adopted", "conflicts", "kept", "failed")


def _totals(summary: dict[str, dict[str, int]]) -> dict[str, int]:
    return {name: sum(counts.get(name, 0) for counts in summary.values()) for name in _COUNTS}


def worker_line(work: CopyRun) -> None:
    if work.joined is None:
        return
    how = "opened" if work.joined.opened else "joined"
    head = f"worker {work.worker} {how} shared run {work.joined.run_id} in {work.manifest_where}"
    head += "; the table above is its share"
    if work.run_summary is None:
        tail = "other workers are still at it: bucketshift status --state … shows them"
    else:
        totals = _totals(work.run_summary)
        tail = "the run is finished, all workers together: " + ", ".join(f"{v} {k}" for k, v in totals.items())
    render.out.print(Text(f"{head}; {tail}"))


def worker_json(result: dict[str, Any], work: CopyRun) -> dict[str, Any]:
    """`result` with `worker`: null, or this worker, its run, and the run's totals once finished."""
    if work.joined is None:
        result["worker"] = None
        return result
    result["worker"] = {
        "id": work.worker,
        "run": work.joined.run_id,
        "opened": work.joined.opened,
        "run_finished": work.run_summary is not None,
        "coordination_round_trips": work.coordination_round_trips,
        "run_totals": None if work.run_summary is None else _totals(work.run_summary),
    }
    return result

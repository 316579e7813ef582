"""How a run limited to one shard (`--shard K/N`) says so: one line after its table, two JSON keys.

A shard's run is a part of the migration by design; its summary must say which part, and that
the objects it left alone belong to the other shards, not that they are missing.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from bucketshift.cli import render
from bucketshift.engine.shard import Shard
from bucketshift.engine.transfer import MappingReport
from bucketshift.engine.verify import VerifyReport

__all__ = ["shard_json", "transfer_shard_line", "verify_shard_line"]


def _counts(reports: list[MappingReport] | list[VerifyReport]) -> tuple[int, int]:
    """(objects of the shard, objects listed in all) over every mapping of the run."""
    mine = others = 0
    for r in reports:
        if isinstance(r, MappingReport):
            mine += r.stats.listed
        else:
            mine += r.stats.checked + r.stats.placeholders_skipped
        others += r.stats.outside_shard
    return mine, mine + others


def transfer_shard_line(shard: Shard | None, reports: list[MappingReport]) -> None:
    """`shard 1/3: 340 of 1021 listed objects; the other 681 are left to the other shards`."""
    if shard is None:
        return
    mine, listed = _counts(reports)
    render.out.print(
        Text(
            f"shard {shard}: {mine} of {listed} listed objects; the other {listed - mine} are left to the other shards"
        )
    )


def verify_shard_line(shard: Shard | None, reports: list[VerifyReport]) -> None:
    """Said so that a shard's `verified` is not read as the whole migration's."""
    if shard is None:
        return
    mine, listed = _counts(reports)
    render.out.print(
        Text(
            f"shard {shard}: checked the {mine} of {listed} listed objects that belong to it; "
            f"the other {listed - mine} belong to the other shards and were not checked"
        )
    )


def shard_json(result: dict[str, Any], shard: Shard | None, reports: list[MappingReport] | list[VerifyReport]) -> Any:
    """`result` with `shard` ("K/N" or null) and, under a shard, `outside_shard` (objects of the others)."""
    result["shard"] = str(shard) if shard is not None else None
    if shard is not None:
        result["outside_shard"] = sum(r.stats.outside_shard for r in reports)
    return result

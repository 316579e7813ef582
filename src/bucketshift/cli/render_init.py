"""How `init`'s result looks: the plan text as it is, or what was written and what to do next.

Bucket, column and file names come from outside: they are printed as plain text, never markup.
"""

from __future__ import annotations

import sys

from rich.text import Text

from bucketshift.cli import render
from bucketshift.operations.init import InitResult

__all__ = ["init_result"]


def init_result(result: InitResult) -> None:
    """Without a file written (the dry run) the plan goes to stdout byte for byte, ready to redirect;
    otherwise a short account of what the file holds and the next step."""
    if result.written is None:
        sys.stdout.write(result.text)
        return
    public = sum(1 for b in result.buckets if b.access == "public-read")
    render.out.print(
        Text.assemble(
            ("wrote ", "green"),
            str(result.written),
            f": {len(result.buckets)} buckets from {result.supabase_url} ",
            f"({public} public-read, {len(result.buckets) - public} private)",
        )
    )
    for bucket in result.buckets:
        note = " (renamed: not a valid S3 name as it was)" if bucket.renamed else ""
        render.out.print(Text(f"  {bucket.source} -> {bucket.destination}  {bucket.access}{note}"))
    if result.database_searched:
        if result.columns:
            names = ", ".join(f"{c.name} ({c.rows} rows)" for c in result.columns)
            render.out.print(Text(f"URL columns found: {names}"))
        else:
            render.out.print(Text("URL columns found: none (rewrite-urls will discover them again when it runs)"))
        if result.mentions_only:
            names = ", ".join(c.name for c in result.mentions_only)
            render.out.print(Text(f"not listed (they mention the project's host, hold none of its URLs): {names}"))
    variables = " and ".join(result.variables)
    render.out.print(
        Text(
            f"next: export {variables}, read the file, then run "
            f"bucketshift check -c {result.written}; AWS credentials come from the default chain"
        )
    )

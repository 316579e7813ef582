"""What the demo shows between the verbs' own output: its steps' headings and the app's new files."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bucketshift.cli.render import out, size
from bucketshift.operations.demo_app import AppUpload


def heading(number: int, title: str, what: str) -> None:
    out.print(Text.assemble("\n", (f"{number}. {title}", "bold"), f": {what}"))


def note(text: str) -> None:
    out.print(Text.assemble(("note", "yellow"), f": {text}"))


def app_uploads(uploads: list[AppUpload]) -> None:
    table = Table("file", "bucket", "key", "size", "on S3", "on Supabase", "value kept in its row")
    for u in uploads:
        table.add_row(
            u.what, Text(u.bucket), Text(u.key), size(u.size), "yes" if u.on_s3 else "no",
            "yes" if u.on_supabase else "no", Text(u.stored_value),
        )  # fmt: skip
    out.print(table)


def where(label: str, path: str) -> None:
    out.print(Text.assemble(f"{label}: ", (path, "bold")))

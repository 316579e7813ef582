"""Reading a report page as a browser built it, and the manifest's numbers counted by plain SQL.

The SQL here is the oracle: it restates `BucketTotals`' definitions over the manifest's rows
without going through `bucketshift.report`, so a page that agrees with it agrees with the manifest.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

Numbers = dict[tuple[str, str], tuple[int, int]]
"""(source bucket, field) -> (objects, bytes)."""

DONE = "state IN ('copied', 'verified')"
SKIPPED = (
    f"{DONE} AND (coalesce(resolution, '') = 'kept-destination' "
    "OR (coalesce(resolution, 'in-sync-at-cutover') = 'in-sync-at-cutover' AND attempts = 0))"
)
"""Adopted (no transfer attempt), kept, or a way-back row seeded from the forward copy."""
WHERE = {
    "planned": "1",
    "copied": f"{DONE} AND NOT ({SKIPPED})",
    "skipped": SKIPPED,
    "verified": "state = 'verified'",
    "failed": "state = 'failed'",
    "conflicts": "state = 'conflict'",
    "pending": "state IN ('pending', 'copying')",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def tags(self, name: str) -> list[Element]:
        return [e for e in self.elements if e.tag == name]

    def with_attr(self, name: str, value: str | None = None) -> list[Element]:
        return [e for e in self.elements if name in e.attrs and (value is None or e.attrs[name] == value)]

    def sections(self) -> dict[str, bool]:
        """Section id -> whether it holds data (False: "not part of this run")."""
        return {
            e.attrs["id"]: e.attrs["data-present"] == "true" for e in self.tags("section") if "data-present" in e.attrs
        }

    def bucket_numbers(self) -> Numbers:
        return {
            (e.attrs["data-bucket"], e.attrs["data-field"]): (int(e.attrs["data-objects"]), int(e.attrs["data-bytes"]))
            for e in self.tags("td")
            if "data-bucket" in e.attrs and "data-field" in e.attrs
        }


def read_page(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def source_bucket(mapping: str) -> str:
    """The bucket a mapping reads from: `images->dest` forward, `images<-s3-bucket` on the way back."""
    if "<-" in mapping:
        return mapping.split("<-", 1)[1]
    return mapping.split("->", 1)[0]


def manifest_numbers(path: Path) -> Numbers:
    """Every field of every mapping, counted with SQL straight from the file."""
    out: Numbers = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        mappings = [str(m) for (m,) in db.execute("SELECT DISTINCT mapping FROM objects")]
        for mapping in mappings:
            bucket = source_bucket(mapping)
            for name, where in WHERE.items():
                n, size = db.execute(
                    f"SELECT count(*), coalesce(sum(size), 0) FROM objects WHERE mapping = ? AND {where}",  # noqa: S608
                    (mapping,),
                ).fetchone()
                out[(bucket, name)] = (int(n), int(size))
    return out


def manifest_failures(path: Path) -> set[tuple[str, str, str]]:
    """(bucket, key, state) of every row the failures section must list."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT mapping, key, state FROM objects WHERE state IN ('failed', 'conflict') "
            "OR (state = 'pending' AND last_error IS NOT NULL)"
        ).fetchall()
    return {(source_bucket(str(m)), str(k), str(s)) for m, k, s in rows}


def copied_bytes(path: Path) -> tuple[int, int]:
    """Objects and bytes bucketshift wrote (the throughput chart's totals)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        n, size = db.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM objects WHERE {WHERE['copied']}"  # noqa: S608
        ).fetchone()
    return int(n), int(size)

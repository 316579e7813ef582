"""The URL rewrite the other way: S3 forms the application wrote after the cut-over, back to Supabase.

After a rollback has reverted the forward rewrite from its journal, the rows that still hold S3
forms are the ones the application wrote while on S3 (or edited after the rewrite).  Each S3
form of a mapped bucket becomes the Supabase form the application's own client writes
(`storage/sides.py`): a public bucket's object its `/object/public/` URL, a private one's its
`/object/authenticated/` URL, which `url_for` signs on demand.  Recognised: public S3 URLs (any
form `parse_s3_url` reads), `s3://BUCKET/KEY` references and, with `private_url_style = "key"`,
a value that is exactly the key of an object of one private bucket.

Only objects that are at Supabase holding what S3 holds are pointed at (`at_supabase`, worked
out by the caller from the way back's manifest): any other URL is left as it is and counted.
The walk over values (arrays, JSON documents edited as text, the column's length limit, tallies
and samples) is the forward rewriter's, so a value changes in its URLs and in no other byte.  A
query or fragment on an S3 URL is dropped (it belongs to the request, not the object) and
counted; an `s3://` reference inside prose is left alone, as its end cannot be told.

The rewrite is journaled like the forward one, as a run of its own kind (`rollback`), so
`rewrite-urls --revert --run RUN` undoes it (a rollback can itself be undone), while neither a
later rollback nor `rewrite-urls --revert` without a run ever takes it for a forward rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.connection import translate
from bucketshift.database.rewriter import SAMPLES, Rewriter, Tally
from bucketshift.urls import (
    PrivateURLStyle,
    SupabaseURL,
    build_supabase_url,
    parse_s3_url,
    s3_object_base,
    source_key,
)

__all__ = ["BackRewriter", "back_needles", "finish_back_run", "forward_runs", "start_back_run"]

Conn = psycopg.Connection[tuple[Any, ...]]

_EMBEDDED_PATH = r"/[A-Za-z0-9_.~/%+-]+"
"""What follows a public bucket's base in text: the encoded key (S3 URLs the app and bucketshift
write percent-encode every other character), up to a query, whitespace or markup."""
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def back_needles(mappings: Sequence[BucketMapping], endpoint: S3Endpoint, private_url_style: str) -> list[str]:
    """Text an S3 form of a mapped bucket contains, for the SQL that picks candidate rows.

    With bare keys (`private_url_style = "key"`) any value may be one: every row is read."""
    needles: list[str] = []
    for mapping in mappings:
        if mapping.access == "public-read":
            needles.append(s3_object_base(endpoint, mapping.destination) + "/")
        needles.append(f"s3://{mapping.destination}/")
    if private_url_style == "key" and any(m.access == "private" for m in mappings):
        needles.append("")
    return needles


class BackRewriter(Rewriter):
    """Rewrites values of one kind (text, text[], json, jsonb) from S3 forms to Supabase forms.

    `at_supabase`: Supabase bucket -> the keys whose object there holds what S3 holds."""

    def __init__(
        self,
        supabase_url: str,
        mappings: list[BucketMapping],
        endpoint: S3Endpoint,
        at_supabase: Mapping[str, set[str]],
        *,
        private_url_style: PrivateURLStyle = "s3-uri",
    ) -> None:
        super().__init__([supabase_url], mappings, endpoint, {}, private_url_style=private_url_style)
        self.origin = supabase_url
        self.at_supabase = at_supabase
        self.by_destination = {m.destination: m for m in mappings}
        self.private = [m for m in mappings if m.access == "private"]
        bases = [re.escape(s3_object_base(endpoint, m.destination)) for m in mappings if m.access == "public-read"]
        self._embedded = re.compile(f"(?:{'|'.join(bases)}){_EMBEDDED_PATH}") if bases else None
        self._references = re.compile("|".join(re.escape(f"s3://{m.destination}/") for m in mappings))

    def holds_s3_form(self, text: str) -> bool:
        """Whether `text` holds an S3 form of a mapped bucket (discovery's second look at a value)."""
        location = parse_s3_url(text, self.endpoint)
        if location is not None and location.bucket in self.by_destination:
            return True
        return bool(self._references.search(text) or (self._embedded is not None and self._embedded.search(text)))

    def values(self, kind: str, values: Sequence[Any], tally: Tally, *, limit: int | None = None) -> list[Any | None]:
        return [self.value(kind, value, tally, limit=limit) for value in values]

    def _judge_back(
        self, mapping: BucketMapping, s3_key: str, tally: Tally, found: list[SupabaseURL | None]
    ) -> str | None:
        """The Supabase form of S3 object `s3_key` of `mapping`, or None (counted) when it is not there."""
        tally.urls += 1
        key = source_key(s3_key, mapping)
        if key is None:
            tally.unmapped += 1
            return None
        if key not in self.at_supabase.get(mapping.source, ()):
            tally.unverified += 1
            if len(tally.unverified_samples) < SAMPLES:
                tally.unverified_samples.append(f"{mapping.destination}/{s3_key}")
            return None
        found.append(None)
        form = "public" if mapping.access == "public-read" else "authenticated"
        return build_supabase_url(self.origin, mapping.source, key, form)

    def _whole(self, value: str, tally: Tally, found: list[SupabaseURL | None]) -> str | None:
        """A value that is one S3 form; None when it is not one (or names no mapped bucket)."""
        location = parse_s3_url(value, self.endpoint)
        if location is not None and location.style != "s3-uri" and re.search(r"\s", value):
            location = None  # a URL ends at whitespace: this is text holding one
        if location is not None:
            mapping = self.by_destination.get(location.bucket)
            if mapping is None:
                return None
            if location.style != "s3-uri" and any(mark in value for mark in "?#"):
                tally.warnings["query or fragment dropped"] += 1
            return self._judge_back(mapping, location.key, tally, found) or value
        if self.style != "key" or _SCHEME.match(value) or value != value.strip() or not value:
            return None
        owners = [m for m in self.private if source_key(value, m) in self.at_supabase.get(m.source, ())]
        if len(owners) > 1:
            tally.urls += 1
            tally.ambiguous += 1
            return value
        return None if not owners else (self._judge_back(owners[0], value, tally, found) or value)

    def _text(self, value: str, tally: Tally, found: list[SupabaseURL | None]) -> str | None:
        whole = self._whole(value, tally, found)
        if whole is not None:
            return whole if whole != value else None
        pieces: list[str] = []
        done = 0
        if self._embedded is not None:
            for match in self._embedded.finditer(value):
                end = match.end()
                while end > match.start() and value[end - 1] in ".,:;!*'":
                    end -= 1
                location = parse_s3_url(value[match.start() : end], self.endpoint)
                mapping = None if location is None else self.by_destination.get(location.bucket)
                if location is None or mapping is None:
                    continue
                new = self._judge_back(mapping, location.key, tally, found)
                if new is not None:
                    pieces += (value[done : match.start()], new)
                    done = end
        for _ in self._references.finditer(value):
            tally.urls += 1
            tally.embedded_private += 1
        if not pieces:
            return None
        pieces.append(value[done:])
        return "".join(pieces)


def forward_runs(conn: Conn) -> list[int]:
    """Rewrite runs (forward: Supabase to S3) still in place, newest first: what a rollback reverts.

    A rollback's own rewrite is a `rollback` run, never counted here."""
    try:
        return list(reversed(journal.unreverted_runs(conn)))
    except psycopg.Error as error:
        conn.rollback()
        raise translate(error, "read the bucketshift journal") from None


def start_back_run(conn: Conn) -> int:
    """A journal run for a rollback's rewrite (kind `rollback`: `rewrite-urls --revert --run` undoes it)."""
    return journal.start_run(conn, "rollback")


def finish_back_run(conn: Conn, run_id: int, summary: dict[str, Any]) -> None:
    journal.finish_run(conn, run_id, summary)

"""What one stored value becomes: the pure part of the URL rewrite.

Every Supabase storage URL in a value is judged on its own: rewritten when its bucket is mapped
and its object is verified at the destination; left alone (and counted) when the object is not
verified, the bucket is not in the plan, or the URL reads two ways and both objects exist.
Private-bucket objects get a stable reference, never a public URL, and only where the value (a
text, an array element or a JSON string) is that URL alone: inside prose or markup a reference
would break the text, so such a URL is left and reported.

A URL is built from the key its object was written under at the destination, as the manifest
recorded it, not from today's prefix.  A new value is never cut to fit its column: a value (or
an array element) longer than the column allows leaves the whole row as it is, counted and
sampled.  A JSON document is edited as text: only the string values whose content changes are
replaced, so numbers, key order, whitespace, duplicate keys and escapes stay as they were.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.urls import SupabaseURL, SupabaseURLs, dest_key_destination_builder, plain_destination_builder

__all__ = ["Outcome", "Rewriter", "Tally", "Verified"]

SAMPLES = 5

Verified = Mapping[str, Mapping[str, str | None]]
"""Source bucket -> each verified source key -> the key its object was written under at the
destination, or None for where the mapping's prefix puts it (the prefix and the source key; also
what an old manifest that recorded no key means)."""

_NOWHERE: Mapping[str, str | None] = MappingProxyType({})
_UNVERIFIED: Final[Any] = object()
_NO_LIMIT = sys.maxsize

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"(?P<key>[ \t\n\r]*:)?', re.DOTALL)
"""A JSON string token, and the colon after it when it is an object key.  Outside strings a
valid document holds no quote, so scanning from its start meets every string, in order."""


@dataclass
class Tally:
    """Counts for one column; the plan prints them and apply reports them.

    `rewritten` counts the URLs of the values written (or that a plan would write); the URLs of
    a value left alone because its new form would not fit the column count in `urls` only, and
    the value in `too_long`.
    """

    rows_scanned: int = 0
    rows_matched: int = 0
    rows_changed: int = 0
    urls: int = 0
    rewritten: int = 0
    unverified: int = 0
    unmapped: int = 0
    ambiguous: int = 0
    embedded_private: int = 0
    too_long: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, str]] = field(default_factory=list)
    unverified_samples: list[str] = field(default_factory=list)
    too_long_samples: list[tuple[str, int]] = field(default_factory=list)
    """(a value left as it is, the characters its new form or its longest new element needs)."""

    def add(self, other: Tally) -> None:
        for name in (
            "rows_scanned",
            "rows_matched",
            "rows_changed",
            "urls",
            "rewritten",
            "unverified",
            "unmapped",
            "ambiguous",
            "too_long",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.embedded_private += other.embedded_private
        self.warnings.update(other.warnings)
        self.samples.extend(other.samples[: max(0, SAMPLES - len(self.samples))])
        self.unverified_samples.extend(other.unverified_samples[: max(0, SAMPLES - len(self.unverified_samples))])
        self.too_long_samples.extend(other.too_long_samples[: max(0, SAMPLES - len(self.too_long_samples))])


@dataclass(frozen=True)
class Outcome:
    """A value's new form (None when nothing in it changes)."""

    new: Any | None


class Rewriter:
    """Rewrites values of one kind (text, text[], json, jsonb) for one plan and manifest."""

    def __init__(
        self,
        origins: list[str],
        mappings: list[BucketMapping],
        endpoint: S3Endpoint,
        verified: Verified,
        *,
        private_url_style: str = "s3-uri",
    ) -> None:
        self.urls = SupabaseURLs(origins)
        self.mappings = {m.source: m for m in mappings}
        self.endpoint = endpoint
        self.verified = verified
        self.style = private_url_style
        style: Any = private_url_style
        self._by_dest_key = {
            m.source: dest_key_destination_builder(m, endpoint, private_url_style=style) for m in mappings
        }
        # The batch loop's way for a plain key: the prefix, the builder from the source key (for
        # an object where the prefix puts it) and the builder from any destination key.
        self._plain_routes = {
            m.source: (
                m.prefix,
                plain_destination_builder(m, endpoint, private_url_style=style),
                self._by_dest_key[m.source],
            )
            for m in mappings
        }
        self._by_kind = {"text": self._text, "text[]": self._array, "json": self._json, "jsonb": self._json}

    def _judge(
        self,
        bucket: str,
        key: str,
        whole: bool,
        tally: Tally,
        found: list[SupabaseURL | None],
        url: SupabaseURL | None = None,
    ) -> str | None:
        """The object's new reference, or None; `url` carries a parsed URL's readings and query.

        A URL to rewrite is added to `found`: whether it is rewritten is known only once the
        whole value is (`value`), so it is counted there.
        """
        tally.urls += 1
        mapping = self.mappings.get(bucket)
        if mapping is None:
            tally.unmapped += 1
            return None
        dest_key = self.verified.get(bucket, _NOWHERE).get(key, _UNVERIFIED)
        if dest_key is _UNVERIFIED:
            tally.unverified += 1
            if len(tally.unverified_samples) < SAMPLES:
                tally.unverified_samples.append(f"{bucket}/{key}")
            return None
        if (
            url is not None
            and url.alternatives
            and any(k in self.verified.get(b, _NOWHERE) for b, k in url.alternatives)
        ):
            tally.ambiguous += 1
            return None
        if mapping.access == "private" and not whole:
            tally.embedded_private += 1
            return None
        found.append(url)
        return self._by_dest_key[bucket](mapping.prefix + key if dest_key is None else dest_key)

    def _text(self, value: str, tally: Tally, found: list[SupabaseURL | None]) -> str | None:
        """A string holding one URL, or prose with URLs in it; None when nothing changes."""
        plain = self.urls.plain_object(value)
        if plain is not None:
            new = self._judge(plain[0], plain[1], True, tally, found)
            return new if new is not None and new != value else None
        whole = self.urls.parse(value)
        if whole is not None:
            new = self._judge(whole.bucket, whole.key, True, tally, found, whole)
            return new if new is not None and new != value else None
        changed = self.urls.replace(value, lambda url: self._judge(url.bucket, url.key, False, tally, found, url))
        return changed if changed != value else None

    def _array(self, value: list[str | None], tally: Tally, found: list[SupabaseURL | None]) -> list[str | None] | None:
        out, changed = [], False
        for item in value:
            new = self._text(item, tally, found) if isinstance(item, str) else None
            changed |= new is not None
            out.append(item if new is None else new)
        return out if changed else None

    def _json(self, text: str, tally: Tally, found: list[SupabaseURL | None]) -> str | None:
        """The document's text with each string value whose content changes replaced, and
        nothing else: object keys, numbers, whitespace, duplicate keys and every other string
        keep their very bytes.  (jsonb comes as PostgreSQL prints it; json as it was stored.)"""
        pieces: list[str] = []
        done = 0
        for match in _JSON_STRING.finditer(text):
            if match.group("key") is not None:
                continue
            token = match.group()
            new = self._text(token[1:-1] if "\\" not in token else json.loads(token), tally, found)
            if new is not None:
                pieces += (text[done : match.start()], _json_string(new))
                done = match.end()
        if not pieces:
            return None
        pieces.append(text[done:])
        return "".join(pieces)

    def values(self, kind: str, values: Sequence[Any], tally: Tally, *, limit: int | None = None) -> list[Any | None]:
        """`value` for each of a batch's values, in order, with the same tally.

        A rewrite spends most of its Python time here: a text value that is one plain URL (the
        common case) is judged inline, as `_text` and `_judge` would judge it; anything else goes
        through `value`.  A test holds the two to the same results and counts.
        """
        if kind != "text":
            return [self.value(kind, value, tally, limit=limit) for value in values]
        match_plain, general = self.urls.plain_match, self.value
        routes = {bucket: (self.verified.get(bucket, _NOWHERE), *route) for bucket, route in self._plain_routes.items()}
        samples, unverified_samples, too_long_samples = tally.samples, tally.unverified_samples, tally.too_long_samples
        most = _NO_LIMIT if limit is None else limit
        plain = unmapped = unverified = rewritten = changed = too_long = 0
        out: list[Any | None] = []
        append = out.append
        for value in values:
            match = match_plain(value)
            if match is None:
                append(general(kind, value, tally, limit=limit))
                continue
            plain += 1
            bucket, key = match.group("bucket", "key")
            route = routes.get(bucket)
            if route is None:
                unmapped += 1
                append(None)
                continue
            keys, prefix, by_key, by_dest_key = route
            if key not in keys:
                unverified += 1
                if len(unverified_samples) < SAMPLES:
                    unverified_samples.append(f"{bucket}/{key}")
                append(None)
                continue
            dest_key = keys[key]
            new = by_key(key) if dest_key is None or dest_key == prefix + key else by_dest_key(dest_key)
            if new == value:
                rewritten += 1
                append(None)
            elif len(new) > most:
                too_long += 1
                if len(too_long_samples) < SAMPLES:
                    too_long_samples.append((_show(value), len(new)))
                append(None)
            else:
                rewritten += 1
                changed += 1
                if len(samples) < SAMPLES:
                    samples.append((_show(value), _show(new)))
                append(new)
        tally.rows_scanned += plain
        tally.rows_matched += plain
        tally.urls += plain
        tally.unmapped += unmapped
        tally.unverified += unverified
        tally.rewritten += rewritten
        tally.rows_changed += changed
        tally.too_long += too_long
        return out

    def value(self, kind: str, value: Any, tally: Tally, *, limit: int | None = None) -> Any | None:
        """The new value of one row (None: unchanged), with the tally and samples kept.

        `limit` is the most characters the column holds (for an array, each element): a new
        value longer than that leaves the row as it is, counted in `too_long`, never cut.
        """
        tally.rows_scanned += 1
        seen = tally.urls
        found: list[SupabaseURL | None] = []
        new = self._by_kind[kind](value, tally, found)
        if tally.urls > seen:
            tally.rows_matched += 1
        if new is not None and limit is not None:
            needs = _longest(new)
            if needs > limit:
                tally.too_long += 1
                if len(tally.too_long_samples) < SAMPLES:
                    tally.too_long_samples.append((_show(value), needs))
                return None
        tally.rewritten += len(found)
        for url in found:
            if url is not None and (url.query or url.fragment or url.transformed):
                for warning in url.warnings:
                    tally.warnings[warning.split(":")[0].split(" (")[0]] += 1
        if new is not None:
            tally.rows_changed += 1
            if len(tally.samples) < SAMPLES:
                tally.samples.append((_show(value), _show(new)))
        return new


def _longest(new: str | list[str | None]) -> int:
    """The characters a new value needs: its length, or its longest element's."""
    if isinstance(new, str):
        return len(new)
    return max((len(item) for item in new if item is not None), default=0)


def _json_string(text: str) -> str:
    """`text` as a JSON string token; a lone surrogate (valid in a json escape, not in UTF-8) stays escaped."""
    token = json.dumps(text, ensure_ascii=False)
    if not token.isascii():
        try:
            token.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(text)
    return token


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:297] + "..."

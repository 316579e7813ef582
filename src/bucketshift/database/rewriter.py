"""What one stored value becomes: the pure part of the URL rewrite.

Every Supabase storage URL in a value is judged on its own: rewritten when its bucket is mapped
and its object is verified at the destination; left alone (and counted) when the object is not
verified, the bucket is not in the plan, or the URL reads two ways and both objects exist.
Private-bucket objects get a stable reference, never a public URL, and only where the value (a
text, an array element or a JSON string) is that URL alone: inside prose or markup a reference
would break the text, so such a URL is left and reported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bucketshift.config import BucketMapping, S3Endpoint
from bucketshift.urls import SupabaseURL, SupabaseURLs, destination_builder, plain_destination_builder

__all__ = ["Outcome", "Rewriter", "Tally"]

SAMPLES = 5
_NONE: frozenset[str] = frozenset()


@dataclass
class Tally:
    """Counts for one column; the plan prints them and apply reports them."""

    rows_scanned: int = 0
    rows_matched: int = 0
    rows_changed: int = 0
    urls: int = 0
    rewritten: int = 0
    unverified: int = 0
    unmapped: int = 0
    ambiguous: int = 0
    embedded_private: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, str]] = field(default_factory=list)
    unverified_samples: list[str] = field(default_factory=list)

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
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.embedded_private += other.embedded_private
        self.warnings.update(other.warnings)
        self.samples.extend(other.samples[: max(0, SAMPLES - len(self.samples))])
        self.unverified_samples.extend(other.unverified_samples[: max(0, SAMPLES - len(self.unverified_samples))])


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
        verified: Mapping[str, set[str]],
        *,
        private_url_style: str = "s3-uri",
    ) -> None:
        self.urls = SupabaseURLs(origins)
        self.mappings = {m.source: m for m in mappings}
        self.endpoint = endpoint
        self.verified = verified
        self.style = private_url_style
        self._destinations = {
            m.source: destination_builder(m, endpoint, private_url_style=private_url_style)  # type: ignore[arg-type]
            for m in mappings
        }
        self._plain_destinations = {
            m.source: plain_destination_builder(m, endpoint, private_url_style=private_url_style)  # type: ignore[arg-type]
            for m in mappings
        }
        self._by_kind = {"text": self.text, "text[]": self.array, "json": self.json, "jsonb": self.json}

    def _judge(self, bucket: str, key: str, whole: bool, tally: Tally, url: SupabaseURL | None = None) -> str | None:
        """The object's new reference, or None; `url` carries a parsed URL's readings and query."""
        tally.urls += 1
        mapping = self.mappings.get(bucket)
        if mapping is None:
            tally.unmapped += 1
            return None
        if key not in self.verified.get(bucket, _NONE):
            tally.unverified += 1
            if len(tally.unverified_samples) < SAMPLES:
                tally.unverified_samples.append(f"{bucket}/{key}")
            return None
        if url is not None and url.alternatives and any(k in self.verified.get(b, _NONE) for b, k in url.alternatives):
            tally.ambiguous += 1
            return None
        if mapping.access == "private" and not whole:
            tally.embedded_private += 1
            return None
        if url is not None and (url.query or url.fragment or url.transformed):
            for warning in url.warnings:
                tally.warnings[warning.split(":")[0].split(" (")[0]] += 1
        tally.rewritten += 1
        return self._destinations[bucket](key)

    def _judge_url(self, url: SupabaseURL, whole: bool, tally: Tally) -> str | None:
        return self._judge(url.bucket, url.key, whole, tally, url)

    def text(self, value: str, tally: Tally) -> str | None:
        """A string holding one URL, or prose with URLs in it; None when nothing changes."""
        plain = self.urls.plain_object(value)
        if plain is not None:
            new = self._judge(plain[0], plain[1], True, tally)
            return new if new is not None and new != value else None
        whole = self.urls.parse(value)
        if whole is not None:
            new = self._judge_url(whole, True, tally)
            return new if new is not None and new != value else None
        changed = self.urls.replace(value, lambda url: self._judge_url(url, False, tally))
        return changed if changed != value else None

    def array(self, value: list[str | None], tally: Tally) -> list[str | None] | None:
        out, changed = [], False
        for item in value:
            new = self.text(item, tally) if isinstance(item, str) else None
            changed |= new is not None
            out.append(item if new is None else new)
        return out if changed else None

    def json(self, text: str, tally: Tally) -> str | None:
        """Every string anywhere in the document (object keys stay as they are)."""
        document = json.loads(text)
        changed = False

        def walk(node: Any) -> Any:
            nonlocal changed
            if isinstance(node, str):
                new = self.text(node, tally)
                if new is not None:
                    changed = True
                    return new
                return node
            if isinstance(node, list):
                return [walk(item) for item in node]
            if isinstance(node, dict):
                return {name: walk(item) for name, item in node.items()}
            return node

        result = walk(document)
        return json.dumps(result, ensure_ascii=False) if changed else None

    def values(self, kind: str, values: Sequence[Any], tally: Tally) -> list[Any | None]:
        """`value` for each of a batch's values, in order, with the same tally.

        A rewrite spends most of its Python time here: a text value that is one plain URL (the
        common case) is judged inline, as `text` and `_judge` would judge it; anything else goes
        through `value`.  A test holds the two to the same results and counts.
        """
        if kind != "text":
            return [self.value(kind, value, tally) for value in values]
        match_plain, general = self.urls.plain_match, self.value
        mappings, verified, destinations = self.mappings, self.verified, self._plain_destinations
        samples, unverified_samples = tally.samples, tally.unverified_samples
        plain = unmapped = unverified = rewritten = changed = 0
        out: list[Any | None] = []
        append = out.append
        for value in values:
            match = match_plain(value)
            if match is None:
                append(general(kind, value, tally))
                continue
            plain += 1
            bucket, key = match.group("bucket", "key")
            if bucket not in mappings:
                unmapped += 1
                append(None)
            elif key not in verified.get(bucket, _NONE):
                unverified += 1
                if len(unverified_samples) < SAMPLES:
                    unverified_samples.append(f"{bucket}/{key}")
                append(None)
            else:
                rewritten += 1
                new = destinations[bucket](key)
                if new == value:
                    append(None)
                else:
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
        return out

    def value(self, kind: str, value: Any, tally: Tally) -> Any | None:
        """The new value of one row (None: unchanged), with the tally and samples kept."""
        tally.rows_scanned += 1
        seen = tally.urls
        new = self._by_kind[kind](value, tally)
        if tally.urls > seen:
            tally.rows_matched += 1
        if new is not None:
            tally.rows_changed += 1
            if len(tally.samples) < SAMPLES:
                tally.samples.append((_show(value), _show(new)))
        return new


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:297] + "..."

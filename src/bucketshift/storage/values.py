"""Reading what an application kept in its rows back into (logical bucket, key).

Rows hold whatever was written when they were written: Supabase URLs from before the move (public,
authenticated, signed with a token long expired, image-render URLs), the S3 forms `rewrite-urls`
and the S3 side write (public URLs, `s3://BUCKET/KEY`), and bare keys.  Every one of them names
one object; `read_value` says which, so `url_for` can give a URL that works now, from whichever
side the application uses now.  A Supabase URL is read under `SUPABASE_URL` when it is set, else
under the origin the URL itself names (rows keep working after the Supabase settings are gone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from bucketshift.errors import StoredValueError
from bucketshift.storage.settings import StorageSettings
from bucketshift.urls import SupabaseURLs, parse_s3_url

__all__ = ["StoredForm", "StoredRef", "read_value"]

StoredForm = Literal[
    "s3-url", "s3-uri", "key", "supabase-public", "supabase-authenticated", "supabase-sign", "supabase-render"
]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SUPABASE_PATH = re.compile(r"^(?P<origin>https?://[^/?#]+(?:/[^?#]*?)?)/storage/v1/(?:object|render/image)/", re.I)


@dataclass(frozen=True, slots=True)
class StoredRef:
    """The object a stored value names: its logical bucket, its key, and the form it was kept in."""

    bucket: str
    key: str
    form: StoredForm


@lru_cache(maxsize=64)
def _project(origin: str) -> SupabaseURLs:
    return SupabaseURLs([origin])


def _supabase(value: str, settings: StorageSettings) -> tuple[str, str, StoredForm] | None:
    if settings.supabase_url:
        found = _project(settings.supabase_url).parse(value)
    else:
        match = _SUPABASE_PATH.match(value)
        found = _project(match["origin"]).parse(value) if match else None
    if found is None:
        return None
    if found.transformed:
        return found.bucket, found.key, "supabase-render"
    form: StoredForm = "supabase-authenticated" if found.form == "authenticated" else "supabase-public"
    if found.form == "sign":
        form = "supabase-sign"
    return found.bucket, found.key, form


def read_value(value: str, settings: StorageSettings, bucket: str | None = None) -> StoredRef:
    """The object `value` names; StoredValueError when it names none of the application's buckets.

    `bucket` (logical or physical name) is needed for a bare key and, when given, must agree with
    a URL's bucket, so a row read from the wrong column is an error rather than a wrong object.
    """
    value = value.strip()
    if not value:
        raise StoredValueError("the stored value is empty; there is no object to give a URL for")
    expected = None if bucket is None else _logical(settings, bucket, "the bucket given")
    if not _SCHEME.match(value):
        if expected is None:
            raise StoredValueError(
                f"{value!r} is a bare key; pass its bucket too, such as url_for(value, bucket='videos')"
            )
        return StoredRef(expected, value.lstrip("/"), "key")
    endpoint = settings.s3_endpoint() if settings.region else None
    s3 = parse_s3_url(value, endpoint)
    if s3 is not None:
        logical = _logical(settings, s3.bucket, f"{value!r} names S3 bucket {s3.bucket!r}", physical=True)
        found: tuple[str, str, StoredForm] = (logical, s3.key, "s3-uri" if s3.style == "s3-uri" else "s3-url")
    else:
        supabase = _supabase(value, settings)
        if supabase is None:
            raise StoredValueError(
                f"{value!r} is neither an S3 URL or s3:// reference of the application's buckets nor a "
                "Supabase storage URL"
            )
        logical = _logical(settings, supabase[0], f"{value!r} names Supabase bucket {supabase[0]!r}")
        found = (logical, supabase[1], supabase[2])
    if expected is not None and expected != found[0]:
        raise StoredValueError(f"{value!r} is in bucket {found[0]!r}, not in {expected!r} as the caller said")
    return StoredRef(*found)


def _logical(settings: StorageSettings, name: str, what: str, *, physical: bool = False) -> str:
    logical = settings.logical(name, physical_only=physical)
    if logical is None:
        known = ", ".join(settings.buckets.values() if physical else settings.buckets)
        raise StoredValueError(f"{what}, which is none of the application's buckets ({known})")
    return logical

"""Request parsing shared by the routes: JSON bodies checked like the server's schemas, and names."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from bucketshift_sandbox.supabase.errors import invalid_bucket_name, invalid_key, invalid_request

__all__ = [
    "BUCKET_NAME_MAX",
    "is_valid_bucket_name",
    "is_valid_key",
    "json_body",
    "must_be_valid_bucket_name",
    "must_be_valid_key",
    "optional_bool",
    "optional_int",
    "optional_str",
    "required_str",
]

BUCKET_NAME_MAX = 100
# src/storage/limits.ts, with JavaScript's ASCII-only \w.
_KEY = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]+")
_BUCKET = re.compile(r"[A-Za-z0-9_!\-.*'() &$@=;:+,?]+")


def is_valid_key(key: str) -> bool:
    """S3-safe characters only (no non-ASCII), at least one."""
    return bool(_KEY.fullmatch(key))


def is_valid_bucket_name(name: str) -> bool:
    """The key characters minus ``/``, 1 to 100 of them."""
    return len(name) <= BUCKET_NAME_MAX and bool(_BUCKET.fullmatch(name))


def must_be_valid_key(key: str) -> None:
    """InvalidKey unless the key is valid."""
    if not is_valid_key(key):
        raise invalid_key(key)


def must_be_valid_bucket_name(name: str) -> None:
    """InvalidBucketName unless the name is valid."""
    if not is_valid_bucket_name(name):
        raise invalid_bucket_name()


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; InvalidRequest for anything else, as schema validation does."""
    raw = await request.body()
    if not raw.strip():
        raise invalid_request("body must be object")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid_request(f"Body is not valid JSON but content-type is set to 'application/json': {exc}") from exc
    if not isinstance(body, dict):
        raise invalid_request("body must be object")
    return body


def required_str(body: Mapping[str, Any], name: str) -> str:
    """A required string property."""
    if name not in body:
        raise invalid_request(f"body must have required property '{name}'")
    value = body[name]
    if not isinstance(value, str):
        raise invalid_request(f"body/{name} must be string")
    return value


def optional_str(body: Mapping[str, Any], name: str, *, where: str = "body") -> str | None:
    """An optional string property."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_request(f"{where}/{name} must be string")
    return value


def optional_int(body: Mapping[str, Any], name: str, *, minimum: int | None = None, where: str = "body") -> int | None:
    """An optional integer property (query strings give digits as text)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise invalid_request(f"{where}/{name} must be integer")
    if minimum is not None and value < minimum:
        raise invalid_request(f"{where}/{name} must be >= {minimum}")
    return int(value)


def optional_bool(body: Mapping[str, Any], name: str) -> bool | None:
    """An optional boolean property."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid_request(f"body/{name} must be boolean")
    return value

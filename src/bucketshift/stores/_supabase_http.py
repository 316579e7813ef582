"""The HTTP side of the Supabase backend: one aiohttp session, replies, and the error mapping.

aiohttp rather than httpx for this data path, by measurement: draining 200 KB objects from the
emulator at 64 in flight cost 15 ms of client CPU per object through httpx (its connection
pool scans every connection on every request) against 0.7 ms through aiohttp, and the copier's
CPU per object is what limits a copy on a small machine.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bucketshift.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    BucketshiftError,
    ConfigError,
    InvalidKey,
    NotFound,
    StoreError,
    Throttled,
    TooLarge,
    TransientError,
)
from bucketshift.urls import host_port

__all__ = ["NETWORK_ERRORS", "Reply", "error_body", "new_session", "raise_for", "transport_error", "url"]

NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


def url(text: str) -> URL:
    """Our own percent-encoding, sent exactly as written (yarl would re-quote it).

    A port out of range would only fail inside aiohttp, as a bare ValueError: say it here.
    """
    made = URL(text, encoded=True)
    try:
        made.port  # noqa: B018 - parses the netloc, which is what fails
    except ValueError:
        parts = urlsplit(text)
        raise ConfigError(
            f"the supabase url {parts.scheme}://{parts.hostname or ''} has a port out of range (1-65535); "
            "fix url in the plan file (SUPABASE_URL for bucketshift.storage)"
        ) from None
    return made


def new_session(*, max_connections: int, timeout: float, connect_timeout: float = 10.0) -> aiohttp.ClientSession:
    """`timeout` bounds a wait for the next byte of an answer; no bound on a whole large read."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections),
        timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=timeout),
        auto_decompress=False,
        raise_for_status=False,
    )


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def error_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _where(bucket: str | None, key: str | None) -> str:
    return f"{bucket}/{key}" if bucket and key else f"bucket {bucket}" if bucket else "storage"


_KEY_FIX = "check that the plan's supabase key is this project's service_role key or a secret key (sb_secret_...)"


def raise_for(status_code: int, body: bytes, reason: str, *, bucket: str | None, key: str | None) -> NoReturn:
    """Translate a failed Storage API answer; most arrive as HTTP 400 with the real status in the body."""
    parsed = error_body(body)
    try:
        status = int(parsed.get("statusCode", status_code))
    except (TypeError, ValueError):
        status = status_code
    code = str(parsed.get("code") or parsed.get("error") or "")
    message = str(parsed.get("message") or parsed.get("error") or reason or "request failed")
    answer = " ".join(part for part in (str(status), code) if part)
    text = f"Supabase Storage answered {answer} for {_where(bucket, key)}: {message}"
    if status == 404:
        if "bucket" in code.lower() or (key is None and bucket is not None) or "Bucket not found" in message:
            raise BucketNotFound(text, bucket=bucket, key=key)
        raise NotFound(text, bucket=bucket, key=key)
    if status == 409:
        if "notempty" in code.lower().replace("_", "") or "not empty" in message.lower():
            raise BucketNotEmpty(text, bucket=bucket, key=key)
        raise AlreadyExists(text, bucket=bucket, key=key)
    if status in (401, 403):
        raise AccessDenied(f"{text}; {_KEY_FIX}", bucket=bucket, key=key)
    if status == 413:
        raise TooLarge(text, bucket=bucket, key=key)
    if code == "InvalidKey" or "invalid key" in message.lower():
        raise InvalidKey(text, bucket=bucket, key=key)
    if status in (429, 503, 544):
        raise Throttled(text, bucket=bucket, key=key)
    if status >= 500:
        raise TransientError(text, bucket=bucket, key=key)
    raise StoreError(text, bucket=bucket, key=key)


_CHECK_URL = "check the supabase url in the plan file (SUPABASE_URL for bucketshift.storage)"


def _failure(exc: BaseException) -> tuple[str, str, bool]:
    """What failed, in words; the fix; and whether the failure may pass on its own (retryable)."""
    os_error = getattr(exc, "os_error", None) or exc.__cause__ or exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted", "use the host name its certificate is for", False
    if isinstance(exc, aiohttp.ClientSSLError) or isinstance(os_error, ssl.SSLError):
        plain = "WRONG_VERSION_NUMBER" in str(os_error) or "record layer" in str(os_error)
        what = "TLS failed (the server does not speak https)" if plain else "TLS failed"
        return what, f"{_CHECK_URL}: http:// or https://", False
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(os_error, socket.gaierror):
        if getattr(os_error, "errno", None) == socket.EAI_AGAIN:
            return "its name could not be resolved for now", f"check the network's DNS, or {_CHECK_URL}", True
        return "its host name does not resolve", f"{_CHECK_URL}: the host name", False
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "the connection timed out", f"{_CHECK_URL} and that the server is up", True
    if isinstance(exc, asyncio.TimeoutError):
        return "it did not answer in time (timed out)", "try again later, or raise timeout in the plan file", True
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection", "try again later", True
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut short", "try again later", True
    code = getattr(os_error, "errno", None)
    words = {
        errno.ECONNREFUSED: "connection refused",
        errno.ECONNRESET: "the connection was reset",
        errno.EHOSTUNREACH: "the host is unreachable",
        errno.ENETUNREACH: "the network is unreachable",
        errno.ETIMEDOUT: "the connection timed out",
        errno.EPIPE: "the connection was closed while sending",
    }
    if code in words:
        fix = f"{_CHECK_URL} and that the server is up" if code == errno.ECONNREFUSED else "try again later"
        return words[code], fix, True
    return f"network failure ({type(exc).__name__})", f"{_CHECK_URL} and that the server is up", True


def transport_error(
    exc: BaseException, bucket: str | None, key: str | None, *, endpoint: str | None = None
) -> BucketshiftError:
    """One sentence for a request that never got an answer: which endpoint, what failed, the fix.

    `endpoint` is the store's URL; without it the host is taken from the error when it names
    one.  A name that does not resolve and a TLS failure are errors in the plan file (they are
    not retried); the rest may pass, so they are `TransientError` and the engine retries them.
    """
    host = host_port(endpoint) if endpoint else None
    if host is None and isinstance(exc, aiohttp.ClientConnectorError):
        host = f"{exc.host}:{exc.port}"
    at = f" at {host}" if host else ""
    what, fix, transient = _failure(exc)
    about = f" for {_where(bucket, key)}" if bucket else ""
    message = f"cannot reach Supabase Storage{at}{about}: {what}; {fix}"
    if not transient:
        return ConfigError(message)
    return TransientError(message, bucket=bucket, key=key)

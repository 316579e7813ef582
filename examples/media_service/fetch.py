"""Fetching an asset image from the URL a user gave, for localize: http(s) only, streamed, bounded.

The URL comes from a user, so what it answers is checked before a byte is stored: a 4xx/5xx or a
body that is not an image is the source's failure (502, one sentence), never an object in the
bucket.  Sentences show the URL without its query or user part, where tokens live.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from .bounded import BoundedBody
from .errors import ServiceError
from .keys import image_extension

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class SourceImage:
    """The source's image, ready to stream into the bucket."""

    content_type: str
    extension: str
    body: BoundedBody


def shown(url: str) -> str:
    """The URL as a sentence may show it: scheme, host, port and path only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    text = f"{parts.scheme}://{host}{port}{parts.path}"
    return text if len(text) <= 200 else text[:197] + "..."


def checked_url(url: str) -> str:
    """The URL if it is one the service fetches: http or https with a host."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ServiceError(422, "source_url must be an http or https URL of the image")
    return text


@asynccontextmanager
async def open_source(http: aiohttp.ClientSession, url: str, *, limit: int) -> AsyncIterator[SourceImage]:
    """The source image's answer, checked; its body is read as the caller streams it."""
    url = checked_url(url)
    where = shown(url)
    try:
        response = await http.get(url, max_redirects=MAX_REDIRECTS)
    except TimeoutError:
        raise ServiceError(504, f"the source image at {where} did not answer in time") from None
    except aiohttp.ClientError as error:
        raise ServiceError(502, f"the source image at {where} could not be fetched ({type(error).__name__})") from None
    async with response:
        if response.status >= 400:
            said = f"HTTP {response.status} {response.reason or ''}".strip()
            raise ServiceError(502, f"the source image at {where} answered {said}; check the URL")
        content_type = _image_type(response.content_type.lower(), url)
        if content_type is None:
            raise ServiceError(502, f"the source at {where} answered {response.content_type}, not an image")
        body = BoundedBody(
            response.content.iter_any(),
            limit=limit,
            what=f"the source image at {where}",
            broken=(aiohttp.ClientError, TimeoutError),
            broken_status=502,
            too_large_status=422,
        )
        body.check_announced(response.headers.get("Content-Length"))
        yield SourceImage(content_type, image_extension(url, content_type), body)


def _image_type(answered: str, url: str) -> str | None:
    """The source's own content type when it is an image's; the URL's guess when the source gave none."""
    if answered.startswith("image/"):
        return answered
    guessed = mimetypes.guess_type(urlsplit(url).path)[0]
    if answered == "application/octet-stream" and guessed and guessed.startswith("image/"):
        return guessed
    return None

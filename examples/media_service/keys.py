"""Object keys, laid out as the seed's backend lays them out, so rows and buckets look the same
whichever backend wrote them.  Pure: the time and the random part are passed in."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

SEGMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""A project, branch or asset name as it may appear in a key: no slash, dot or space."""

IMAGE_EXTENSIONS = frozenset(
    {".avif", ".bmp", ".gif", ".heic", ".ico", ".jpeg", ".jpg", ".png", ".svg", ".tif", ".tiff", ".webp"}
)
_PREFERRED = {"image/jpeg": ".jpg", "image/svg+xml": ".svg", "image/tiff": ".tif", "image/x-icon": ".ico"}


def image_extension(url: str, content_type: str) -> str:
    """The key's extension: the URL path's when it is an image's, else the content type's, else none."""
    suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return suffix
    return _PREFERRED.get(content_type) or mimetypes.guess_extension(content_type) or ""


def asset_key(project: str, branch: str, asset: str, extension: str, *, now_ms: int, random_hex: str) -> str:
    """`project_{p}/branch_{b}/master-assets/{asset}_{ts}_{rand}{ext}`: the random part keeps two
    localizations of one asset in the same millisecond apart."""
    return f"project_{project}/branch_{branch}/master-assets/{asset}_{now_ms}_{random_hex}{extension}"


def frame_key(project: str, branch: str, frame_id: int, *, now_ms: int) -> str:
    return f"project_{project}/branch_{branch}/frames/{frame_id}_{now_ms}.png"


def video_key(project: str, job_id: int, *, now_ms: int) -> str:
    return f"project_{project}/videos/{job_id}_{now_ms}.mp4"

"""The ETag an upload gets: the body's MD5, or 32 hex characters that only look like one.

A project whose storage sits on S3 with SSE-KMS gets ETags that are not the MD5 of the body;
a tool that checks what it read against the ETag must tell the two apart, so the emulator
can give either (``settings.etag_style``).
"""

from __future__ import annotations

import hashlib

__all__ = ["ETAG_STYLES", "object_etag"]

ETAG_STYLES = ("md5", "opaque")


def object_etag(body_md5: str, style: str, *, salt: str) -> str:
    """The quoted ETag of a body whose hex MD5 is ``body_md5``.

    ``opaque`` is the MD5 of ``salt`` and the body's MD5: stable for one stored version (pass
    its version id as ``salt``), different on every write, and not the body's MD5.
    """
    if style == "opaque":
        digest = hashlib.md5(f"{salt}:{body_md5}".encode(), usedforsecurity=False).hexdigest()
        return f'"{digest}"'
    return f'"{body_md5}"'

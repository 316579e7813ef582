"""Writing a manifest as a finished copy and verify would have left it, for the rewrite's tests."""

from __future__ import annotations

from bucketshift.engine.manifest import Manifest


def record_verified(manifest: Manifest, mapping: str, dest_keys: dict[str, str]) -> None:
    """Record each source key as copied to its destination key and verified there."""
    for key, dest_key in dest_keys.items():
        manifest.mark_copied(mapping, key, size=1, sha256="x", crc64nvme=None, source_etag=None, source_modified=None,
                             dest_key=dest_key, dest_etag=None, attempts=1)  # fmt: skip
    manifest.mark_verified(mapping, dest_keys)

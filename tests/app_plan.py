"""The plan file of the seed's app (`asset-images`, `images`, private `videos`, its four URL columns) on
the local servers, for the tests that run the phase: one template, so they all run the same app."""

from __future__ import annotations

from collections.abc import Sequence

from bucketshift_sandbox.app_database import URL_COLUMNS

__all__ = ["app_plan"]

_BUCKETS = (("asset-images", "public-read"), ("images", "public-read"), ("videos", "private"))
CORS = '["http://localhost:3000"]'


def app_plan(
    *,
    url: str,
    key: str,
    endpoint: str,
    prefix: str,
    dsn: str | None = None,
    columns: Sequence[str] = URL_COLUMNS,
    cors: bool = False,
    batch_size: int | None = None,
    concurrency: int | None = None,
) -> str:
    """The TOML text: each bucket to `<prefix>-<bucket>`; `cors` adds the web app's origin (and browser
    uploads for the videos, as the demo's plan has them); `[database]` only with a `dsn`."""
    text = f'[source]\ntype = "supabase"\nurl = "{url}"\nkey = "{key}"\n\n'
    text += f'[destination]\ntype = "s3"\nregion = "us-east-1"\nendpoint_url = "{endpoint}"\n'
    for source, access in _BUCKETS:
        text += f'\n[[buckets]]\nsource = "{source}"\ndestination = "{prefix}-{source}"\naccess = "{access}"\n'
        if cors:
            text += f"cors_origins = {CORS}\n" + ("browser_uploads = true\n" if access == "private" else "")
    if dsn is not None:
        listed = ", ".join(f'"{c}"' for c in columns)
        text += f'\n[database]\ndsn = "{dsn}"\ncolumns = [{listed}]\n'
        if batch_size is not None:
            text += f"batch_size = {batch_size}\n"
    if concurrency is not None:
        text += f"\n[transfer]\nconcurrency = {concurrency}\n"
    return text

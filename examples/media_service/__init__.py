"""A media service shaped like our first users' backend, on `bucketshift.storage`.

It shows the application side of a move from Supabase Storage to S3: the same three upload
paths and the same rows whether `STORAGE_BACKEND` is `s3`, `supabase` or `mirror`, and URLs
made from whatever a row holds.  See README.md.
"""

from .app import create_app

__all__ = ["create_app"]

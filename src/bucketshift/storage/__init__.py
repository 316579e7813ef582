"""The application's storage client: uploads, public and signed URLs, and a mirror mode for the cut-over.

```python
from bucketshift.storage import AsyncStorage

storage = AsyncStorage.from_env()        # STORAGE_BACKEND=s3|supabase|mirror and the variables it needs
await storage.check()                    # every bucket exists, at start-up
stored = await storage.upload("images", "project_1/frame.png", png_bytes)
row.image_url = stored.stored_value      # public URL, or a private reference for a private bucket
url = await storage.url_for(row.image_url)   # any stored form -> a URL a browser can fetch now
```

`Storage` is the same for code without an event loop.  Importing this package needs none of the
command line's libraries (rich, typer, psycopg).
"""

from bucketshift.errors import (
    AccessDenied,
    BucketshiftError,
    ConfigError,
    InvalidKey,
    NotFound,
    StoredValueError,
    StoreError,
)
from bucketshift.retry import RetryPolicy
from bucketshift.storage.blocking import BlockingReader, Storage
from bucketshift.storage.client import AsyncStorage, MirrorMiss, StoredObject
from bucketshift.storage.settings import StorageSettings, bucket_variable
from bucketshift.storage.values import StoredRef

__all__ = [
    "AccessDenied",
    "AsyncStorage",
    "BlockingReader",
    "BucketshiftError",
    "ConfigError",
    "InvalidKey",
    "MirrorMiss",
    "NotFound",
    "RetryPolicy",
    "Storage",
    "StorageSettings",
    "StoreError",
    "StoredObject",
    "StoredRef",
    "StoredValueError",
    "bucket_variable",
]

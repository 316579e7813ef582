"""The two places an application's files can live, each with its own names and URL forms.

A side turns (logical bucket, key) into what the application keeps in its rows (`stored_value`)
and into a URL a browser can fetch now (`url`: public, or signed for a private bucket).  The
forms are the ones `rewrite-urls` writes, so a row written by the application and a row
rewritten by the migration look alike:

- S3, public bucket: the object's public URL (virtual-hosted on AWS, path-style on a custom
  endpoint, or under `S3_PUBLIC_BASE_URL`); private bucket: `s3://BUCKET/KEY` (or the bare key
  with `private_url_style = "key"`), a stable reference signed on demand, never a public URL.
- Supabase, public bucket: `{SUPABASE_URL}/storage/v1/object/public/BUCKET/KEY`; private bucket:
  the `object/authenticated/` URL of the object, stable, signed on demand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from bucketshift.storage.settings import Side, StorageSettings
from bucketshift.stores.base import ObjectStore
from bucketshift.stores.registry import open_store
from bucketshift.urls import build_supabase_url, s3_public_url, s3_uri

__all__ = ["S3Side", "StorageSide", "SupabaseSide", "open_side"]


class StorageSide(ABC):
    """One backend of the application's storage."""

    name: ClassVar[Side]
    label: ClassVar[str]

    def __init__(self, settings: StorageSettings, store: ObjectStore) -> None:
        self.settings = settings
        self.store = store

    def private(self, logical: str) -> bool:
        return logical in self.settings.private

    @abstractmethod
    def bucket(self, logical: str) -> str:
        """The bucket's name on this side."""

    @abstractmethod
    def where(self, logical: str) -> str:
        """What names this bucket in the settings (for an error that says what to fix)."""

    @abstractmethod
    def stored_value(self, logical: str, key: str) -> str:
        """What the application keeps in its row for this object."""

    @abstractmethod
    def public_url(self, logical: str, key: str) -> str: ...

    async def url(self, logical: str, key: str, expires_in: int) -> str:
        """A URL a browser can fetch now: public, or signed for `expires_in` seconds."""
        if self.private(logical):
            return await self.store.signed_url(self.bucket(logical), key, expires_in)
        return self.public_url(logical, key)


class S3Side(StorageSide):
    name = "s3"
    label = "S3"

    def __init__(self, settings: StorageSettings, store: ObjectStore) -> None:
        super().__init__(settings, store)
        self.endpoint = settings.s3_endpoint()

    def bucket(self, logical: str) -> str:
        return self.settings.buckets[logical]

    def where(self, logical: str) -> str:
        return self.settings.where.get(logical, logical)

    def stored_value(self, logical: str, key: str) -> str:
        if not self.private(logical):
            return self.public_url(logical, key)
        return key if self.settings.private_url_style == "key" else s3_uri(self.bucket(logical), key)

    def public_url(self, logical: str, key: str) -> str:
        return s3_public_url(self.endpoint, self.bucket(logical), key)


class SupabaseSide(StorageSide):
    name = "supabase"
    label = "Supabase"

    def __init__(self, settings: StorageSettings, store: ObjectStore) -> None:
        super().__init__(settings, store)
        self.project_url = settings.supabase_endpoint().url

    def bucket(self, logical: str) -> str:
        return logical

    def where(self, logical: str) -> str:
        return self.settings.buckets_from

    def stored_value(self, logical: str, key: str) -> str:
        form = "authenticated" if self.private(logical) else "public"
        return build_supabase_url(self.project_url, logical, key, form)

    def public_url(self, logical: str, key: str) -> str:
        return build_supabase_url(self.project_url, logical, key, "public")


def open_side(name: Side, settings: StorageSettings) -> StorageSide:
    """A side with its store: the AWS default chain for S3, the service-role key for Supabase."""
    if name == "s3":
        return S3Side(settings, open_store(settings.s3_endpoint()))
    return SupabaseSide(settings, open_store(settings.supabase_endpoint()))

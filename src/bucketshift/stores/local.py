"""A directory tree as an object store: exports, offline copies and tests.

Layout under the root: one directory per bucket; each object is a file at its key's path, and
its description (content type, cache-control, user metadata, sha256) is a JSON file beside it
in the bucket's `.bucketshift-meta/` tree.  Writes go to a temporary file and are renamed into
place, so a crash never leaves a half-written object under its real name.  Keys that a file
system cannot hold faithfully (empty, `.` or `..` segments, a trailing `/`, a NUL, a segment
longer than 255 bytes, or the reserved `.bucketshift-` prefix) are refused with InvalidKey.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bucketshift.config import LocalEndpoint
from bucketshift.errors import AlreadyExists, BucketNotEmpty, BucketNotFound, InvalidKey, NotFound, PreconditionFailed
from bucketshift.stores.base import (
    RESERVED_METADATA,
    Body,
    BucketInfo,
    Digests,
    ListPage,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    SourceVersion,
    aiter_body,
)
from bucketshift.stores.registry import register

__all__ = ["LocalStore"]

_RESERVED = ".bucketshift-"
_META_DIR = ".bucketshift-meta"
_TMP_DIR = ".bucketshift-tmp"
_BUCKET_FILE = ".bucketshift-bucket.json"
_CHUNK = 1 << 20
PAGE = 1000


def _check_key(bucket: str, key: str) -> None:
    segments = key.split("/")
    if (
        not key
        or "\0" in key
        or any(s in ("", ".", "..") for s in segments)
        or segments[0].startswith(_RESERVED)
        or any(len(s.encode()) > 255 for s in segments)
    ):
        raise InvalidKey(f"key {key!r} cannot be stored in a local directory", bucket=bucket, key=key)


def _check_bucket(bucket: str) -> None:
    if not bucket or "/" in bucket or "\0" in bucket or bucket in (".", "..") or bucket.startswith(_RESERVED):
        raise InvalidKey(f"bucket name {bucket!r} cannot be a local directory", bucket=bucket)


class _FileReader(ObjectReader):
    def __init__(self, info: ObjectInfo, handle: Any) -> None:
        self.info = info
        self._handle = handle

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(self._handle.read, _CHUNK):
            yield chunk


class LocalStore(ObjectStore):
    """Objects as files under `root`; `public_base_url` is where a static web server serves it."""

    kind = "local"

    def __init__(self, root: Path, *, public_base_url: str | None = None) -> None:
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        _check_bucket(bucket)
        path = self.root / bucket
        if must_exist and not (path / _BUCKET_FILE).is_file():
            raise BucketNotFound(f"bucket {bucket} does not exist in {self.root}", bucket=bucket)
        return path

    def _paths(self, bucket: str, key: str) -> tuple[Path, Path]:
        _check_key(bucket, key)
        base = self._bucket_dir(bucket)
        return base / key, base / _META_DIR / (key + ".json")

    async def list_buckets(self) -> list[BucketInfo]:
        def scan() -> list[BucketInfo]:
            if not self.root.is_dir():
                return []
            out = []
            for entry in sorted(self.root.iterdir()):
                marker = entry / _BUCKET_FILE
                if marker.is_file():
                    out.append(BucketInfo(entry.name, bool(json.loads(marker.read_text()).get("public"))))
            return out

        return await asyncio.to_thread(scan)

    async def create_bucket(self, bucket: str, *, public: bool = False) -> None:
        path = self._bucket_dir(bucket, must_exist=False)

        def make() -> None:
            path.mkdir(parents=True, exist_ok=True)
            marker = path / _BUCKET_FILE
            try:
                with marker.open("x") as handle:
                    json.dump({"public": public}, handle)
            except FileExistsError:
                raise AlreadyExists(f"bucket {bucket} already exists", bucket=bucket) from None

        await asyncio.to_thread(make)

    async def delete_bucket(self, bucket: str) -> None:
        path = self._bucket_dir(bucket)

        def remove() -> None:
            for entry in path.iterdir():
                if entry.name == _BUCKET_FILE or entry.name.startswith(_RESERVED):
                    continue
                raise BucketNotEmpty(f"bucket {bucket} is not empty", bucket=bucket)
            if any(p.is_file() for p in (path / _META_DIR).rglob("*")):
                raise BucketNotEmpty(f"bucket {bucket} is not empty", bucket=bucket)
            shutil.rmtree(path)

        await asyncio.to_thread(remove)

    def _walk(self, bucket: str, prefix: str) -> Iterator[str]:
        base = self._bucket_dir(bucket)
        folder, _, _ = prefix.rpartition("/")
        start = base / folder if folder else base
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, base)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirnames[:] = sorted(d for d in dirnames if not (rel == "" and d.startswith(_RESERVED)))
            for name in sorted(filenames):
                if rel == "" and name.startswith(_RESERVED):
                    continue
                key = rel + name
                if key.startswith(prefix):
                    yield key

    async def list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """Keys in byte order, PAGE at a time; the token is the last key returned."""
        keys = await asyncio.to_thread(
            lambda: sorted(k for k in self._walk(bucket, prefix) if token is None or k > token)
        )
        infos = []
        for key in keys[:PAGE]:
            try:
                infos.append(await self.head(bucket, key))
            except NotFound:
                continue
        return ListPage(infos, keys[PAGE - 1] if len(keys) > PAGE else None)

    def _read_info(self, bucket: str, key: str) -> ObjectInfo:
        data, meta = self._paths(bucket, key)
        try:
            stat = data.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"object {key} not found in bucket {bucket}", bucket=bucket, key=key) from None
        if not data.is_file():
            raise NotFound(f"object {key} not found in bucket {bucket}", bucket=bucket, key=key)
        try:
            described = json.loads(meta.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            described = {}
        origin = described.get("copied_from")
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=described.get("sha256"),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            content_type=described.get("content_type"),
            cache_control=described.get("cache_control"),
            content_disposition=described.get("content_disposition"),
            content_encoding=described.get("content_encoding"),
            content_language=described.get("content_language"),
            metadata=described.get("metadata") or {},
            sha256=described.get("sha256"),
            crc64nvme=described.get("crc64nvme"),
            copied_from=SourceVersion(origin["etag"], origin["size"], origin.get("sha256")) if origin else None,
        )

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._read_info, bucket, key)

    @asynccontextmanager
    async def open(self, bucket: str, key: str, *, offset: int = 0) -> AsyncIterator[ObjectReader]:
        info = await self.head(bucket, key)
        data, _ = self._paths(bucket, key)
        try:
            handle = await asyncio.to_thread(data.open, "rb")
        except FileNotFoundError:
            raise NotFound(f"object {key} not found in bucket {bucket}", bucket=bucket, key=key) from None
        if offset:
            await asyncio.to_thread(handle.seek, offset)
        try:
            yield _FileReader(info, handle)
        finally:
            await asyncio.to_thread(handle.close)

    async def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        *,
        size: int | None = None,
        content_type: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
        if_match: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        copied_from: SourceVersion | None = None,
    ) -> ObjectInfo:
        """A file renamed into place; `if_match` is checked just before the rename (one process only)."""
        data, meta = self._paths(bucket, key)
        tmp_dir = self._bucket_dir(bucket) / _TMP_DIR
        if not overwrite and await asyncio.to_thread(data.exists):
            raise AlreadyExists(f"object {key} already exists in bucket {bucket}", bucket=bucket, key=key)
        await asyncio.to_thread(tmp_dir.mkdir, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        digests = Digests()
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in aiter_body(body):
                    digests.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            described = {
                "content_type": content_type or "application/octet-stream",
                "cache_control": cache_control,
                "content_disposition": content_disposition,
                "content_encoding": content_encoding,
                "content_language": content_language,
                "metadata": {k.lower(): v for k, v in (metadata or {}).items() if k.lower() not in RESERVED_METADATA},
                "sha256": digests.sha256(),
                "crc64nvme": digests.crc64nvme(),
                "copied_from": None
                if copied_from is None
                else {"etag": copied_from.etag, "size": copied_from.size, "sha256": digests.sha256()},
            }
            if if_match is not None:
                current = await asyncio.to_thread(self._current_etag, bucket, key)
                if current != if_match:
                    raise PreconditionFailed(
                        f"object {key} in bucket {bucket} is no longer the version {if_match}", bucket=bucket, key=key
                    )
            await asyncio.to_thread(self._commit, bucket, key, Path(tmp_name), data, meta, described, overwrite)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)  # noqa: ASYNC240 - must run even when cancelled
            raise
        return await self.head(bucket, key)

    def _current_etag(self, bucket: str, key: str) -> str | None:
        try:
            return self._read_info(bucket, key).etag
        except NotFound:
            return None

    @staticmethod
    def _commit(
        bucket: str, key: str, tmp: Path, data: Path, meta: Path, described: dict[str, Any], overwrite: bool
    ) -> None:
        try:
            data.parent.mkdir(parents=True, exist_ok=True)
            meta.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(
                f"key {key!r} needs a folder where an object of that name exists", bucket=bucket, key=key
            ) from None
        if data.is_dir():
            raise InvalidKey(f"key {key!r} names a folder that holds other objects", bucket=bucket, key=key)
        if not overwrite and data.exists():
            raise AlreadyExists(f"object {key} already exists in bucket {bucket}", bucket=bucket, key=key)
        meta_tmp = meta.with_name(meta.name + ".tmp")
        meta_tmp.write_text(json.dumps(described), encoding="utf-8")
        os.replace(meta_tmp, meta)
        os.replace(tmp, data)

    async def delete(self, bucket: str, key: str) -> None:
        data, meta = self._paths(bucket, key)

        def remove() -> None:
            if data.is_file():
                data.unlink()
            meta.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    def public_url(self, bucket: str, key: str) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{quote(bucket, safe='')}/{quote(key, safe='/')}"
        return (self.root / bucket / key).resolve().as_uri()

    async def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        await self.head(bucket, key)
        return self.public_url(bucket, key)


@register("local")
def _from_config(endpoint: LocalEndpoint, *, root: Path | None = None, **_: Any) -> LocalStore:
    return LocalStore(root or endpoint.path, public_base_url=endpoint.public_base_url)

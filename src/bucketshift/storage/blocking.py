"""`Storage`: the same client for code that is not async (Flask, Django, scripts, workers).

Every call runs on one event loop in a background thread, so the connection pools of both
stores live across calls (a loop per call would open new connections each time), and any
number of threads may call at once.  The methods are `AsyncStorage`'s, without `await`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from bucketshift.eventloop import loop_factory
from bucketshift.retry import RetryPolicy
from bucketshift.storage.bodies import Data
from bucketshift.storage.client import AsyncStorage, MirrorMiss, StoredObject
from bucketshift.storage.settings import Backend, Side, StorageSettings
from bucketshift.storage.values import StoredRef
from bucketshift.stores.base import ObjectInfo, ObjectReader

__all__ = ["BlockingReader", "Storage"]

T = TypeVar("T")


class BlockingReader:
    """An open object read chunk by chunk from plain code: `for chunk in reader`."""

    def __init__(self, reader: ObjectReader, run: Any) -> None:
        self.info: ObjectInfo = reader.info
        self._chunks = aiter(reader)
        self._run = run

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self._run(anext(self._chunks))
            except StopAsyncIteration:
                return


class Storage:
    """The application's storage for code without an event loop; build it with `from_env` or `from_plan`."""

    def __init__(self, settings: StorageSettings, **options: RetryPolicy) -> None:
        factory = loop_factory()
        self._loop = factory() if factory is not None else asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bucketshift-storage", daemon=True)
        self._thread.start()
        self._closed = False

        async def build() -> AsyncStorage:
            return AsyncStorage(settings, **options)

        try:
            self.aio = self._run(build())
        except BaseException:
            self._stop()
            raise

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: RetryPolicy) -> Storage:
        return cls(StorageSettings.from_env(env), **options)

    @classmethod
    def from_plan(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: Backend = "s3",
        primary: Side | None = None,
        env: Mapping[str, str] | None = None,
        **options: RetryPolicy,
    ) -> Storage:
        return cls(StorageSettings.from_plan(path, backend=backend, primary=primary, env=env), **options)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            work.close()
            raise RuntimeError("this Storage is closed")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    @property
    def settings(self) -> StorageSettings:
        return self.aio.settings

    @property
    def missed(self) -> list[MirrorMiss]:
        return list(self.aio.missed)

    @property
    def missed_count(self) -> int:
        return self.aio.missed_count

    def check(self) -> None:
        self._run(self.aio.check())

    def upload(
        self,
        bucket: str,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
    ) -> StoredObject:
        return self._run(
            self.aio.upload(
                bucket, key, data, content_type=content_type, cache_control=cache_control, metadata=metadata,
                overwrite=overwrite,
            )
        )  # fmt: skip

    def delete(self, bucket: str, key: str) -> None:
        self._run(self.aio.delete(bucket, key))

    def exists(self, bucket: str, key: str) -> bool:
        return self._run(self.aio.exists(bucket, key))

    def public_url(self, bucket: str, key: str) -> str:
        return self._run(self.aio.public_url(bucket, key))

    def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        return self._run(self.aio.signed_url(bucket, key, expires_in))

    def url_for(self, stored_value: str, *, bucket: str | None = None, expires_in: int = 3600) -> str:
        return self._run(self.aio.url_for(stored_value, bucket=bucket, expires_in=expires_in))

    def read(self, stored_value: str, *, bucket: str | None = None) -> StoredRef:
        return self.aio.read(stored_value, bucket=bucket)

    def download(self, bucket: str, key: str) -> bytes:
        return self._run(self.aio.download(bucket, key))

    @contextmanager
    def open(self, bucket: str, key: str) -> Iterator[BlockingReader]:
        """The object's bytes chunk by chunk (`for chunk in reader`), for objects too large to hold."""
        manager = self.aio.open(bucket, key)
        reader = self._run(manager.__aenter__())
        try:
            yield BlockingReader(reader, self._run)
        except BaseException as exc:
            if not self._run(manager.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            self._run(manager.__aexit__(None, None, None))

    def close(self) -> None:
        """Close both stores' connections and stop the loop's thread."""
        if self._closed:
            return
        try:
            self._run(self.aio.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

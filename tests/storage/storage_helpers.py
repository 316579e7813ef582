"""What the application-storage tests share: each test's two sides and a browser's GET."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx

from bucketshift.retry import RetryPolicy
from bucketshift.storage import AsyncStorage
from bucketshift.stores.base import ObjectStore
from bucketshift_sandbox.servers import EmulatorServer, MotoServer

LOGICAL = {"asset-images": True, "images": True, "videos": False}
"""The logical buckets and whether each is public."""
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, throttle_floor=0.01)
suffixes = itertools.count(1)


@dataclass
class Sides:
    """One test's world: the environment of each backend, and stores to look at both sides directly."""

    moto: MotoServer
    emulator: EmulatorServer
    s3_buckets: dict[str, str]
    prefix: str
    s3: ObjectStore
    supabase: ObjectStore
    opened: list[AsyncStorage] = field(default_factory=list)

    def env(self, backend: str, primary: str | None = None, *, s3_endpoint: str | None = None) -> dict[str, str]:
        env = {
            "STORAGE_BACKEND": backend,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": s3_endpoint or self.moto.endpoint_url,
            "SUPABASE_URL": self.emulator.url,
            "SUPABASE_SERVICE_ROLE_KEY": self.emulator.service_role_key,
        }
        env.update({f"S3_{name.upper().replace('-', '_')}_BUCKET": bucket for name, bucket in self.s3_buckets.items()})
        if primary:
            env["STORAGE_PRIMARY"] = primary
        return env

    def storage(self, backend: str, primary: str | None = None, **options: object) -> AsyncStorage:
        endpoint = options.pop("s3_endpoint", None)
        made = AsyncStorage.from_env(
            self.env(backend, primary, s3_endpoint=endpoint),  # type: ignore[arg-type]
            **{"retry": FAST, "mirror_retry": FAST, **options},  # type: ignore[arg-type]
        )
        self.opened.append(made)
        return made

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def side(self, name: str) -> ObjectStore:
        return self.s3 if name == "s3" else self.supabase

    def bucket(self, side: str, logical: str) -> str:
        return self.s3_buckets[logical] if side == "s3" else logical


def fetch(url: str) -> httpx.Response:
    """A browser's GET: no credentials, redirects followed."""
    return httpx.get(url, timeout=30, follow_redirects=True)

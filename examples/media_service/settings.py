"""The service's own settings (storage has its own: `AsyncStorage.from_env`), read once at start-up.

A missing or wrong value is one `ConfigError` naming the variable, so the service does not start
half-configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bucketshift.storage import ConfigError

MiB = 1 << 20


@dataclass(frozen=True)
class ServiceSettings:
    """`database_url` from DATABASE_URL; the size limits bound what one request may make us hold or store."""

    database_url: str
    max_image_bytes: int = 20 * MiB
    max_video_bytes: int = 2048 * MiB
    fetch_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceSettings:
        """DATABASE_URL (required), MEDIA_MAX_IMAGE_BYTES, MEDIA_MAX_VIDEO_BYTES, MEDIA_FETCH_TIMEOUT."""
        database_url = env.get("DATABASE_URL", "").strip()
        if not database_url:
            raise ConfigError(
                "DATABASE_URL is not set; set it to the PostgreSQL URL (postgresql://user:password@host:5432/db)"
            )
        return cls(
            database_url=database_url,
            max_image_bytes=_positive(env, "MEDIA_MAX_IMAGE_BYTES", cls.max_image_bytes),
            max_video_bytes=_positive(env, "MEDIA_MAX_VIDEO_BYTES", cls.max_video_bytes),
            fetch_timeout=float(_positive(env, "MEDIA_FETCH_TIMEOUT", int(cls.fetch_timeout))),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) == 0:
        raise ConfigError(f"{name} is {text!r}; set it to a whole number above 0")
    return int(text)

"""Backends register a name and a factory here; core code never imports a backend module.

A backend module is imported only when a plan names its type, so a missing optional SDK
affects only the plan that needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from bucketshift.config import Endpoint
from bucketshift.errors import ConfigError
from bucketshift.stores.base import ObjectStore

__all__ = ["available", "open_store", "register"]

Factory = Callable[..., ObjectStore]

_BUILTIN: dict[str, str] = {
    "supabase": "bucketshift.stores.supabase",
    "s3": "bucketshift.stores.s3",
    "local": "bucketshift.stores.local",
}
_FACTORIES: dict[str, Factory] = {}


def register(kind: str) -> Callable[[Factory], Factory]:
    """Decorate a backend's `from_config` factory under its type name."""

    def decorate(factory: Factory) -> Factory:
        _FACTORIES[kind] = factory
        return factory

    return decorate


def available() -> list[str]:
    return sorted(set(_BUILTIN) | set(_FACTORIES))


def open_store(endpoint: Endpoint, **injected: Any) -> ObjectStore:
    """Build the store an endpoint describes; `injected` passes clients or transports in (tests)."""
    kind = endpoint.type
    if kind not in _FACTORIES and kind in _BUILTIN:
        importlib.import_module(_BUILTIN[kind])
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise ConfigError(f"store type '{kind}' is not known; use one of {', '.join(available())}")
    return factory(endpoint, **injected)

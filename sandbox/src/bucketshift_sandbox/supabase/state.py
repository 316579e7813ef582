"""Everything one emulator instance holds, handed to the routes instead of module globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bucketshift_sandbox.supabase.blobs import BlobStore
from bucketshift_sandbox.supabase.body_faults import StallRelease
from bucketshift_sandbox.supabase.catalog import Catalog
from bucketshift_sandbox.supabase.faults import FaultInjector
from bucketshift_sandbox.supabase.settings import EmulatorSettings
from bucketshift_sandbox.supabase.stats import Stats

__all__ = ["EmulatorState"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class EmulatorState:
    """Settings, rows, bytes, counters, the fault dice and the stall release of one running emulator."""

    settings: EmulatorSettings
    catalog: Catalog
    blobs: BlobStore
    stats: Stats = field(default_factory=Stats)
    clock: Callable[[], datetime] = _utcnow
    faults: FaultInjector = field(init=False)
    stalls: StallRelease = field(default_factory=StallRelease)

    def __post_init__(self) -> None:
        self.faults = FaultInjector(self.settings)

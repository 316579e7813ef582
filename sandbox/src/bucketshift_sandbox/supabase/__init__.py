"""A local emulator of the Supabase Storage API, for tests, benchmarks and the demo.

Run it with ``python -m bucketshift_sandbox.supabase --data DIR`` (see ``__main__``), or from
Python with ``bucketshift_sandbox.servers.run_emulator``; ``create_app`` builds the ASGI app.
Its runtime switches (latency, faults and where they land, stall length, ETag style) are
described in ``settings.EmulatorSettings``, its counters in ``stats``.
"""

from bucketshift_sandbox.supabase.app import STORAGE_PREFIX, create_app
from bucketshift_sandbox.supabase.keys import (
    DEFAULT_JWT_SECRET,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    anon_key,
    role_of,
    service_role_key,
)
from bucketshift_sandbox.supabase.settings import DEFAULT_FAULTS, FAULT_KINDS, EmulatorSettings

__all__ = [
    "DEFAULT_FAULTS",
    "DEFAULT_JWT_SECRET",
    "DEFAULT_PUBLISHABLE_KEY",
    "DEFAULT_SECRET_KEY",
    "FAULT_KINDS",
    "STORAGE_PREFIX",
    "EmulatorSettings",
    "anon_key",
    "create_app",
    "role_of",
    "service_role_key",
]

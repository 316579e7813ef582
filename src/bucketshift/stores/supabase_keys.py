"""Which kind of Supabase API key a string is, read without verifying it.

A migration needs the service role: a legacy JWT whose `role` claim is `service_role`, or a
new-style secret key (`sb_secret_...`).  Given an anon JWT or a publishable key instead,
Supabase Storage does not refuse: row-level security hides every private bucket and object,
so a copy fails much later as "404 Bucket not found".  Reading the key up front turns that
into one sentence naming the key.  A JWT's payload is base64url JSON, readable without the
project's secret; nothing here checks a signature (the server does that on the first request).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from enum import Enum

from bucketshift.config import Plan, SupabaseEndpoint
from bucketshift.errors import ConfigError

__all__ = ["KeyKind", "KeyReading", "not_a_service_key", "read_key", "require_service_keys"]

ELEVATED_PREFIX = "sb_secret_"
PUBLISHABLE_PREFIX = "sb_publishable_"
SERVICE_ROLE = "service_role"
_ROLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyKind(Enum):
    ELEVATED = "secret key (sb_secret_...)"
    PUBLISHABLE = "publishable key"
    JWT = "legacy JWT key"
    UNKNOWN = "unrecognised key"


@dataclass(frozen=True)
class KeyReading:
    """What a key looks like: its kind and, for a readable JWT, its `role` claim."""

    kind: KeyKind
    role: str | None = None


def _jwt_role(token: str) -> tuple[bool, str | None]:
    """(is a readable JWT, its role claim); a string of three dot-separated parts whose middle
    one is base64url JSON is a JWT."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False, None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return False, None
    if not isinstance(claims, dict):
        return False, None
    role = claims.get("role")
    return True, role if isinstance(role, str) else None


def read_key(key: str) -> KeyReading:
    """The kind of `key`, by its prefix or its JWT payload."""
    text = key.strip()
    if text.startswith(ELEVATED_PREFIX):
        return KeyReading(KeyKind.ELEVATED)
    if text.startswith(PUBLISHABLE_PREFIX):
        return KeyReading(KeyKind.PUBLISHABLE)
    is_jwt, role = _jwt_role(text)
    if is_jwt:
        return KeyReading(KeyKind.JWT, role)
    return KeyReading(KeyKind.UNKNOWN)


_USE_INSTEAD = (
    "use the project's service_role key or a secret key (sb_secret_...) from the dashboard's "
    "Project Settings > API Keys"
)


def not_a_service_key(key: str) -> str | None:
    """Why `key` cannot be a service-role key, as a sentence; None when it may be one.

    A key of no known shape passes: only the server can tell whether it is valid.  The
    sentence never contains the key, only its kind and role.
    """
    reading = read_key(key)
    if reading.kind is KeyKind.PUBLISHABLE:
        return (
            "this is a publishable key (sb_publishable_...), which has only the anon role and sees "
            f"no private bucket; {_USE_INSTEAD}"
        )
    if reading.kind is not KeyKind.JWT or reading.role == SERVICE_ROLE:
        return None
    if reading.role == "anon":
        return f"this is the project's anon key (a JWT with role 'anon'), which sees no private bucket; {_USE_INSTEAD}"
    if reading.role is None:
        return f"this JWT has no role claim, so Storage treats it as anon; {_USE_INSTEAD}"
    role = reading.role if _ROLE_NAME.match(reading.role) else "(unreadable)"
    return f"this is a JWT for role '{role}', not the service role, so row-level security applies; {_USE_INSTEAD}"


def require_service_keys(plan: Plan) -> None:
    """Fail with one sentence, before any request, when a Supabase side of `plan` has a key
    that cannot be a service-role key.

    Called by the verbs that talk to Supabase rather than by the plan file's validator: the
    config layer may not import the stores layer, and verbs that never send the key (provision,
    rewrite-urls) should not refuse a plan for it.
    """
    where = str(plan.path) if plan.path is not None else "plan file"
    for side in ("source", "destination"):
        endpoint = getattr(plan, side)
        if isinstance(endpoint, SupabaseEndpoint):
            problem = not_a_service_key(endpoint.key.get_secret_value())
            if problem is not None:
                raise ConfigError(f"{where}: {side}.key: {problem}")

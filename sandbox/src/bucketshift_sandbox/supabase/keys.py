"""API keys, JWTs and the role a request runs as.

The real server reads the role from the JWT in ``Authorization`` (``src/http/plugins/jwt.ts``)
and lets row-level security decide; the hosted gateway in front of it turns a new-style
``sb_secret_...`` key into a service-role JWT.  The emulator folds both into one step.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from bucketshift_sandbox.supabase.errors import StorageError, access_denied

__all__ = [
    "ANON",
    "DEFAULT_JWT_SECRET",
    "DEFAULT_PUBLISHABLE_KEY",
    "DEFAULT_SECRET_KEY",
    "Caller",
    "anon_key",
    "make_jwt",
    "resolve_caller",
    "role_of",
    "service_role_key",
    "sign_token",
    "verify_jwt",
]

DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEFAULT_SECRET_KEY = "sb_secret_emulator0000000000000000"
DEFAULT_PUBLISHABLE_KEY = "sb_publishable_emulator000000000000"

# The Supabase CLI signs its well-known local keys with this issuer and expiry; using the same
# claims makes service_role_key(DEFAULT_JWT_SECRET) the key every local Supabase prints.
_LOCAL_ISSUER = "supabase-demo"
_LOCAL_EXPIRY = 1983812996

_BEARER = re.compile(r"^Bearer\s+", re.IGNORECASE)
PRIVILEGED_ROLES = frozenset({"service_role", "supabase_admin", "supabase_storage_admin", "postgres"})


@dataclass(frozen=True)
class Caller:
    """Who a request runs as: ``authenticated`` means a JWT (or secret key) was verified."""

    role: str
    authenticated: bool
    owner: str | None = None

    @property
    def bypasses_rls(self) -> bool:
        """Roles with BYPASSRLS see and write every row; the rest have no policies here."""
        return self.role in PRIVILEGED_ROLES


ANON = Caller(role="anon", authenticated=False)


class GatewayError(StorageError):
    """The API gateway's own refusal, which is not shaped like a storage error."""

    def __init__(self) -> None:
        super().__init__(401, "InvalidApiKey", "Invalid API key", http_status=401)

    def body(self) -> dict[str, str]:
        """The gateway's body for an unknown key."""
        return {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}


def make_jwt(secret: str, claims: Mapping[str, Any]) -> str:
    """An HS256 JWT, header and claim order as supabase tooling writes them."""
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def service_role_key(secret: str = DEFAULT_JWT_SECRET) -> str:
    """The legacy service-role key for a JWT secret (the local-dev one for the default secret)."""
    return make_jwt(secret, {"iss": _LOCAL_ISSUER, "role": "service_role", "exp": _LOCAL_EXPIRY})


def anon_key(secret: str = DEFAULT_JWT_SECRET) -> str:
    """The legacy anon key for a JWT secret (the local-dev one for the default secret)."""
    return make_jwt(secret, {"iss": _LOCAL_ISSUER, "role": "anon", "exp": _LOCAL_EXPIRY})


def sign_token(
    secret: str, claims: Mapping[str, Any], expires_in: int, *, clock: Callable[[], float] = time.time
) -> str:
    """A signed-URL token: the given claims, then ``iat`` and ``exp`` as jose's SignJWT adds them."""
    now = int(clock())
    return make_jwt(secret, {**claims, "iat": now, "exp": now + int(expires_in)})


_VERIFIED: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
_VERIFIED_MAX = 1024


def verify_jwt(token: str, secret: str) -> dict[str, Any]:
    """Verify an HS256 JWT, failing with the message jose (the server's library) would give.

    Verified claims are cached until they expire, as the server's own JWT cache does: clients
    send the same key with every request and a fresh verification costs half a millisecond.
    """
    cached = _VERIFIED.get((token, secret))
    if cached is not None:
        expiry = cached.get("exp")
        if not isinstance(expiry, int | float) or expiry > time.time():
            _VERIFIED.move_to_end((token, secret))
            return dict(cached)
        del _VERIFIED[(token, secret)]
    claims = _decode(token, secret)
    _VERIFIED[(token, secret)] = dict(claims)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return claims


def _decode(token: str, secret: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "verify_iat": False, "verify_iss": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise access_denied('"exp" claim timestamp check failed') from exc
    except jwt.ImmatureSignatureError as exc:
        raise access_denied('"nbf" claim timestamp check failed') from exc
    except jwt.InvalidSignatureError as exc:
        raise access_denied("signature verification failed") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise access_denied('"alg" (Algorithm) Header Parameter value not allowed') from exc
    except jwt.DecodeError as exc:
        raise access_denied("Invalid Compact JWS") from exc
    except jwt.InvalidTokenError as exc:
        raise access_denied(str(exc)) from exc


def resolve_caller(
    headers: Mapping[str, str],
    *,
    jwt_secret: str,
    secret_key: str,
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
    allow_invalid_jwt: bool = False,
) -> Caller:
    """The caller of a request.

    ``Authorization`` wins (a bad JWT there is AccessDenied, or anon on routes that allow it);
    the new-style keys are what the gateway swaps them for (``sb_secret_`` -> service_role,
    ``sb_publishable_`` -> anon), whether sent as bearer token or ``apikey``; a legacy JWT in
    ``apikey`` alone does not authenticate (the server only reads ``Authorization``): anon.
    """
    known = {secret_key: Caller(role="service_role", authenticated=True), publishable_key: Caller("anon", True)}
    token = _BEARER.sub("", headers.get("authorization", "")).strip()
    apikey = headers.get("apikey", "").strip()
    if apikey.startswith(("sb_secret_", "sb_publishable_")) and apikey not in known:
        raise GatewayError()
    if token.startswith(("sb_secret_", "sb_publishable_")):
        if token not in known:
            raise GatewayError()
        return known[token]
    if token:
        try:
            claims = verify_jwt(token, jwt_secret)
        except StorageError:
            if allow_invalid_jwt:
                return ANON
            raise
        sub = claims.get("sub")
        return Caller(
            role=str(claims.get("role") or "anon"), authenticated=True, owner=sub if isinstance(sub, str) else None
        )
    return known.get(apikey, ANON)


def role_of(
    headers: Mapping[str, str],
    *,
    jwt_secret: str = DEFAULT_JWT_SECRET,
    secret_key: str = DEFAULT_SECRET_KEY,
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
) -> str:
    """The role name a request would run as (anon when its JWT does not verify)."""
    caller = resolve_caller(
        headers, jwt_secret=jwt_secret, secret_key=secret_key, publishable_key=publishable_key, allow_invalid_jwt=True
    )
    return caller.role

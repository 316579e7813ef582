"""A Supabase key that cannot be the service role is named before any request, never printed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from bucketshift.config import parse_plan
from bucketshift.errors import ConfigError
from bucketshift.stores.supabase_keys import KeyKind, not_a_service_key, read_key, require_service_keys
from bucketshift_sandbox.supabase.keys import DEFAULT_PUBLISHABLE_KEY, anon_key, make_jwt, service_role_key


def unsigned_jwt(claims: Any) -> str:
    """A JWT-shaped key with a recognisable fake signature (no secret needed to read a payload)."""
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.FAKE-SIGNATURE-never-shown"


@pytest.mark.parametrize(
    "key",
    [service_role_key(), service_role_key("another-project-secret-of-32-characters!"), "sb_secret_abc123",
     "service-role-key-for-tests", "eyJ-not-three-parts", "a.!!!.c", unsigned_jwt(["not", "an", "object"])],
    ids=["service-role-jwt", "service-role-jwt-other-project", "sb-secret", "garbage", "eyJ-prefix-only",
         "undecodable-payload", "payload-not-an-object"],
)  # fmt: skip
def test_a_key_that_may_be_the_service_role_passes(key: str) -> None:
    assert not_a_service_key(key) is None


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (anon_key(), "this is the project's anon key (a JWT with role 'anon')"),
        (DEFAULT_PUBLISHABLE_KEY, "this is a publishable key (sb_publishable_...)"),
        ("  sb_publishable_with_spaces  ", "this is a publishable key"),
        (make_jwt("s" * 32, {"role": "authenticated", "sub": "u1"}), "a JWT for role 'authenticated'"),
        (unsigned_jwt({"iss": "supabase"}), "this JWT has no role claim"),
        (unsigned_jwt({"role": "x[red]y;rm -rf"}), "a JWT for role '(unreadable)'"),
    ],
    ids=["anon-jwt", "publishable", "publishable-padded", "authenticated-jwt", "no-role-claim", "odd-role-name"],
)
def test_a_key_that_cannot_be_the_service_role_is_named_and_not_repeated(key: str, says: str) -> None:
    problem = not_a_service_key(key)
    assert problem is not None
    assert says in problem
    assert "service_role key or a secret key (sb_secret_...)" in problem
    assert key.strip() not in problem
    assert key.split(".")[-1] not in problem


def test_kinds() -> None:
    assert read_key(service_role_key()).kind is KeyKind.JWT
    assert read_key(service_role_key()).role == "service_role"
    assert read_key(anon_key()).role == "anon"
    assert read_key("sb_secret_x").kind is KeyKind.ELEVATED
    assert read_key("sb_publishable_x").kind is KeyKind.PUBLISHABLE
    assert read_key("nonsense").kind is KeyKind.UNKNOWN


PLAN = """
[source]
type = "{source}"
{source_fields}

[destination]
type = "{destination}"
{destination_fields}

[[buckets]]
source = "images"
access = "private"
"""
SUPABASE = 'url = "https://abcd.supabase.co"\nkey = "{key}"'
S3 = 'region = "us-east-1"'


def plan_with(source_key: str | None = None, destination_key: str | None = None) -> Any:
    def side(key: str | None) -> tuple[str, str]:
        return ("s3", S3) if key is None else ("supabase", SUPABASE.format(key=key))

    (source, source_fields), (destination, destination_fields) = side(source_key), side(destination_key)
    text = PLAN.format(source=source, source_fields=source_fields, destination=destination,
                       destination_fields=destination_fields)  # fmt: skip
    return parse_plan(text, where="plan.toml")


def test_the_plan_check_names_the_side_at_fault() -> None:
    with pytest.raises(ConfigError, match=r"^plan file: source\.key: this is the project's anon key"):
        require_service_keys(plan_with(source_key=anon_key()))
    with pytest.raises(ConfigError, match=r"^plan file: destination\.key: this is a publishable key"):
        require_service_keys(plan_with(destination_key=DEFAULT_PUBLISHABLE_KEY))


def test_the_plan_check_passes_service_keys_and_plans_without_supabase() -> None:
    require_service_keys(plan_with(source_key=service_role_key()))
    require_service_keys(plan_with(destination_key="sb_secret_abc"))
    require_service_keys(plan_with())

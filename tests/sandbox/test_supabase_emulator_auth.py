"""Who may do what: service role, anon, sb_secret_ keys, bad JWTs, public buckets, signed URLs."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from tests.sandbox.supabase_emulator_helpers import error_body, new_bucket, storage_client

from bucketshift_sandbox.servers import EmulatorServer
from bucketshift_sandbox.supabase import (
    DEFAULT_JWT_SECRET,
    DEFAULT_PUBLISHABLE_KEY,
    anon_key,
    role_of,
    service_role_key,
)
from bucketshift_sandbox.supabase.keys import make_jwt, sign_token

NO_SUCH_KEY = error_body(404, "NoSuchKey", "not_found", "Object not found")
NO_SUCH_BUCKET = error_body(404, "NoSuchBucket", "Bucket not found", "Bucket not found")
RLS = error_body(403, "AccessDenied", "Unauthorized", "new row violates row-level security policy")
OTHER_SECRET = "another-secret-another-secret-another-secret"
LOCAL_SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4Mz"
    "gxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)


def test_default_keys_are_the_supabase_cli_local_keys() -> None:
    assert service_role_key() == LOCAL_SERVICE_KEY
    assert jwt.decode(anon_key(), DEFAULT_JWT_SECRET, algorithms=["HS256"])["role"] == "anon"


def test_role_of() -> None:
    assert role_of({"authorization": f"Bearer {service_role_key()}"}) == "service_role"
    assert role_of({"authorization": anon_key()}) == "anon"
    assert role_of({"apikey": service_role_key()}) == "anon"
    assert role_of({"apikey": "sb_secret_emulator0000000000000000"}) == "service_role"
    assert role_of({"authorization": "Bearer garbage"}) == "anon"
    assert role_of({"apikey": DEFAULT_PUBLISHABLE_KEY, "authorization": f"Bearer {DEFAULT_PUBLISHABLE_KEY}"}) == "anon"
    assert role_of({"apikey": DEFAULT_PUBLISHABLE_KEY, "authorization": f"Bearer {service_role_key()}"}) == (
        "service_role"
    )


@pytest.fixture
def seeded(service: httpx.Client) -> tuple[str, str]:
    private = new_bucket(service)
    public = new_bucket(service, public=True)
    for bucket in (private, public):
        service.post(f"/object/{bucket}/dir/file.txt", content=b"secret" if bucket == private else b"open")
    return private, public


def test_anon_reads_public_objects_only(anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, public = seeded
    assert anon.get(f"/object/public/{public}/dir/file.txt").content == b"open"
    assert anon.get(f"/object/{public}/dir/file.txt").content == b"open"
    assert anon.get(f"/object/{private}/dir/file.txt").json() == NO_SUCH_KEY
    assert anon.get(f"/object/authenticated/{private}/dir/file.txt").json() == NO_SUCH_KEY
    assert anon.get(f"/object/public/{private}/dir/file.txt").json() == NO_SUCH_BUCKET
    assert anon.get(f"/object/info/{private}/dir/file.txt").json() == NO_SUCH_KEY
    assert anon.get(f"/object/info/public/{public}/dir/file.txt").json()["size"] == 4
    assert anon.head(f"/object/public/{public}/dir/file.txt").status_code == 200


def test_no_credentials_at_all(sandbox_emulator: EmulatorServer, seeded: tuple[str, str]) -> None:
    private, public = seeded
    with storage_client(sandbox_emulator) as nobody:
        assert nobody.get(f"/object/public/{public}/dir/file.txt").content == b"open"
        assert nobody.get(f"/object/{public}/dir/file.txt").content == b"open"
        assert nobody.get(f"/object/{private}/dir/file.txt").json() == NO_SUCH_BUCKET
        assert nobody.post(f"/object/list/{private}", json={"prefix": ""}).json() == []


def test_anon_lists_nothing_and_writes_nothing(anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, public = seeded
    for bucket in (private, public):
        assert anon.post(f"/object/list/{bucket}", json={"prefix": "dir"}).json() == []
        assert anon.post(f"/object/list-v2/{bucket}", json={}).json() == {
            "hasNext": False,
            "folders": [],
            "objects": [],
        }
        upload = anon.post(f"/object/{bucket}/new.txt", content=b"x")
        assert upload.status_code == 400
        assert upload.json() == RLS
        assert anon.put(f"/object/{bucket}/dir/file.txt", content=b"x").json() == RLS
        assert anon.delete(f"/object/{bucket}/dir/file.txt").json() == NO_SUCH_KEY
        assert anon.request("DELETE", f"/object/{bucket}", json={"prefixes": ["dir/file.txt"]}).json() == []
        assert anon.post(f"/object/sign/{bucket}/dir/file.txt", json={"expiresIn": 60}).json() == NO_SUCH_KEY
        move = anon.post("/object/move", json={"bucketId": bucket, "sourceKey": "dir/file.txt", "destinationKey": "m"})
        assert move.json() == NO_SUCH_KEY
    assert anon.get(f"/object/public/{public}/dir/file.txt").content == b"open"


def test_anon_bucket_operations(anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    assert anon.get("/bucket").json() == []
    assert anon.get(f"/bucket/{private}").json() == NO_SUCH_BUCKET
    assert anon.post("/bucket", json={"name": "anon-made"}).json() == RLS
    assert anon.put(f"/bucket/{private}", json={"public": True}).json() == NO_SUCH_BUCKET
    assert anon.post(f"/bucket/{private}/empty").json() == NO_SUCH_BUCKET


def test_sb_secret_key_in_apikey_is_service_role(sandbox_emulator: EmulatorServer, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    with storage_client(sandbox_emulator, apikey=sandbox_emulator.secret_key) as client:
        assert client.get(f"/object/{private}/dir/file.txt").content == b"secret"
        assert client.post(f"/object/{private}/by-secret.txt", content=b"s").status_code == 200
    with storage_client(sandbox_emulator, sandbox_emulator.secret_key) as both:
        assert both.get(f"/object/{private}/by-secret.txt").content == b"s"
    with storage_client(sandbox_emulator, apikey="sb_secret_wrong") as wrong:
        response = wrong.get(f"/object/{private}/dir/file.txt")
        assert response.status_code == 401
        assert response.json()["message"] == "Invalid API key"


def test_publishable_key_is_anon(sandbox_emulator: EmulatorServer, seeded: tuple[str, str]) -> None:
    private, public = seeded
    with storage_client(sandbox_emulator, DEFAULT_PUBLISHABLE_KEY) as client:
        assert client.get(f"/object/{public}/dir/file.txt").content == b"open"
        assert client.get(f"/object/{private}/dir/file.txt").json() == NO_SUCH_KEY
        assert client.post(f"/object/{private}/p.txt", content=b"p").json() == RLS
        assert client.get("/bucket").json() == []
    with storage_client(sandbox_emulator, apikey=DEFAULT_PUBLISHABLE_KEY) as client:
        assert client.post(f"/object/list/{private}", json={"prefix": ""}).json() == []
    with storage_client(sandbox_emulator, "sb_publishable_unknown") as client:
        assert client.get("/bucket").status_code == 401


def test_legacy_jwt_only_in_apikey_is_anon(sandbox_emulator: EmulatorServer, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    with storage_client(sandbox_emulator, apikey=sandbox_emulator.service_role_key) as client:
        assert client.post(f"/object/{private}/x.txt", content=b"x").json() == RLS
        assert client.get(f"/object/{private}/dir/file.txt").json() == NO_SUCH_BUCKET


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            make_jwt("another-secret-another-secret-another-secret", {"role": "service_role"}),
            "signature verification failed",
        ),
        (make_jwt(DEFAULT_JWT_SECRET, {"role": "service_role", "exp": 1000}), '"exp" claim timestamp check failed'),
        ("not.a.jwt", "Invalid Compact JWS"),
    ],
)
def test_bad_jwts_are_access_denied(
    sandbox_emulator: EmulatorServer, seeded: tuple[str, str], token: str, message: str
) -> None:
    private, public = seeded
    with storage_client(sandbox_emulator, token) as client:
        response = client.post(f"/object/list/{private}", json={"prefix": ""})
        assert response.status_code == 400
        assert response.json() == error_body(403, "AccessDenied", "Unauthorized", message)
        assert client.post(f"/object/{private}/x", content=b"x").json()["message"] == message
        assert client.get("/bucket").json()["code"] == "AccessDenied"
        assert client.get(f"/object/authenticated/{public}/dir/file.txt").json()["code"] == "AccessDenied"
        assert client.get(f"/object/{public}/dir/file.txt").content == b"open"
        assert client.get(f"/object/public/{public}/dir/file.txt").content == b"open"


def test_other_roles_have_no_policies(sandbox_emulator: EmulatorServer, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    user = make_jwt(DEFAULT_JWT_SECRET, {"role": "authenticated", "sub": "5b8b9f6e-2f57-4a5c-9a6d-6d9c4f7e1a11"})
    with storage_client(sandbox_emulator, user) as client:
        assert client.get(f"/object/{private}/dir/file.txt").json() == NO_SUCH_KEY
        assert client.post(f"/object/{private}/u.txt", content=b"u").json() == RLS


def test_signed_url_round_trip(service: httpx.Client, anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    signed = service.post(f"/object/sign/{private}/dir/file.txt", json={"expiresIn": 120})
    assert signed.status_code == 200
    url = signed.json()["signedURL"]
    assert url.startswith(f"/object/sign/{private}/dir/file.txt?token=")
    token = url.split("token=", 1)[1]
    claims = jwt.decode(token, DEFAULT_JWT_SECRET, algorithms=["HS256"])
    assert claims["url"] == f"{private}/dir/file.txt"
    assert claims["exp"] - claims["iat"] == 120
    fetched = anon.get(url)
    assert fetched.status_code == 200
    assert fetched.content == b"secret"
    assert "cache-control" not in fetched.headers
    assert fetched.headers["expires"].endswith(" GMT")
    ranged = anon.get(url, headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206
    assert ranged.content == b"se"


def test_signed_url_expiry_and_tampering(anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    past = sign_token(DEFAULT_JWT_SECRET, {"url": f"{private}/dir/file.txt"}, 60, clock=lambda: time.time() - 3600)
    expired = anon.get(f"/object/sign/{private}/dir/file.txt", params={"token": past})
    assert expired.status_code == 400
    assert expired.json() == error_body(400, "InvalidJWT", "InvalidJWT", '"exp" claim timestamp check failed')
    other = sign_token(DEFAULT_JWT_SECRET, {"url": f"{private}/other.txt"}, 60)
    assert anon.get(f"/object/sign/{private}/dir/file.txt", params={"token": other}).json() == error_body(
        400, "InvalidSignature", "InvalidSignature", "Invalid signature"
    )
    assert anon.get(f"/object/sign/{private}/dir/file.txt").json()["statusCode"] == "400"
    forged = sign_token("forged-forged-forged-forged-forged-forged", {"url": f"{private}/dir/file.txt"}, 60)
    assert anon.get(f"/object/sign/{private}/dir/file.txt", params={"token": forged}).json()["code"] == "InvalidJWT"


def test_batch_signing(service: httpx.Client, anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    response = service.post(f"/object/sign/{private}", json={"expiresIn": 60, "paths": ["dir/file.txt", "missing"]})
    assert response.status_code == 200
    first, second = response.json()
    assert set(first) == {"error", "path", "signedURL"}
    assert first["error"] is None
    assert first["path"] == "dir/file.txt"
    assert anon.get(first["signedURL"]).content == b"secret"
    assert second == {
        "error": "Either the object does not exist or you do not have access to it",
        "path": "missing",
        "signedURL": None,
    }


def test_signed_upload(service: httpx.Client, anon: httpx.Client, seeded: tuple[str, str]) -> None:
    private, _ = seeded
    granted = service.post(f"/object/upload/sign/{private}/up/load.txt")
    assert granted.status_code == 200
    body = granted.json()
    assert body["url"] == f"/object/upload/sign/{private}/up/load.txt?token={body['token']}"
    uploaded = anon.put(body["url"], content=b"via signed url", headers={"Content-Type": "text/plain"})
    assert uploaded.status_code == 200
    assert uploaded.json() == {"Key": f"{private}/up/load.txt"}
    assert service.get(f"/object/{private}/up/load.txt").content == b"via signed url"
    again = anon.put(body["url"], content=b"twice")
    assert again.json()["code"] == "KeyAlreadyExists"
    download_token = service.post(f"/object/sign/{private}/up/load.txt", json={"expiresIn": 60}).json()["signedURL"]
    replay = anon.put(download_token.replace("/object/sign/", "/object/upload/sign/"), content=b"replay")
    assert replay.json() == error_body(400, "InvalidSignature", "InvalidSignature", "Token is not scoped for upload")
    assert anon.post(f"/object/upload/sign/{private}/x").json() == RLS

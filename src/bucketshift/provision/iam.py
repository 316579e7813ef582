"""The application's IAM user: the user, its inline least-privilege policy, and one access key.

The secret of a new access key goes to one place only: a file created with mode 0600 before a
byte is written to it.  If that write fails, the key is deleted again, so no key exists whose
secret nobody holds.  An existing key is left alone: its secret cannot be read back, and the
key file written when it was made holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bucketshift.errors import BucketshiftError, StoreError, UsageError
from bucketshift.provision.diff import Change
from bucketshift.provision.policies import canonical_policy
from bucketshift.stores._s3_errors import from_botocore

__all__ = [
    "POLICY_NAME",
    "CreatedKey",
    "LiveIam",
    "apply_iam",
    "check_key_file",
    "check_user_name",
    "iam_call",
    "iam_changes",
    "read_iam",
    "read_key_file",
]

POLICY_NAME = "bucketshift-app-access"
_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


@dataclass(frozen=True)
class LiveIam:
    user: str
    exists: bool
    policy: dict[str, Any] | None = None
    access_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CreatedKey:
    """A new access key: its id and the file holding its secret (the secret itself is not kept)."""

    user: str
    access_key_id: str
    key_file: Path


def check_user_name(user: str) -> None:
    if not _USER_NAME.match(user):
        raise UsageError(
            f"--iam-user: '{user}' is not an IAM user name; use up to 64 letters, digits and +=,.@_- characters"
        )


def check_key_file(path: Path) -> None:
    """Before anything is created: the key file's directory exists and is writable."""
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"--key-file: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"--key-file: directory {directory} is not writable; choose another path")
    if path.is_dir():
        raise UsageError(f"--key-file: {path} is a directory; name a file")


def iam_call(iam: Any, method: str, what: str, **kwargs: Any) -> Any:
    """One IAM call; NoSuchEntity gives None, any other failure one sentence starting with `what`."""
    try:
        return getattr(iam, method)(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        error = from_botocore(exc, what, bucket=None)
    except Exception as exc:
        error = from_botocore(exc, what, bucket=None)
    if isinstance(error, StoreError):
        reason = error.message.split(" the S3 store: ", 1)[-1].replace(" on the bucket", "")
        error = type(error)(f"IAM: {what}: {reason}")
    raise error from None


def read_iam(iam: Any, user: str) -> LiveIam:
    """The user, its inline policy, and the ids of its active access keys (never secrets)."""
    if iam_call(iam, "get_user", f"read user {user}", UserName=user) is None:
        return LiveIam(user, exists=False)
    found = iam_call(iam, "get_user_policy", f"read user {user}'s policy", UserName=user, PolicyName=POLICY_NAME)
    document = found["PolicyDocument"] if found else None
    if isinstance(document, str):
        document = json.loads(document)
    keys = iam_call(iam, "list_access_keys", f"list user {user}'s keys", UserName=user) or {}
    ids = [k["AccessKeyId"] for k in keys.get("AccessKeyMetadata", ()) if k.get("Status") == "Active"]
    return LiveIam(user, exists=True, policy=document, access_keys=ids)


def read_key_file(path: Path) -> tuple[str, str] | None:
    """(access key id, secret) from a key file this module wrote, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    key_id, secret = values.get("AWS_ACCESS_KEY_ID"), values.get("AWS_SECRET_ACCESS_KEY")
    return (key_id, secret) if key_id and secret else None


def iam_changes(live: LiveIam, policy: dict[str, Any], key_file: Path) -> list[Change]:
    """User, inline policy and access key, in the order they are made."""
    target = f"iam user {live.user}"
    user = {"user": live.user}
    changes = [Change(target, "iam-user", "in place" if live.exists else "create", user if live.exists else None, user)]
    if canonical_policy(live.policy) == canonical_policy(policy):
        changes.append(Change(target, "iam-policy", "in place", live.policy, policy))
    else:
        changes.append(Change(target, "iam-policy", "change" if live.policy else "create", live.policy, policy))
    if live.access_keys:
        changes.append(Change(target, "access-key", "in place", live.access_keys, live.access_keys))
    else:
        changes.append(Change(target, "access-key", "create", None, f"a new access key, secret written to {key_file}"))
    return changes


def _write_secret_file(path: Path, user: str, key_id: str, secret: str) -> None:
    """Atomically: a 0600 temporary file beside `path`, then renamed over it."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(
                f"# AWS access key of IAM user {user}, made by bucketshift provision. Keep this file secret.\n"
                f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n"
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def apply_iam(
    iam: Any,
    changes: list[Change],
    policy: dict[str, Any],
    key_file: Path,
    *,
    on_applied: Callable[[Change], None] | None = None,
) -> CreatedKey | None:
    """Make what `changes` says is missing or different; returns the new key, if one was made."""
    created: CreatedKey | None = None
    for change in changes:
        if not change.pending:
            continue
        user = change.target.removeprefix("iam user ")
        if change.resource == "iam-user":
            iam_call(iam, "create_user", f"create user {user}", UserName=user)
        elif change.resource == "iam-policy":
            iam_call(
                iam,
                "put_user_policy",
                f"put user {user}'s policy",
                UserName=user,
                PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(policy),
            )
        elif change.resource == "access-key":
            created = _create_key(iam, user, key_file)
        if on_applied is not None:
            on_applied(change)
    return created


def _create_key(iam: Any, user: str, key_file: Path) -> CreatedKey:
    key = iam_call(iam, "create_access_key", f"create an access key for user {user}", UserName=user)["AccessKey"]
    key_id = key["AccessKeyId"]
    try:
        _write_secret_file(key_file, user, key_id, key["SecretAccessKey"])
    except OSError as exc:
        with contextlib.suppress(BucketshiftError):
            iam_call(iam, "delete_access_key", f"delete access key {key_id}", UserName=user, AccessKeyId=key_id)
        raise UsageError(
            f"--key-file: cannot write {key_file} ({type(exc).__name__}); the new access key was deleted again"
        ) from None
    return CreatedKey(user, key_id, key_file)

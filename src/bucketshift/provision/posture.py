"""Exposure findings: where a bucket's live state lets more (or less) through than its `access` says.

A private bucket with a public statement or any Block Public Access switch off is exposed; a
public-read bucket that grants more than GetObject to everyone, or whose objects cannot be read
anonymously, is wrong too.  ACLs left on and CORS wider than the plan are findings as well:
each is a way in that the plan did not ask for.  A missing abort-unfinished-uploads rule is not:
it costs money but lets nobody in, and `plan` already shows it as a change to make.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bucketshift.provision.desired import OWNERSHIP, WRITE_METHODS, BucketDesired
from bucketshift.provision.diff import STRONGER_ENCRYPTION
from bucketshift.provision.live import LiveBucket
from bucketshift.provision.policies import canonical_policy, public_read_statement, public_statements

__all__ = ["BucketPosture", "bucket_posture"]


@dataclass(frozen=True)
class BucketPosture:
    bucket: str
    access: str
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _switches_off(block: dict[str, bool] | None, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not (block or {}).get(name, False)]


def _short(statement: dict[str, Any]) -> str:
    return json.dumps({k: statement[k] for k in ("Sid", "Action", "Resource") if k in statement}, sort_keys=True)


def _grant(statement: dict[str, Any]) -> Any:
    """What a statement allows, whatever its Sid."""
    return canonical_policy({"Statement": [{k: v for k, v in statement.items() if k != "Sid"}]})


def _cors_wider(desired: BucketDesired, live: LiveBucket) -> list[str]:
    allowed_origins = {o for rule in desired.cors or () for o in rule["AllowedOrigins"]}
    allowed_methods = {m for rule in desired.cors or () for m in rule["AllowedMethods"]}
    extra_origins: set[str] = set()
    extra_methods: set[str] = set()
    for rule in live.cors or ():
        extra_origins |= set(rule.get("AllowedOrigins", ())) - allowed_origins
        extra_methods |= set(rule.get("AllowedMethods", ())) - allowed_methods
    found = []
    if extra_origins:
        found.append(f"CORS admits origins the plan does not list: {', '.join(sorted(extra_origins))}")
    if extra_methods:
        writes = extra_methods & set(WRITE_METHODS)
        kind = "write methods" if writes else "methods"
        found.append(f"CORS allows {kind} the plan does not: {', '.join(sorted(extra_methods))}")
    return found


def bucket_posture(desired: BucketDesired, live: LiveBucket) -> BucketPosture:
    """Every way the live bucket's exposure differs from what its `access` promises."""
    findings: list[str] = []
    if not live.exists or not live.owned:
        state = "does not exist" if not live.exists else "is not ours"
        return BucketPosture(desired.name, desired.access, [f"the bucket {state}; run bucketshift provision"])
    if live.region is not None and live.region != desired.region:
        where = f"the bucket is in {live.region}, not in the plan's region {desired.region}"
        return BucketPosture(desired.name, desired.access, [where])
    block = live.public_access_block
    granted = public_statements(live.policy)
    if desired.access == "private":
        off = _switches_off(block, tuple(desired.public_access_block))
        if off:
            findings.append(f"private bucket with Block Public Access off: {', '.join(off)}")
        for statement in granted:
            findings.append(f"private bucket whose policy grants to everyone: {_short(statement)}")
    else:
        off = _switches_off(block, ("BlockPublicAcls", "IgnorePublicAcls"))
        if off:
            findings.append(f"public-read bucket with the ACL blocks off: {', '.join(off)}")
        on = [n for n in ("BlockPublicPolicy", "RestrictPublicBuckets") if (block or {}).get(n)]
        if on:
            findings.append(f"public-read bucket not readable by everyone: {', '.join(on)} is on")
        ours = _grant(public_read_statement(desired.name, desired.partition))
        wider = [s for s in granted if _grant(s) != ours]
        if len(granted) == len(wider):
            findings.append("public-read bucket without the policy statement that lets everyone GET its objects")
        for statement in wider:
            findings.append(f"public-read bucket whose policy grants more to everyone: {_short(statement)}")
    if live.ownership != OWNERSHIP:
        findings.append(f"ACLs are enabled (Object Ownership is {live.ownership or 'not set'}, not {OWNERSHIP})")
    if live.encryption not in STRONGER_ENCRYPTION:
        findings.append("no default encryption (SSE-S3 expected)")
    findings += _cors_wider(desired, live)
    return BucketPosture(desired.name, desired.access, findings)

"""The one lifecycle rule bucketshift owns: abort multipart uploads left unfinished after N days.

A killed upload leaves its parts in the bucket, invisible to listings and billed until someone
aborts it; S3 does that itself with an `AbortIncompleteMultipartUpload` rule.  A bucket's
lifecycle configuration is one document holding everybody's rules, so ours is found, replaced
and removed by its ID alone, and every other rule is written back exactly as S3 returned it.

Two forms of rule exist and S3 refuses a document that mixes them: the old one scopes a rule
with a top-level `Prefix`, the current one with a `Filter`.  Ours takes the form of the rules
already there.  In the old form S3 also refuses two abort rules whose prefixes overlap, and our
empty prefix overlaps every prefix, so beside an old-form abort rule of someone else's ours
cannot be added: `plan_abort_rule` names that rule and the plan stops.  All of it is pure data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RULE_ID",
    "AbortPlan",
    "abort_days",
    "abort_rule",
    "merge_rule",
    "old_form",
    "plan_abort_rule",
    "rule_name",
    "same_rule",
    "whole_bucket",
]

RULE_ID = "bucketshift-abort-incomplete-multipart-uploads"
ABORT = "AbortIncompleteMultipartUpload"


def abort_rule(days: int, *, old: bool = False) -> dict[str, Any]:
    """Our rule for the whole bucket; `old` writes it with a top-level Prefix (the legacy form)."""
    scope: dict[str, Any] = {"Prefix": ""} if old else {"Filter": {"Prefix": ""}}
    return {"ID": RULE_ID, **scope, "Status": "Enabled", ABORT: {"DaysAfterInitiation": days}}


def old_form(rules: Sequence[dict[str, Any]] | None) -> bool:
    """Whether the other rules use the legacy top-level Prefix (then ours must too)."""
    return any("Prefix" in rule for rule in rules or () if rule.get("ID") != RULE_ID)


def whole_bucket(rule: dict[str, Any]) -> bool:
    """Scoped to every key: an empty prefix in either form, or an empty filter."""
    if "Filter" in rule:
        return rule["Filter"] in ({}, {"Prefix": ""}, None)
    return rule.get("Prefix", "") == ""


def abort_days(rule: dict[str, Any] | None) -> int | None:
    """After how many days the rule aborts every unfinished upload of the bucket, if it does."""
    if not rule or rule.get("Status") != "Enabled" or not whole_bucket(rule):
        return None
    days = (rule.get(ABORT) or {}).get("DaysAfterInitiation")
    return days if isinstance(days, int) and days > 0 else None


def _canonical(rule: dict[str, Any]) -> dict[str, Any]:
    scope = "whole bucket" if whole_bucket(rule) else {k: rule.get(k) for k in ("Filter", "Prefix") if k in rule}
    return {"scope": scope, **{k: v for k, v in rule.items() if k not in ("ID", "Filter", "Prefix")}}


def same_rule(live: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    """Equal in effect: both forms of an all-keys scope compare equal."""
    if live is None or wanted is None:
        return live is wanted
    return _canonical(live) == _canonical(wanted)


def merge_rule(rules: Sequence[dict[str, Any]] | None, ours: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`rules` with ours replaced in its place, appended if absent, or taken out if `ours` is None.

    Every other rule is returned as given, in its order, untouched.
    """
    out: list[dict[str, Any]] = []
    placed = False
    for rule in rules or ():
        if rule.get("ID") != RULE_ID:
            out.append(rule)
        elif ours is not None and not placed:
            out.append(ours)
            placed = True
    if ours is not None and not placed:
        out.append(ours)
    return out


@dataclass(frozen=True)
class AbortPlan:
    """Our rule now (`live`) and as it should be (`wanted`, None: none of ours).  `covered` names
    another rule that already does the job; `clash` one beside which S3 would refuse ours."""

    live: dict[str, Any] | None
    wanted: dict[str, Any] | None
    covered: dict[str, Any] | None = None
    clash: dict[str, Any] | None = None


def _ours(rules: Sequence[dict[str, Any]] | None) -> dict[str, Any] | None:
    return next((rule for rule in rules or () if rule.get("ID") == RULE_ID), None)


def rule_name(rule: dict[str, Any]) -> str:
    """How a message names someone's rule (S3 gives every rule an ID; moto keeps none if none was put)."""
    return f"rule '{rule['ID']}'" if rule.get("ID") else "a rule without an ID"


def plan_abort_rule(rules: Sequence[dict[str, Any]] | None, days: int | None) -> AbortPlan:
    """Our rule as the bucket should have it, given the rules it has (None: no configuration).

    `days` None means the plan asks for no rule: ours, if there, goes.  A rule of someone else's
    that already aborts every unfinished upload within `days` makes ours a duplicate: none is
    added (one of ours already there is kept in step with the plan; it does no harm).
    """
    live = _ours(rules)
    if days is None:
        return AbortPlan(live, None)
    others = [rule for rule in rules or () if rule.get("ID") != RULE_ID]
    if live is None:
        for rule in others:
            found = abort_days(rule)
            if found is not None and found <= days:
                return AbortPlan(None, None, covered=rule)
        clash = next((rule for rule in others if ABORT in rule), None)
        if old_form(others) and clash is not None:
            return AbortPlan(None, None, clash=clash)
    return AbortPlan(live, abort_rule(days, old=old_form(others)))

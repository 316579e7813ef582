"""`status`: the phase's checklist, each line ticked from what the stores and the database say now.

Nothing here is taken from memory: the buckets' settings are read from S3, the objects are
listed on both sides and compared with the manifest, the application's columns are scanned for
Supabase URLs, and a few rewritten public URLs are fetched anonymously, as a browser would.
Status only reads: the manifest is opened for preview (never written) and no object is HEADed
except the sampled GETs.  One problem shows on one line where it can: an object the application
changed at the destination that a copy recorded as a conflict counts on the conflicts line, not
again on the objects line.

A line is ticked (`ok` True), unticked (False), or not applicable (None): an IAM user nobody
named, a plan without a database, no upload by the application yet.  Only an unticked line fails
the status.  The report is plain data (dataclasses), for the terminal, JSON and the HTML report.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql

from bucketshift.config import Plan, S3Endpoint
from bucketshift.database import journal
from bucketshift.database.columns import resolve
from bucketshift.database.connection import connect, translate
from bucketshift.engine.diff import MappingSpec, is_placeholder, source_unchanged
from bucketshift.engine.listing import destination_index, list_all
from bucketshift.engine.manifest import ObjectRecord, State
from bucketshift.engine.shared_run import read_run
from bucketshift.engine.state import is_dsn
from bucketshift.errors import BucketshiftError
from bucketshift.operations.context import mapping_specs, open_context, state_of
from bucketshift.operations.provision import default_key_file
from bucketshift.operations.provision import plan as provision_plan
from bucketshift.operations.rewrite import ColumnResult, RewriteRequest, RewriteRun
from bucketshift.provision.clients import Clients, clients_for
from bucketshift.provision.iam import POLICY_NAME, check_user_name, iam_changes, read_iam
from bucketshift.provision.posture import BucketPosture
from bucketshift.retry import RetryPolicy
from bucketshift.stores.base import ObjectInfo
from bucketshift.stores.supabase_keys import require_service_keys
from bucketshift.urls import parse_s3_url, s3_object_base

__all__ = ["CHECKS", "StatusLine", "StatusReport", "StatusRequest", "status"]

CHECKS: dict[str, str] = {
    "buckets": "destination buckets exist",
    "exposure": "Block Public Access, bucket policies and CORS as planned",
    "iam": "the app's IAM policy in place",
    "objects": "objects copied and verified",
    "workers": "the shared run's workers (a PostgreSQL state)",
    "conflicts": "no conflict open",
    "urls": "stored URLs rewritten, none left pointing at Supabase",
    "public-urls": "existing images still display (rewritten public URLs fetched anonymously)",
    "new-uploads": "new uploads land in S3",
}
"""Each check's id and what it promises, in checklist order."""

EXPOSURE = ("public-access-block", "policy", "cors")
"""The provisioned resources whose drift changes who can read a bucket."""
SHOWN = 3
"""Keys named in a line's detail; the counts carry the rest."""
Conn = psycopg.Connection[tuple[Any, ...]]
_URL_PATH = "[A-Za-z0-9_.~/%-]+"
"""What follows a public bucket's base in a URL bucketshift wrote (`urls.encode_key`'s characters)."""


@dataclass(frozen=True)
class StatusLine:
    """One ticked, unticked or not-applicable line; `subject` is its bucket or column, if any."""

    check: str
    name: str
    ok: bool | None
    detail: str
    counts: dict[str, int] = field(default_factory=dict)
    subject: str | None = None


@dataclass
class StatusReport:
    lines: list[StatusLine] = field(default_factory=list)
    postures: list[BucketPosture] | None = None
    """Each destination bucket's exposure as the exposure lines judged it (drift from the plan among
    the findings); None where the destination is not S3 or could not be read."""

    @property
    def ok(self) -> bool:
        return all(line.ok is not False for line in self.lines)

    @property
    def unticked(self) -> list[StatusLine]:
        return [line for line in self.lines if line.ok is False]


@dataclass(frozen=True)
class StatusRequest:
    state: str | Path | None = None
    buckets: list[str] | None = None
    iam_user: str | None = None
    """The application's IAM user (`provision --iam-user`); None: the policy is not bucketshift's to check."""
    samples: int = 5
    """Rewritten public URLs fetched per public bucket."""
    fetch_timeout: float = 30.0


def _failed(check: str, name: str, error: BucketshiftError, subject: str | None = None) -> StatusLine:
    return StatusLine(check, name, False, f"could not be checked: {error.message}", subject=subject)


def _keys(found: list[str], total: int | None = None) -> str:
    """The first `SHOWN` of `found` (of `total` in all, when only the first were kept)."""
    total = len(found) if total is None else total
    more = f" and {total - SHOWN} more" if total > SHOWN else ""
    return ", ".join(found[:SHOWN]) + more


# buckets, exposure, IAM: the destination's settings -------------------------------------------


@contextmanager
def _clients(plan: Plan, given: Clients | None, *, iam: bool) -> Iterator[Clients]:
    if given is not None:
        yield given
        return
    assert isinstance(plan.destination, S3Endpoint)
    made = clients_for(plan.destination, iam=iam)
    try:
        yield made
    finally:
        made.close()


def _iam_line(plan: Plan, clients: Clients, user: str | None, policy: dict[str, Any]) -> StatusLine:
    name = "the app's IAM user and its policy"
    if user is None:
        detail = (
            "not planned: no --iam-user given (the policy `bucketshift plan` prints goes on the app's own role, "
            "outside bucketshift)"
        )
        return StatusLine("iam", name, None, detail)
    live = read_iam(clients.iam, user)
    keys = {"access_keys": len(live.access_keys)}
    if not live.exists:
        detail = f"user {user} does not exist; run bucketshift provision --iam-user {user}"
        return StatusLine("iam", name, False, detail, keys, user)
    changes = {c.resource: c for c in iam_changes(live, policy, default_key_file(plan, user))}
    if changes["iam-policy"].pending:
        state = "differs from the plan" if live.policy else "is missing"
        detail = f"user {user}: its policy {POLICY_NAME} {state}; run bucketshift provision --iam-user {user}"
        return StatusLine("iam", name, False, detail, keys, user)
    detail = f"user {user} with policy {POLICY_NAME} as planned, {len(live.access_keys)} active access key(s)"
    return StatusLine("iam", name, True, detail, keys, user)


def destination_lines(
    plan: Plan, specs: list[MappingSpec], iam_user: str | None, clients: Clients | None = None
) -> tuple[list[StatusLine], list[BucketPosture] | None]:
    """Buckets exist; their exposure is the plan's (provision's own diff and posture); the IAM policy.
    Also each bucket's exposure as data (for the report), None where it was not read."""
    if not isinstance(plan.destination, S3Endpoint):
        why = f"the destination is '{plan.destination.type}', not S3"
        return [StatusLine(check, CHECKS[check], None, why) for check in ("buckets", "exposure", "iam")], None
    try:
        with _clients(plan, clients, iam=iam_user is not None) as opened:
            planned = provision_plan(plan, clients=opened)
            iam = _iam_with_errors(plan, opened, iam_user, planned.app_policy)
    except BucketshiftError as error:
        return [_failed("buckets", CHECKS["buckets"], error)], None
    lines = []
    exposures = []
    postures = {p.bucket: p for p in planned.postures}
    made = {c.target for c in planned.changes if c.resource == "bucket" and not c.pending}
    for spec in specs:
        there = spec.dest_bucket in made
        detail = "exists" if there else "missing; run bucketshift provision"
        lines.append(StatusLine("buckets", f"bucket {spec.dest_bucket}", there, detail, subject=spec.source_bucket))
    for spec in specs:
        bucket, posture = spec.dest_bucket, postures[spec.dest_bucket]
        drift = [c for c in planned.changes if c.target == bucket and c.resource in EXPOSURE and c.pending]
        findings = [*posture.findings, *(f"{c.resource} differs from the plan (provision would {c.kind} it)"
                                         for c in drift)]  # fmt: skip
        detail = f"{posture.access}, as planned" if not findings else "; ".join(findings)
        counts = {"findings": len(posture.findings), "drift": len(drift)}
        lines.append(StatusLine("exposure", f"exposure of {bucket}", not findings, detail, counts, spec.source_bucket))
        exposures.append(BucketPosture(bucket, posture.access, findings))
    lines.append(iam)
    return lines, exposures


def _iam_with_errors(plan: Plan, clients: Clients, user: str | None, policy: dict[str, Any]) -> StatusLine:
    try:
        return _iam_line(plan, clients, user, policy)
    except BucketshiftError as error:
        return _failed("iam", "the app's IAM user and its policy", error, user)


# objects, conflicts, new uploads: both listings against the manifest ---------------------------


@dataclass
class MappingFacts:
    """What one mapping's listings and manifest say, for the object lines and the URL sample."""

    spec: MappingSpec
    records: dict[str, ObjectRecord]
    manifest_counts: dict[str, int]
    dest_index: dict[str, ObjectInfo] | None = None
    dest_error: str | None = None
    source_error: str | None = None
    tally: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, what: str, key: str) -> None:
        self.tally[what] += 1
        found = self.examples.setdefault(what, [])
        if len(found) < SHOWN:
            found.append(key)


def _holds_copy(record: ObjectRecord, dest: ObjectInfo) -> bool:
    """The destination holds the version the manifest recorded writing (or keeping)."""
    size = record.dest_size if record.dest_size is not None else record.size
    same_etag = record.dest_etag is None or dest.etag == record.dest_etag
    return same_etag and (size is None or dest.size == size)


def _judge(facts: MappingFacts, info: ObjectInfo) -> None:
    """Where one source object stands (one count per object)."""
    record = facts.records.get(info.key)
    if record is None:
        return facts.note("not_copied", info.key)
    if record.state == State.CONFLICT:
        return facts.note("conflicts", info.key)
    if record.state == State.FAILED:
        return facts.note("failed", info.key)
    if not record.done:
        return facts.note("not_copied", info.key)
    if not source_unchanged(info, record):
        return facts.note("changed_at_source", info.key)
    if facts.dest_index is None:
        return facts.note("unknown", info.key)
    dest = facts.dest_index.get(record.dest_key or facts.spec.dest_key(info.key))
    if dest is None:
        return facts.note("missing_at_destination", info.key)
    if not _holds_copy(record, dest):
        return facts.note("changed_at_destination", info.key)
    facts.note("verified" if record.state == State.VERIFIED else "copied_not_verified", info.key)


async def _gather_mapping(ctx: Any, spec: MappingSpec, policy: RetryPolicy) -> MappingFacts:
    facts = MappingFacts(spec, ctx.manifest.records(spec.name), ctx.manifest.counts(spec.name))

    async def destination() -> None:
        try:
            facts.dest_index = await destination_index(
                ctx.dest, spec.dest_bucket, spec.prefix, policy, purpose="status cannot compare it"
            )
        except BucketshiftError as error:
            facts.dest_error = error.message

    async def source() -> list[ObjectInfo]:
        try:
            return [i async for i in list_all(ctx.source, spec.source_bucket, "", policy) if not is_placeholder(i.key)]
        except BucketshiftError as error:
            facts.source_error = error.message
            return []

    _, listed = await asyncio.gather(destination(), source())
    facts.tally["source"] = len(listed)
    for info in listed:
        _judge(facts, info)
    return facts


async def gather_facts(plan: Plan, request: StatusRequest) -> list[MappingFacts]:
    """Each mapping's source and destination listings (concurrently) against its manifest rows."""
    policy = RetryPolicy(max_attempts=4)
    async with open_context(plan, state=request.state, only=request.buckets, preview=True) as ctx:
        return list(await asyncio.gather(*(_gather_mapping(ctx, spec, policy) for spec in ctx.specs)))


_PROBLEMS = {
    "not_copied": "not copied yet (run copy)",
    "failed": "failed (run copy again)",
    "changed_at_source": "changed at the source since the copy (run sync)",
    "missing_at_destination": "missing at the destination (run copy, then verify)",
    "changed_at_destination": "changed at the destination since the copy (run copy: the app's writes are conflicts)",
    "copied_not_verified": "copied, not verified yet (run verify)",
    "unknown": "not compared: the destination could not be listed",
}


def objects_line(facts: MappingFacts) -> StatusLine:
    spec, tally = facts.spec, facts.tally
    name = f"objects of {spec.source_bucket} -> {spec.dest_bucket}"
    counts = {k: tally[k] for k in ("source", "verified", "conflicts", *_PROBLEMS)}
    counts |= {f"manifest_{state}": n for state, n in sorted(facts.manifest_counts.items())}
    errors = [f"source: {facts.source_error}" if facts.source_error else "",
              f"destination: {facts.dest_error}" if facts.dest_error else ""]  # fmt: skip
    problems = [f"{tally[k]} {text}: {_keys(facts.examples[k], tally[k])}" for k, text in _PROBLEMS.items() if tally[k]]
    ok = not any(errors) and not problems
    head = f"{tally['verified']} of {tally['source']} verified"
    if tally["conflicts"]:
        head += f", {tally['conflicts']} in conflict (below)"
    detail = "; ".join([head, *[e for e in errors if e], *problems])
    return StatusLine("objects", name, ok, detail, counts, spec.source_bucket)


def conflicts_line(facts: MappingFacts) -> StatusLine:
    spec = facts.spec
    open_ = [r for r in facts.records.values() if r.state == State.CONFLICT]
    name = f"conflicts in {spec.dest_bucket}"
    if not open_:
        return StatusLine("conflicts", name, True, "none open", {"conflicts": 0}, spec.source_bucket)
    shown = [f"{r.key} ({r.last_error or 'the application changed it'})" for r in sorted(open_, key=lambda r: r.key)]
    detail = (
        f"{len(open_)} open: {_keys(shown)}; settle with copy --keep-destination-changes "
        "or --overwrite-destination-changes"
    )
    return StatusLine("conflicts", name, False, detail, {"conflicts": len(open_)}, spec.source_bucket)


def new_uploads_line(facts: MappingFacts) -> StatusLine:
    """Destination objects the manifest does not account for: the application's own writes.

    Informational, never failing: ticked once the app has written at least one object at the
    destination since the copy (its new uploads do land in S3), "none yet" (not applicable) before
    that, since right after the cut-over no upload is the normal state, not a fault.  An object is
    the app's when no manifest row names its key, or when its ETag is not the version bucketshift
    wrote (or kept); a recorded conflict counts on the conflicts line instead.
    """
    spec = facts.spec
    name = f"app uploads in {spec.dest_bucket}"
    if facts.dest_index is None:
        return StatusLine("new-uploads", name, None, f"not measured: {facts.dest_error}", subject=spec.source_bucket)
    ours = {r.dest_key or spec.dest_key(r.key): r for r in facts.records.values()}
    new: list[str] = []
    rewritten: list[str] = []
    for key, info in sorted(facts.dest_index.items()):
        record = ours.get(key)
        if record is None or (record.dest_etag is None and not record.done and record.state != State.CONFLICT):
            new.append(key)
        elif record.dest_etag is not None and info.etag != record.dest_etag:
            rewritten.append(key)
    counts = {"new": len(new), "rewritten": len(rewritten)}
    if not new and not rewritten:
        return StatusLine("new-uploads", name, None, "none yet", counts, spec.source_bucket)
    parts = [f"{len(new)} new: {_keys(new)}" if new else "", f"{len(rewritten)} rewritten: {_keys(rewritten)}"
             if rewritten else ""]  # fmt: skip
    detail = "written by the app since the copy: " + "; ".join(p for p in parts if p)
    return StatusLine("new-uploads", name, True, detail, counts, spec.source_bucket)


# URLs in the application's database --------------------------------------------------------


def _column_name(schema: str, table: str, column: str) -> str:
    """As `database.columns.Column.name` writes it: the schema only when it is not public."""
    return f"{table}.{column}" if schema == "public" else f"{schema}.{table}.{column}"


def _url_line(name: str, result: ColumnResult | None, rows_rewritten: int) -> StatusLine:
    t = result.tally if result is not None else None
    counts = {
        "rows_rewritten": rows_rewritten,
        "supabase_urls": t.urls if t else 0,
        "verified_not_rewritten": t.rewritten if t else 0,
        "too_long": t.too_long if t else 0,
        "embedded_private": t.embedded_private if t else 0,
        "ambiguous": t.ambiguous if t else 0,
        "not_at_destination": t.unverified if t else 0,
        "unmapped": t.unmapped if t else 0,
    }
    left = [
        f"{counts['verified_not_rewritten']} URLs of verified objects still point at Supabase (run rewrite-urls "
        "--apply)"
        if counts["verified_not_rewritten"]
        else "",
        f"{counts['too_long']} values too long for the column once rewritten" if counts["too_long"] else "",
        f"{counts['embedded_private']} private-object URLs inside text" if counts["embedded_private"] else "",
        f"{counts['ambiguous']} ambiguous URLs" if counts["ambiguous"] else "",
    ]
    left = [x for x in left if x]
    said = [f"{rows_rewritten} rows rewritten", f"{counts['supabase_urls']} Supabase URLs left"]
    if counts["not_at_destination"]:
        said.append(f"{counts['not_at_destination']} of them to objects not verified at the destination")
    if counts["unmapped"]:
        said.append(f"{counts['unmapped']} to buckets outside the plan")
    if t is not None and t.unverified_samples:
        said.append("e.g. " + _keys(list(t.unverified_samples)))
    return StatusLine("urls", f"URLs in {name}", not left, "; ".join(said + left), counts, name)


def url_lines(plan: Plan, request: StatusRequest) -> list[StatusLine]:
    """Per column: rows the journal says were rewritten, and what rewrite-urls' plan still finds."""
    if plan.database is None:
        return [StatusLine("urls", "stored URLs", None, "not planned: the plan file has no [database]")]
    try:
        report = RewriteRun(plan, RewriteRequest(mode="plan", state=request.state)).run()
        with connect(plan.database.dsn.get_secret_value()) as conn:
            done = journal.rows_in_place(conn)
    except BucketshiftError as error:
        return [_failed("urls", "stored URLs", error)]
    results = {c.column: c for c in report.columns}
    rewritten = {_column_name(*k): n for k, n in done.items()}
    names = list(dict.fromkeys([*results, *sorted(rewritten)]))
    if not names:
        return [StatusLine("urls", "stored URLs", None, "no column holds a storage URL")]
    return [_url_line(name, results.get(name), rewritten.get(name, 0)) for name in names]


# a sample of rewritten public URLs, fetched as a browser would ---------------------------------


def _sample_urls(plan: Plan, heads: dict[str, str], per_bucket: int) -> dict[str, list[str]]:
    """Up to `per_bucket` distinct URLs under each public bucket's base, read from the columns the
    journal rewrote and the plan file names."""
    assert plan.database is not None
    found: dict[str, list[str]] = {bucket: [] for bucket in heads}
    patterns = {bucket: re.compile(re.escape(head + "/") + _URL_PATH) for bucket, head in heads.items()}
    with connect(plan.database.dsn.get_secret_value()) as conn:
        columns = set(journal.rows_in_place(conn))
        columns |= {(c.schema, c.table, c.column) for c in resolve(conn, plan.database.columns)}
        for schema, table, column in sorted(columns):
            value = sql.SQL("{}::text").format(sql.Identifier(column))
            query = sql.SQL("SELECT {v} FROM {s}.{t} WHERE strpos({v}, %s) > 0 LIMIT %s").format(
                v=value, s=sql.Identifier(schema), t=sql.Identifier(table)
            )
            for bucket, head in heads.items():
                if len(found[bucket]) >= per_bucket:
                    continue
                try:
                    values = conn.execute(query, (head + "/", per_bucket)).fetchall()
                except psycopg.Error as error:
                    raise translate(error, f"read {_column_name(schema, table, column)}") from None
                finally:
                    conn.rollback()
                for url in (u for (text,) in values for u in patterns[bucket].findall(str(text))):
                    if url not in found[bucket] and len(found[bucket]) < per_bucket:
                        found[bucket].append(url)
    return found


async def _fetch(http: aiohttp.ClientSession, url: str, size: int | None, bound: aiohttp.ClientTimeout) -> str | None:
    """None when the URL answers 2xx with `size` bytes; else what went wrong."""
    try:
        async with http.get(url, timeout=bound) as response:
            if not 200 <= response.status < 300:
                return f"answered {response.status}"
            got = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                got += len(chunk)
                if size is not None and got > size:
                    break
    except (aiohttp.ClientError, TimeoutError) as error:
        return f"could not be fetched ({type(error).__name__})"
    if size is None:
        return f"answered with {got} bytes for an object not at the destination"
    if got != size:
        return f"answered with {got}{'+' if got > size else ''} bytes, the object holds {size}"
    return None


async def _sample_line(
    plan: Plan, facts: MappingFacts, urls: list[str], http: aiohttp.ClientSession, bound: aiohttp.ClientTimeout
) -> StatusLine:
    spec = facts.spec
    name = f"public URLs of {spec.dest_bucket}"
    if not urls:
        return StatusLine("public-urls", name, None, "no rewritten URL of this bucket in the database",
                          {"fetched": 0, "failed": 0}, spec.source_bucket)  # fmt: skip
    assert isinstance(plan.destination, S3Endpoint)
    index = facts.dest_index or {}

    def size_of(url: str) -> int | None:
        where = parse_s3_url(url, plan.destination)  # type: ignore[arg-type]
        info = index.get(where.key) if where is not None else None
        return info.size if info is not None else None

    outcomes = await asyncio.gather(*(_fetch(http, url, size_of(url), bound) for url in urls))
    failures = [f"{url} {why}" for url, why in zip(urls, outcomes, strict=True) if why is not None]
    counts = {"fetched": len(urls), "failed": len(failures)}
    if failures:
        return StatusLine("public-urls", name, False, "; ".join(failures[:SHOWN]), counts, spec.source_bucket)
    detail = f"{len(urls)} fetched anonymously, each with the bytes the destination holds"
    return StatusLine("public-urls", name, True, detail, counts, spec.source_bucket)


async def sample_lines(
    plan: Plan, facts: list[MappingFacts], request: StatusRequest, http: aiohttp.ClientSession | None = None
) -> list[StatusLine]:
    """Per public bucket: rewritten URLs read from the database, fetched with no credentials."""
    public = [f for f in facts if f.spec.access == "public-read"]
    if not public:
        return []
    if plan.database is None or not isinstance(plan.destination, S3Endpoint):
        why = "not planned: the plan file has no [database]" if plan.database is None else "the destination is not S3"
        return [StatusLine("public-urls", CHECKS["public-urls"], None, why)]
    heads = {f.spec.dest_bucket: s3_object_base(plan.destination, f.spec.dest_bucket) for f in public}
    try:
        found = await asyncio.to_thread(_sample_urls, plan, heads, request.samples)
    except BucketshiftError as error:
        return [_failed("public-urls", CHECKS["public-urls"], error)]
    bound = aiohttp.ClientTimeout(total=request.fetch_timeout)
    async with _session(http) as session:
        return list(
            await asyncio.gather(*(_sample_line(plan, f, found[f.spec.dest_bucket], session, bound) for f in public))
        )


@asynccontextmanager
async def _session(given: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    """The given session, or a plain one of our own: no credentials, no proxy from the environment."""
    if given is not None:
        yield given
        return
    async with aiohttp.ClientSession() as made:
        yield made


# the whole checklist ---------------------------------------------------------------------------


_RANK = {check: n for n, check in enumerate(CHECKS)}


def _in_order(lines: list[StatusLine]) -> list[StatusLine]:
    """Checklist order; within a check, the order the lines were made (bucket by bucket)."""
    return sorted(lines, key=lambda line: _RANK[line.check])


async def status(
    plan: Plan,
    request: StatusRequest | None = None,
    *,
    clients: Clients | None = None,
    http: aiohttp.ClientSession | None = None,
) -> StatusReport:
    """Every line of the checklist, read now; never writes anything anywhere."""
    request = request or StatusRequest()
    if request.iam_user is not None:
        check_user_name(request.iam_user)
    require_service_keys(plan)
    specs = mapping_specs(plan, request.buckets)
    destination = asyncio.to_thread(destination_lines, plan, specs, request.iam_user, clients)
    urls = asyncio.to_thread(url_lines, plan, request)
    (settings, postures), facts, url_found = await asyncio.gather(destination, gather_facts(plan, request), urls)
    lines = [*settings, *url_found]
    for mapping in facts:
        lines += [objects_line(mapping), conflicts_line(mapping), new_uploads_line(mapping)]
    lines += await sample_lines(plan, facts, request, http)
    state = state_of(plan, request.state)
    if is_dsn(state):
        lines += await asyncio.to_thread(worker_lines, str(state))
    else:
        lines.append(StatusLine("workers", "shared run", None, "one process: the state is a file", {"live": 0}))
    return StatusReport(_in_order(lines), postures)


def worker_lines(dsn: str) -> list[StatusLine]:
    """The shared run open in the state and each live worker with what it holds; a run no live
    worker is at is unticked (it waits for someone to start a worker)."""
    try:
        run = read_run(dsn)
    except BucketshiftError as error:
        return [_failed("workers", "shared run", error)]
    if run is None:
        return [StatusLine("workers", "shared run", None, "none in progress", {"live": 0})]
    counts = {"live": len(run.workers), "joined": run.joined, "queued": run.queued, "pages_to_list": run.open_units}
    left = f"{run.queued} objects queued, {run.open_units} listing pages to go"
    name = f"shared run {run.run_id}"
    if not run.workers:
        detail = f"open, no live worker ({run.joined} joined and stopped); {left}"
        detail += ": start bucketshift copy with this --state to finish it"
        return [StatusLine("workers", name, False, detail, counts)]
    lines = [StatusLine("workers", name, None, f"in progress, {len(run.workers)} live workers; {left}", counts)]
    for worker in run.workers:
        held = f"holds {worker.held_objects} objects" + (f" of {', '.join(worker.mappings)}" if worker.mappings else "")
        if worker.held_units:
            held += f" and {worker.held_units} listing page"
        detail = f"{held}; seen {worker.seen_seconds_ago:.1f} s ago"
        counts = {"held_objects": worker.held_objects, "held_units": worker.held_units}
        lines.append(StatusLine("workers", f"worker {worker.id}", None, detail, counts))
    return lines

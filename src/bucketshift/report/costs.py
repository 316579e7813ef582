"""The estimate beside what the copy really did: the same prices applied to what really moved.

Pure: the estimate's figures and the copy's counts come in as plain numbers, so the comparison is
tested without a server.  The copy counts the objects and bytes it wrote and the bytes it read
from the source (a retried read counts again: that is egress too), but not the destination's
requests: those are taken as the estimate's request model counts them per object copied, times
the objects really copied, plus the listing, which every run makes whatever it copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from bucketshift.prices import GB, Prices
from bucketshift.report.model import EstimateLine, EstimateVsActual

__all__ = ["Estimated", "Moved", "compare", "egress_usd", "requests_usd"]


@dataclass(frozen=True)
class Estimated:
    """What the estimate said before the copy (the fields of `operations.estimate.Estimate` used here)."""

    objects: int
    bytes: int
    seconds: float | None
    how_timed: str
    put_class: int
    """S3 PUT-tier requests: PUTs, multipart requests and the destination listing's pages."""
    get_class: int
    """S3 GET-tier requests (HEADs)."""
    listing_pages: int
    """The destination listing's pages, part of `put_class`: made by every run."""
    egress_usd: float
    requests_usd: float
    total_once_usd: float
    prices: Prices


@dataclass(frozen=True)
class Moved:
    """What the copy step really did."""

    objects: int
    bytes: int
    """Source sizes of the objects written."""
    read_bytes: int
    """Bytes read from the source, retried reads included."""
    seconds: float | None
    """The copy step's wall-clock time; None where it did not run."""


def egress_usd(read_bytes: int, prices: Prices) -> float:
    """Source egress for `read_bytes` (a GB is 2^30 bytes, as both sides bill it)."""
    return read_bytes / GB * prices.source_egress_per_gb


def requests_usd(put_class: float, get_class: float, prices: Prices) -> float:
    return put_class / 1000 * prices.put_per_1000 + get_class / 1000 * prices.get_per_1000


def _moved_requests(est: Estimated, objects: int) -> tuple[float, float] | None:
    """(PUT tier, GET tier) requests of a copy of `objects` objects by the estimate's per-object count;
    None where the estimate planned no object to copy and some were copied (no rate to scale)."""
    per_put = est.put_class - est.listing_pages
    if est.objects == 0:
        return None if objects else (float(est.listing_pages), 0.0)
    share = objects / est.objects
    return est.listing_pages + per_put * share, est.get_class * share


def compare(est: Estimated, moved: Moved | None) -> EstimateVsActual:
    """Objects, bytes, time and one-time cost, estimated and actual (None: not known)."""
    lines = [EstimateLine("objects to copy", est.objects, None if moved is None else moved.objects, "objects")]
    lines.append(EstimateLine("bytes to copy", est.bytes, None if moved is None else moved.bytes, "bytes"))
    if est.seconds is not None:
        took = None if moved is None or moved.seconds is None else round(moved.seconds, 3)
        lines.append(EstimateLine("time of the copy", est.seconds, took, "seconds"))
    egress = requests = total = None
    if moved is not None:
        egress = round(egress_usd(moved.read_bytes, est.prices), 6)
        counted = _moved_requests(est, moved.objects)
        if counted is not None:
            requests = round(requests_usd(*counted, est.prices), 6)
            total = round(egress + requests, 6)
    currency = est.prices.currency
    lines += [
        EstimateLine("source egress", est.egress_usd, egress, currency),
        EstimateLine("destination requests", est.requests_usd, requests, currency),
        EstimateLine("one-time cost", est.total_once_usd, total, currency),
    ]
    p = est.prices
    note = (
        f"Prices: {p.source} as of {p.date} ({p.currency}; egress {p.source_egress_per_gb:g} per GB, PUT tier "
        f"{p.put_per_1000:g} and GET tier {p.get_per_1000:g} per 1,000 requests). Estimated time: {est.how_timed}."
    )
    if moved is not None:
        note += (
            " Actual time: the copy step's wall-clock time (listing, reconcile and transfer; the estimate's own "
            "probe ran before it and is not counted). Actual cost: egress on the bytes really read from the "
            "source, retried reads included; destination requests as the estimate counts them per object, "
            "times the objects really copied, plus the destination listing (the copy does not count them)."
        )
    else:
        note += " Nothing was copied by this run: the actual column stays empty."
    return EstimateVsActual(tuple(lines), note)

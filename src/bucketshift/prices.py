"""The prices an estimate uses: the plan's `[prices]` table, each field left out taken from the
published list prices below.

These are LIST PRICES AS OF `LIST_PRICES_DATE`, copied by hand from aws.amazon.com/s3/pricing
(S3 Standard, first 50 TB tier; requests per 1,000) and supabase.com/pricing (egress beyond the
plan's quota); they are not fetched live and change: put the ones you pay in `[prices]`.  A GB
is 2^30 bytes, as both bill it.  Moving data into S3 costs nothing; Supabase does not charge
per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from bucketshift.config import PricesConfig

__all__ = ["GB", "LIST_PRICES_DATE", "S3_LIST_PRICES", "SUPABASE_EGRESS_PER_GB", "Prices", "prices_for"]

GB = 1024**3
LIST_PRICES_DATE = "2025-06-01"
SUPABASE_EGRESS_PER_GB = 0.09
"""Supabase's published egress price beyond the plan's included quota (USD per GB)."""


@dataclass(frozen=True)
class _S3Region:
    storage_per_gb_month: float
    put_per_1000: float
    """PUT, COPY, POST, LIST requests."""
    get_per_1000: float
    """GET, SELECT and all other requests (HEAD among them)."""


S3_LIST_PRICES: dict[str, _S3Region] = {
    "us-east-1": _S3Region(0.023, 0.005, 0.0004),
    "us-east-2": _S3Region(0.023, 0.005, 0.0004),
    "us-west-1": _S3Region(0.026, 0.0055, 0.00044),
    "us-west-2": _S3Region(0.023, 0.005, 0.0004),
    "ca-central-1": _S3Region(0.025, 0.0055, 0.00044),
    "eu-west-1": _S3Region(0.023, 0.005, 0.0004),
    "eu-west-2": _S3Region(0.024, 0.0053, 0.00042),
    "eu-central-1": _S3Region(0.0245, 0.0054, 0.00043),
    "ap-northeast-1": _S3Region(0.025, 0.0047, 0.00037),
    "ap-southeast-1": _S3Region(0.025, 0.005, 0.0004),
    "ap-southeast-2": _S3Region(0.025, 0.0055, 0.00044),
}
FALLBACK_REGION = "us-east-1"


@dataclass(frozen=True)
class Prices:
    """What an estimate charges with; `source` says where the figures came from."""

    source_egress_per_gb: float
    put_per_1000: float
    get_per_1000: float
    storage_per_gb_month: float
    currency: str
    date: str
    source: str


def prices_for(region: str | None, table: PricesConfig | None = None) -> Prices:
    """The `[prices]` table's figures, each missing one from the list prices of `region`.

    A region without list prices here is priced as us-east-1, and `source` says so."""
    known = region in S3_LIST_PRICES
    listed = S3_LIST_PRICES[region if known and region else FALLBACK_REGION]
    listed_as = (
        f"list prices for {region}"
        if known
        else f"list prices for {FALLBACK_REGION} ({region or 'no region'} not known)"
    )
    figures = {
        "source_egress_per_gb": SUPABASE_EGRESS_PER_GB,
        "put_per_1000": listed.put_per_1000,
        "get_per_1000": listed.get_per_1000,
        "storage_per_gb_month": listed.storage_per_gb_month,
    }
    priced = {name for name in figures if table is not None and getattr(table, name) is not None}
    for name in priced:
        figures[name] = float(getattr(table, name))
    if not priced:
        source = listed_as
    elif priced == set(figures):
        source = "plan file"
    else:
        source = f"plan file ({', '.join(sorted(priced))}); the rest {listed_as}"
    date = table.date if table is not None and table.date else LIST_PRICES_DATE
    if priced and priced != set(figures) and table is not None and table.date:
        date = f"{table.date} (plan file), {LIST_PRICES_DATE} (list prices)"
    currency = table.currency if table is not None else "USD"
    return Prices(**figures, currency=currency, date=date, source=source)

"""The report: what a run did, as plain data (`model`), read from the manifest (`from_manifest`)
and rendered as one self-contained HTML page (`html`)."""

from bucketshift.report.from_manifest import ManifestSections, from_manifest
from bucketshift.report.html import render_html
from bucketshift.report.model import (
    BUCKET_FIELDS,
    SECTIONS,
    BucketTotals,
    CheckLine,
    ColumnRewrite,
    EstimateLine,
    EstimateVsActual,
    FailureRow,
    PostureRow,
    Report,
    Tally,
    ThroughputPoint,
    ThroughputSeries,
)

__all__ = [
    "BUCKET_FIELDS",
    "SECTIONS",
    "BucketTotals",
    "CheckLine",
    "ColumnRewrite",
    "EstimateLine",
    "EstimateVsActual",
    "FailureRow",
    "ManifestSections",
    "PostureRow",
    "Report",
    "Tally",
    "ThroughputPoint",
    "ThroughputSeries",
    "from_manifest",
    "render_html",
]

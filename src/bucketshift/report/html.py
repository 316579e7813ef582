"""A `Report` as one self-contained HTML page: inline CSS and SVG, no script, font or link outside.

Everything that comes from outside (bucket names, keys, error text, findings) goes through
`html.escape`, so a key such as `<script>...</script>.png` is shown as text.  Each section has an
id and each number a `data-*` attribute, so a test reads the rendered page, not the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from bucketshift.report.model import (
    BUCKET_FIELDS,
    SECTIONS,
    BucketTotals,
    CheckLine,
    ColumnRewrite,
    EstimateVsActual,
    FailureRow,
    PostureRow,
    Report,
    ThroughputSeries,
)
from bucketshift.units import size_text

__all__ = ["render_html"]

MAX_FAILURE_ROWS = 10_000
"""Failure lines shown at most: past that the page says how many more the manifest holds."""

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 0; color: #1d2430; background: #f5f6f8; }
header { background: #1d2430; color: #fff; padding: 14px 28px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #c8cfdb; font-size: 13px; }
nav { padding: 8px 28px; background: #e8ebf0; font-size: 13px; }
nav a { margin-right: 16px; color: #2450a6; text-decoration: none; }
main { padding: 8px 28px 28px; max-width: 1300px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 16px 14px;
  margin-top: 14px; }
section h2 { font-size: 16px; margin: 2px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef2; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
.sub { color: #667085; font-size: 12px; }
.absent { color: #667085; font-style: italic; }
.bad { color: #b42318; font-weight: 600; }
#summary { font-size: 15px; margin: 12px 0 0; }
.good { color: #067647; font-weight: 600; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #475467; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _section(section_id: str, body: str | None) -> str:
    title = dict(SECTIONS)[section_id]
    if body is None:
        inner = '<p class="absent">Not part of this run.</p>'
        return f'<section id="{section_id}" data-present="false"><h2>{_e(title)}</h2>{inner}</section>'
    return f'<section id="{section_id}" data-present="true"><h2>{_e(title)}</h2>{body}</section>'


def _table(head: Iterable[str], rows: Iterable[str], *, numeric: Iterable[int] = (), attrs: str = "") -> str:
    """A table whose `numeric` columns' headings align right, over rows already made."""
    right = set(numeric)
    cells = "".join(f'<th class="num">{_e(h)}</th>' if i in right else f"<th>{_e(h)}</th>" for i, h in enumerate(head))
    opening = f"<table {attrs}>" if attrs else "<table>"
    return f"{opening}<thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _buckets(buckets: tuple[BucketTotals, ...]) -> str:
    rows = []
    for b in buckets:
        cells = [f"<td>{_e(b.bucket)}<div class='sub'>to {_e(b.destination)}</div></td>"]
        for name in BUCKET_FIELDS:
            t = b.tally(name)
            cells.append(
                f'<td class="num" data-bucket="{_e(b.bucket)}" data-field="{name}" data-objects="{t.objects}" '
                f'data-bytes="{t.bytes}">{t.objects:,}<div class="sub">{size_text(t.bytes)}</div></td>'
            )
        rows.append(f'<tr data-bucket="{_e(b.bucket)}" data-unsized="{b.unsized}">{"".join(cells)}</tr>')
    note = (
        "<p class='sub'>Copied: written by bucketshift. Skipped: already at the destination with the source's "
        "bytes (adopted) or a conflict settled by keeping the destination's version. Verified: the part of "
        "copied and skipped that verify confirmed. Pending: not finished, or taken back by verify. Bytes are "
        "source sizes as the manifest records them.</p>"
    )
    unsized = sum(b.unsized for b in buckets)
    if unsized:
        have = "object has" if unsized == 1 else "objects have"
        note += f"<p class='sub'>{unsized:,} {have} no size recorded yet (never read) and add no bytes.</p>"
    return _table(["bucket", *BUCKET_FIELDS], rows, numeric=range(1, 1 + len(BUCKET_FIELDS))) + note


def _ticks(top: float) -> float:
    """A round number of MB/s near top, so the axis reads well."""
    for nice in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if nice >= top:
            return float(nice)
    return top


def _throughput(series: ThroughputSeries) -> str:
    attrs = (
        f'data-total-bytes="{series.total_bytes}" data-total-objects="{series.total_objects}" '
        f'data-step-seconds="{series.step:g}" data-points="{len(series.points)}"'
    )
    if not series.points or series.started is None:
        return f'<p class="absent" {attrs}>Nothing was copied.</p>'
    width, height, left, bottom, top_pad = 1000, 240, 56, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    rates = [series.rate(p) / 1e6 for p in series.points]
    top = _ticks(max(rates) or 1.0)
    bar_w = plot_w / len(series.points)
    parts = [
        f'<svg role="img" aria-label="MB/s over time" viewBox="0 0 {width} {height}" width="100%" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" {attrs}>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#98a2b3"/>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#98a2b3"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{top * fraction:g}</text>')
        if fraction:
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eaecf0"/>')
    parts.append(f'<text x="12" y="{top_pad + plot_h / 2}" transform="rotate(-90 12 {top_pad + plot_h / 2})" '
                 'text-anchor="middle">MB/s</text>')  # fmt: skip
    line = []
    for i, (point, rate) in enumerate(zip(series.points, rates, strict=True)):
        x = left + i * bar_w
        h = plot_h * rate / top
        parts.append(
            f'<rect x="{x + bar_w * 0.1:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(bar_w * 0.8, 1):.1f}" '
            f'height="{h:.1f}" fill="#9db6e8" data-offset="{point.offset:g}" data-bytes="{point.bytes}" '
            f'data-objects="{point.objects}"><title>{point.offset:g} s: {rate:.2f} MB/s, '
            f"{point.objects} objects</title></rect>"
        )
        line.append(f"{x + bar_w / 2:.1f},{top_pad + plot_h - h:.1f}")
    parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="#2450a6" stroke-width="2"/>')
    end = series.step * len(series.points)
    for fraction in (0.0, 0.5, 1.0):
        x = left + plot_w * fraction
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{end * fraction:g} s</text>')
    parts.append("</svg>")
    started = series.started.strftime("%Y-%m-%d %H:%M:%S UTC")
    peak = max(rates)
    caption = (
        f"<p class='sub'>{series.total_objects:,} objects, {size_text(series.total_bytes)} copied from {started}, "
        f"in intervals of {series.step:g} s; peak {peak:.2f} MB/s. Each object counts whole in the interval its "
        "copy finished in (adopted and kept objects moved no bytes and are not shown).</p>"
    )
    return "".join(parts) + caption


def _rewrite(columns: tuple[ColumnRewrite, ...], *, way_back: bool = False) -> str:
    if not columns:
        return '<p class="absent">No columns hold storage URLs.</p>'
    rows = []
    for c in columns:
        cells = [f"<td>{_e(c.column)}</td>"]
        for name in ("rewritten", "still_supabase", "too_long"):
            value = getattr(c, name)
            cells.append(f'<td class="num" data-column="{_e(c.column)}" data-field="{name}">{value:,}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = ["column", "rewritten", "still pointing at Supabase", "too long for the column"]
    if way_back:
        head = ["column", "rewritten back to Supabase", "still in S3 form", "too long for the column"]
    return _table(head, rows, numeric=(1, 2, 3))


_MARKS = {True: ("✓", "good", "true"), False: ("✗", "bad", "false"), None: ("–", "sub", "none")}


def _checklist(lines: tuple[CheckLine, ...]) -> str:
    if not lines:
        return '<p class="absent">Nothing to check.</p>'
    rows = []
    for line in lines:
        mark, css, flag = _MARKS[line.ok]
        rows.append(
            f'<tr data-check="{_e(line.group)}" data-ok="{flag}"><td class="{css}">{mark}</td>'
            f"<td>{_e(line.label)}</td><td>{_e(line.detail)}</td></tr>"
        )
    unticked = sum(line.ok is False for line in lines)
    verdict = (
        '<p class="good" data-unticked="0">every line ticked</p>'
        if not unticked
        else f'<p class="bad" data-unticked="{unticked}">{unticked:,} not ticked</p>'
    )
    return _table(["", "what", "detail"], rows) + verdict


def _failures(failures: tuple[FailureRow, ...]) -> str:
    total = f'data-total="{len(failures)}"'
    if not failures:
        return f'<p class="good" {total}>No failures.</p>'
    rows = [
        f'<tr data-bucket="{_e(f.bucket)}" data-state="{_e(f.state)}"><td>{_e(f.bucket)}</td>'
        f'<td class="key">{_e(f.key)}</td><td>{_e(f.state)}</td><td class="num">{f.attempts}</td>'
        f"<td>{_e(f.reason)}</td></tr>"
        for f in failures[:MAX_FAILURE_ROWS]
    ]
    table = _table(["bucket", "key", "state", "attempts", "reason"], rows, numeric=(3,), attrs=total)
    more = len(failures) - MAX_FAILURE_ROWS
    if more > 0:
        table += f"<p class='sub'>{more:,} more are in the manifest (bucketshift status lists them).</p>"
    return table


def _posture(rows: tuple[PostureRow, ...]) -> str:
    if not rows:
        return '<p class="absent">No buckets were checked.</p>'
    body = []
    for row in rows:
        if row.findings:
            found = "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in row.findings) + "</ul>"
            verdict = f'<span class="bad">{len(row.findings)} finding(s)</span>{found}'
        else:
            verdict = '<span class="good">as planned</span>'
        body.append(
            f'<tr data-bucket="{_e(row.bucket)}" data-findings="{len(row.findings)}"><td>{_e(row.bucket)}</td>'
            f"<td>{_e(row.access)}</td><td>{verdict}</td></tr>"
        )
    return _table(["bucket", "access", "exposure"], body)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _estimate(estimate: EstimateVsActual) -> str:
    rows = [
        f'<tr data-label="{_e(line.label)}"><td>{_e(line.label)}</td>'
        f'<td class="num" data-field="estimated" data-value="{line.estimated!r}">{_number(line.estimated)}</td>'
        f'<td class="num" data-field="actual" data-value="{"" if line.actual is None else repr(line.actual)}">'
        f"{_number(line.actual)}</td><td>{_e(line.unit)}</td></tr>"
        for line in estimate.lines
    ]
    note = f"<p class='sub'>{_e(estimate.note)}</p>" if estimate.note else ""
    return _table(["", "estimated", "actual", "unit"], rows, numeric=(1, 2)) + note


def _summary(report: Report) -> str:
    """One line to read first: how much is verified, and what needs a look."""
    if report.buckets is None:
        return ""
    planned = sum(b.planned.objects for b in report.buckets)
    verified = sum(b.verified.objects for b in report.buckets)
    attention = sum(b.failed.objects + b.conflicts.objects + b.pending.objects for b in report.buckets)
    verdict = (
        '<span class="good">nothing needs a look</span>'
        if not attention
        else f'<span class="bad">{attention:,} objects need a look</span> (failed, conflicts, pending)'
    )
    return (
        f'<p id="summary" data-planned="{planned}" data-verified="{verified}" data-attention="{attention}">'
        f"{verified:,} of {planned:,} objects verified at the destination; {verdict}.</p>"
    )


def render_html(report: Report) -> str:
    """The whole page; every optional section is shown, as "not part of this run" when absent."""
    bodies = {
        "checklist": None if report.checklist is None else _checklist(report.checklist),
        "buckets": None if report.buckets is None else _buckets(report.buckets),
        "throughput": None if report.throughput is None else _throughput(report.throughput),
        "rewrite": None if report.rewrite is None else _rewrite(report.rewrite, way_back=report.way_back),
        "failures": None if report.failures is None else _failures(report.failures),
        "posture": None if report.posture is None else _posture(report.posture),
        "estimate": None if report.estimate is None else _estimate(report.estimate),
    }
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(_section(sid, bodies[sid]) for sid, _ in SECTIONS)
    notes = ""
    if report.notes:
        notes = '<section id="notes"><h2>Notes</h2><ul>' + "".join(f"<li>{_e(n)}</li>" for n in report.notes)
        notes += "</ul></section>"
    generated = report.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(report.title)}</h1><p>bucketshift {_e(report.command)} · plan "
        f'<span id="plan-name">{_e(report.plan_name)}</span> · generated {_e(generated)}</p></header>'
        f"<nav>{nav}</nav><main>{_summary(report)}{sections}{notes}</main></body></html>\n"
    )

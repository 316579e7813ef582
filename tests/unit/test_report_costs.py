"""The estimate beside what the copy did: the same prices applied to what really moved."""

from __future__ import annotations

import pytest

from bucketshift.prices import GB, prices_for
from bucketshift.report.costs import Estimated, Moved, compare, egress_usd, requests_usd

PRICES = prices_for("us-east-1")


def _estimated(objects: int = 100, size: int = 3 * GB, put: int = 110, get: int = 1, lists: int = 10) -> Estimated:
    egress, requests = egress_usd(size, PRICES), requests_usd(put, get, PRICES)
    return Estimated(objects, size, 12.5, "probe of 1.0 s", put, get, lists, round(egress, 6), round(requests, 6),
                     round(egress + requests, 6), PRICES)  # fmt: skip


def _lines(est: Estimated, moved: Moved | None) -> dict[str, tuple[float, float | None]]:
    return {line.label: (line.estimated, line.actual) for line in compare(est, moved).lines}


def test_a_copy_that_did_what_was_estimated_costs_what_was_estimated() -> None:
    est = _estimated()
    lines = _lines(est, Moved(100, 3 * GB, 3 * GB, 14.0))
    for label in ("objects to copy", "bytes to copy", "source egress", "destination requests", "one-time cost"):
        assert lines[label][0] == lines[label][1], label
    assert lines["time of the copy"] == (12.5, 14.0)
    assert lines["source egress"][1] == pytest.approx(3 * 0.09)
    note = compare(est, Moved(100, 3 * GB, 3 * GB, 14.0)).note
    assert "list prices for us-east-1" in note
    assert PRICES.date in note
    assert "wall-clock" in note


def test_retried_reads_and_fewer_objects_show_in_the_actual_cost() -> None:
    est = _estimated()
    lines = _lines(est, Moved(50, 1 * GB, 2 * GB, 5.0))  # half the objects, one GB read twice
    assert lines["source egress"][1] == pytest.approx(2 * 0.09)
    assert lines["source egress"][1] != lines["source egress"][0]
    # requests: the listing (10 PUT-tier pages) plus half the per-object ones
    assert lines["destination requests"][1] == pytest.approx(requests_usd(10 + 50, 0.5, PRICES), abs=1e-6)
    assert lines["one-time cost"][1] == pytest.approx(lines["source egress"][1] + lines["destination requests"][1])


def test_what_cannot_be_known_stays_empty() -> None:
    nothing_planned = _estimated(objects=0, size=0, put=10, get=0)
    assert _lines(nothing_planned, Moved(0, 0, 0, 0.1))["destination requests"][1] == requests_usd(10, 0, PRICES)
    assert _lines(nothing_planned, Moved(3, 10, 10, 0.1))["one-time cost"][1] is None, "no per-object rate to scale"
    dry = compare(_estimated(), None)
    assert all(line.actual is None for line in dry.lines)
    assert "Nothing was copied by this run" in dry.note
    untimed = Estimated(**{**_estimated().__dict__, "seconds": None})
    assert "time of the copy" not in _lines(untimed, Moved(1, 1, 1, 1.0))

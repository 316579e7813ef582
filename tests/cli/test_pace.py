"""The rate a progress row shows, on a clock the test drives."""

from __future__ import annotations

import pytest

from bucketshift.cli.pace import Pace


def test_a_finished_row_shows_its_own_average_not_zero() -> None:
    pace = Pace()
    pace.sample(0.0, 0, complete=False)  # listed, waiting for its turn
    pace.sample(10.0, 0, complete=False)  # other buckets went first
    for second in range(1, 6):
        pace.sample(10.0 + second, second * 3_540_000, complete=second == 5)  # 17.7 MB in 5 s
    assert pace.rate(100.0) == pytest.approx(3_540_000)
    pace.sample(101.0, 17_700_000, complete=True)
    assert pace.rate(200.0) == pytest.approx(3_540_000), "the end is kept, later samples change nothing"


def test_the_whole_command_s_clock_would_have_diluted_it() -> None:
    """The negative: measured from the command's start, the same bucket shows a third of its rate."""
    pace = Pace()
    pace.sample(10.0, 0, complete=False)
    pace.sample(15.0, 17_700_000, complete=True)
    assert pace.rate(15.0) == pytest.approx(17_700_000 / 5)
    assert pace.rate(15.0) / 2 > 17_700_000 / 15.0


def test_a_moving_row_shows_its_recent_rate() -> None:
    pace = Pace()
    pace.sample(0.0, 0, complete=False)
    for second in range(1, 11):
        amount = min(second, 5) * 1_000 + max(0, second - 5) * 4_000
        pace.sample(float(second), amount, complete=False)
    assert pace.rate(10.0) == pytest.approx(4_000), "the last seconds, not the whole average (2,500)"


def test_a_row_that_has_not_begun_shows_nothing() -> None:
    pace = Pace()
    pace.sample(0.0, 0, complete=False)
    pace.sample(5.0, 0, complete=False)
    assert pace.rate(5.0) == 0.0

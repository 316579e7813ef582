"""Prices: the plan's `[prices]` table, each missing field from the region's list prices."""

from __future__ import annotations

import pytest

from bucketshift.config import PricesConfig, parse_plan
from bucketshift.errors import ConfigError
from bucketshift.prices import LIST_PRICES_DATE, S3_LIST_PRICES, SUPABASE_EGRESS_PER_GB, prices_for

PLAN = """
[source]
type = "supabase"
url = "https://abcd.supabase.co"
key = "service-role-key"

[destination]
type = "s3"
region = "eu-west-2"

[[buckets]]
source = "images"
access = "private"
{prices}
"""


def test_without_a_table_the_list_prices_of_the_region_and_their_date() -> None:
    prices = prices_for("eu-west-2")
    listed = S3_LIST_PRICES["eu-west-2"]
    assert (prices.put_per_1000, prices.get_per_1000) == (listed.put_per_1000, listed.get_per_1000)
    assert prices.storage_per_gb_month == listed.storage_per_gb_month
    assert prices.source_egress_per_gb == SUPABASE_EGRESS_PER_GB
    assert (prices.source, prices.date, prices.currency) == ("list prices for eu-west-2", LIST_PRICES_DATE, "USD")


def test_an_unknown_region_is_priced_as_us_east_1_and_says_so() -> None:
    prices = prices_for("mars-north-1")
    assert prices.put_per_1000 == S3_LIST_PRICES["us-east-1"].put_per_1000
    assert "us-east-1" in prices.source
    assert "mars-north-1 not known" in prices.source


def test_a_full_table_is_the_plan_files_with_its_date() -> None:
    table = PricesConfig(
        source_egress_per_gb=0.05, put_per_1000=0.004, get_per_1000=0.0003, storage_per_gb_month=0.02,
        currency="EUR", date="2026-01-15",
    )  # fmt: skip
    prices = prices_for("us-east-1", table)
    assert (prices.source_egress_per_gb, prices.put_per_1000, prices.get_per_1000) == (0.05, 0.004, 0.0003)
    assert (prices.storage_per_gb_month, prices.currency, prices.date) == (0.02, "EUR", "2026-01-15")
    assert prices.source == "plan file"


def test_a_field_left_out_falls_back_to_the_list_price() -> None:
    prices = prices_for("us-east-1", PricesConfig(source_egress_per_gb=0.0))
    assert prices.source_egress_per_gb == 0.0  # zero is a price (egress within the quota), not a gap
    assert prices.put_per_1000 == S3_LIST_PRICES["us-east-1"].put_per_1000
    assert prices.source.startswith("plan file (source_egress_per_gb); the rest list prices for us-east-1")
    assert prices.date == LIST_PRICES_DATE


def test_the_prices_table_parses_from_the_plan_file() -> None:
    plan = parse_plan(PLAN.format(prices='[prices]\nput_per_1000 = 0.006\ndate = "2026-02-01"'))
    assert plan.prices is not None
    assert plan.prices.put_per_1000 == 0.006
    assert prices_for("eu-west-2", plan.prices).put_per_1000 == 0.006
    assert parse_plan(PLAN.format(prices="")).prices is None


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('put_per_1000 = "cheap"', "plan file: prices.put_per_1000: Input should be a valid number"),
        ("get_per_1000 = -1", "plan file: prices.get_per_1000: Input should be greater than or equal to 0"),
        ("put_per_100 = 0.005", "plan file: prices.put_per_100: unknown field; did you mean 'put_per_1000'?"),
    ],
)
def test_a_bad_prices_table_is_one_config_error(table: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_plan(PLAN.format(prices=f"[prices]\n{table}"))
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)

"""The request counting of engine/requests_model.py: the engine's rules, boundary by boundary."""

from __future__ import annotations

import pytest

from bucketshift.config import S3Endpoint
from bucketshift.engine.requests_model import (
    Action,
    ListingKind,
    Planned,
    Requests,
    Side,
    Traits,
    copy_seconds,
    count_mapping,
    listing_requests,
    object_requests,
    parallelism,
    part_size_for,
)
from bucketshift.stores.s3 import S3Store

MiB = 1024 * 1024
S3 = Traits(metadata_per_object=True, multipart=True, multipart_threshold=5 * MiB, part_size=5 * MiB)


def copy(size: int, **kw: bool) -> Planned:
    return Planned(size, Action.COPY, **kw)


def test_a_body_up_to_the_threshold_is_one_put_one_byte_more_is_multipart() -> None:
    assert object_requests(copy(5 * MiB), S3) == Requests(source_gets=1, source_heads=1, dest_puts=1)
    above = object_requests(copy(5 * MiB + 1), S3)
    assert (above.dest_puts, above.multipart_uploads, above.multipart_parts) == (0, 1, 2)
    assert above.multipart_requests == 4  # create, two parts, complete


@pytest.mark.parametrize(
    ("size", "parts"), [(10 * MiB, 2), (10 * MiB + 1, 3), (11 * MiB, 3), (15 * MiB, 3), (15 * MiB + 1, 4)]
)
def test_parts_are_the_size_over_the_part_size_rounded_up(size: int, parts: int) -> None:
    assert object_requests(copy(size), S3).multipart_parts == parts


def test_part_size_grows_where_ten_thousand_parts_would_not_hold_the_object() -> None:
    endpoint = S3Endpoint(type="s3", region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called
    store = S3Store(endpoint, part_size=8 * MiB)
    for size in (0, 8 * MiB, 80_000 * MiB, 80_000 * MiB + 1, 5 * 1024**4):
        assert part_size_for(size, 8 * MiB) == store.part_size_for(size)
    huge = object_requests(copy(5 * 1024**4), Traits(multipart_threshold=16 * MiB, part_size=8 * MiB))
    assert huge.multipart_parts <= 10_000


def test_without_multipart_every_size_is_one_put() -> None:
    local = Traits(multipart=False, dest_checksum_probe=False)
    assert object_requests(copy(50 * MiB), local) == Requests(source_gets=1, dest_puts=1)


def test_metadata_in_the_listing_costs_no_object_info() -> None:
    listed = Traits(metadata_per_object=False, multipart_threshold=5 * MiB, part_size=5 * MiB)
    assert object_requests(copy(100), listed) == Requests(source_gets=1, dest_puts=1)


def test_objects_not_copied_cost_nothing_unless_the_copy_looked_at_them() -> None:
    assert object_requests(Planned(123, Action.SKIP), S3) == Requests()
    assert object_requests(Planned(123, Action.SKIP, looked=True), S3) == Requests(dest_heads=1)
    looked_then_copied = object_requests(copy(10, looked=True), S3)
    assert (looked_then_copied.dest_heads, looked_then_copied.dest_puts) == (1, 1)


def test_a_conditional_write_looks_first_only_where_the_store_cannot_check_it() -> None:
    assert object_requests(copy(10, if_match=True), S3).dest_heads == 0
    supabase = Traits(multipart=False, dest_conditional_writes=False, dest_checksum_probe=False)
    assert object_requests(copy(10, if_match=True), supabase) == Requests(source_gets=1, dest_puts=1, dest_heads=1)
    assert object_requests(copy(10), supabase).dest_heads == 0


def test_a_mapping_adds_its_listings_and_one_checksum_probe_when_anything_is_copied() -> None:
    objects = [copy(10), copy(11 * MiB), Planned(0, Action.SKIP), Planned(7, Action.SKIP)]
    listings = [(3, ListingKind.SUPABASE_API), (2, ListingKind.DATABASE)]
    total = count_mapping(objects, S3, source_listings=listings, dest_list_pages=2)
    assert total == Requests(
        source_gets=2, source_heads=2, source_lists=4, source_list_queries=2, dest_lists=2,
        dest_puts=1, multipart_uploads=1, multipart_parts=3, dest_heads=1,
    )  # fmt: skip
    assert total.dest_put_class == 1 + 5 + 2
    assert total.dest_get_class == 1


def test_a_mapping_with_everything_already_copied_costs_its_listings_only() -> None:
    done = [Planned(10, Action.SKIP)] * 5
    total = count_mapping(done, S3, source_listings=[(1, ListingKind.SUPABASE_API)], dest_list_pages=1)
    assert total == Requests(source_lists=2, dest_lists=1)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ListingKind.SUPABASE_API, Requests(source_lists=4)),
        (ListingKind.S3, Requests(source_lists=3)),
        (ListingKind.DATABASE, Requests(source_list_queries=3)),
        (ListingKind.LOCAL, Requests()),
    ],
)
def test_listing_requests_by_kind(kind: ListingKind, expected: Requests) -> None:
    assert listing_requests(3, kind) == expected


def test_parallelism_extrapolates_only_an_endpoint_that_kept_up() -> None:
    assert parallelism(4.6, 5, 64) == 64
    assert parallelism(2.0, 5, 64) == 2.0
    assert parallelism(0.7, 5, 64) == 1.0
    assert parallelism(4.9, 5, 3) == 3


def test_copy_seconds_adds_round_trips_over_parallelism_and_bytes_over_rate() -> None:
    source = Side(requests=100, request_seconds=0.01, speedup=1.0, probed=5, bytes_per_second=100e6)
    dest = Side(requests=100, request_seconds=0.02, speedup=5.0, probed=5, bytes_per_second=50e6)
    # source: 100 x 10 ms / 1 + 100 MB / 100 MB/s; destination: 100 x 20 ms / 10 + 100 MB / 50 MB/s
    assert copy_seconds(source, dest, 100_000_000, 10) == pytest.approx(1.0 + 1.0 + 0.2 + 2.0)

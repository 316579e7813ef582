"""The media service's keys and extensions: pure, so tested without a server."""

from __future__ import annotations

import re

import pytest
from examples.media_service.keys import SEGMENT_PATTERN, asset_key, frame_key, image_extension, video_key


@pytest.mark.parametrize(
    ("url", "content_type", "extension"),
    [
        ("https://cdn.example.com/a/hero.PNG?v=2", "image/png", ".png"),
        ("https://cdn.example.com/a/hero.jpeg", "image/jpeg", ".jpeg"),
        ("https://cdn.example.com/render?id=3", "image/jpeg", ".jpg"),
        ("https://cdn.example.com/render?id=3", "image/webp", ".webp"),
        ("https://cdn.example.com/photo%20one.gif", "image/gif", ".gif"),
        ("https://cdn.example.com/archive.tar.gz", "image/avif", ".avif"),
        ("https://cdn.example.com/blob", "image/x-unheard-of", ""),
    ],
)
def test_the_extension_comes_from_the_path_then_the_content_type(url: str, content_type: str, extension: str) -> None:
    assert image_extension(url, content_type) == extension


def test_keys_are_laid_out_as_the_seed_lays_them_out() -> None:
    assert asset_key("2", "main", "a1b2", ".png", now_ms=1760000000123, random_hex="0f1e2d3c") == (
        "project_2/branch_main/master-assets/a1b2_1760000000123_0f1e2d3c.png"
    )
    assert frame_key("2", "main", 17, now_ms=1760000000123) == "project_2/branch_main/frames/17_1760000000123.png"
    assert video_key("2", 9, now_ms=1760000000123) == "project_2/videos/9_1760000000123.mp4"


@pytest.mark.parametrize("name", ["1", "main", "feature_x-2", "A" * 64])
def test_names_that_may_appear_in_a_key(name: str) -> None:
    assert re.match(SEGMENT_PATTERN, name)


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "a b", "a.b", "é", "-x", "A" * 65])
def test_names_that_may_not(name: str) -> None:
    assert not re.match(SEGMENT_PATTERN, name)

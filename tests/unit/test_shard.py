"""`--shard K/N`: parsing, the partition (every key in exactly one shard) and its stability."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import unicodedata
from collections import Counter

import pytest

from bucketshift.engine.shard import Shard, parse_shard, shard_of
from bucketshift.errors import EXIT_USAGE, UsageError

# md5(NFC(key).lower()), first 8 bytes little-endian, modulo N: worked out with `md5sum` and
# int.from_bytes(bytes.fromhex(first 16 hex digits), "little"), not with the module under test.
EXPECTED = {
    # key: (md5 hex of the normalized key, shard of 3, shard of 7, shard of 1000)
    "photos/cat.jpg": ("e3968994c9392f35a7ac9e248417601b", 0, 4, 195),
    "A/B/Ünïcode.png": ("c2425869893a7d7a12c79d5ab0a187a0", 1, 0, 690),
    "videos/p1/intro.mp4": ("a18b94df4559492eab5c38f11576f553", 0, 1, 673),
    "README": ("3905d7917f2b3429490b01cfb60d8f5b", 1, 6, 345),
}


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/1", 0, 1), ("0/3", 0, 3), ("2/3", 2, 3), (" 1 / 4 ", 1, 4), ("99/100", 99, 100)]
)
def test_parse_accepts_k_of_n(text: str, index: int, count: int) -> None:
    shard = parse_shard(text)
    assert shard == Shard(index, count)
    assert str(shard) == f"{index}/{count}"


@pytest.mark.parametrize(
    "text",
    [
        "3/3",
        "4/3",
        "0/0",
        "1/0",
        "-1/3",
        "1/-3",
        "1",
        "1/",
        "/3",
        "a/b",
        "1.0/3",
        "1/3/5",
        "",
        "@/3",
        "١/٣",
        "9" * 30 + "/3",
    ],
)
def test_parse_refuses_anything_else_with_one_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert message.startswith("--shard ")
    assert "K from 0 to N-1" in message
    assert "\n" not in message
    assert len(message) < 200


def test_the_documented_formula_gives_fixed_shards() -> None:
    for key, (md5_hex, of3, of7, of1000) in EXPECTED.items():
        assert (
            hashlib.md5(unicodedata.normalize("NFC", key).lower().encode(), usedforsecurity=False).hexdigest()
            == md5_hex
        )
        value = int.from_bytes(bytes.fromhex(md5_hex[:16]), "little")
        assert (value % 3, value % 7, value % 1000) == (of3, of7, of1000)
        assert (shard_of(key, 3), shard_of(key, 7), shard_of(key, 1000)) == (of3, of7, of1000), key
        assert parse_shard(f"{of3}/3").in_shard(key)
        assert not parse_shard(f"{(of3 + 1) % 3}/3").in_shard(key)


def test_case_and_unicode_form_do_not_move_a_key() -> None:
    """As rclone: keys that differ only in case or Unicode normal form share a shard."""
    key = "A/B/Ünïcode.png"
    decomposed = unicodedata.normalize("NFD", key)
    assert decomposed != key
    for variant in (decomposed, key.lower(), key.upper()):
        assert shard_of(variant, 1000) == shard_of(key, 1000) == 690


def test_every_key_lands_in_exactly_one_shard_and_evenly() -> None:
    keys = [f"project-{p}/branch-{b}/frame_{i:05d}.png" for p in range(4) for b in range(5) for i in range(300)]
    keys += ["", "a", "A", "ü", "é/ü", " spaced key ", "emoji-\U0001f600.jpg", "new\nline"]
    for count in (1, 2, 3, 5, 16):
        shards = [Shard(k, count) for k in range(count)]
        owners = Counter()
        for key in keys:
            holders = [s.index for s in shards if s.in_shard(key)]
            assert len(holders) == 1, (key, count, holders)
            owners[holders[0]] += 1
        assert sum(owners.values()) == len(keys)
        expected, spread = len(keys) / count, (len(keys) * (1 / count) * (1 - 1 / count)) ** 0.5
        # A fair split keeps every shard within 5 binomial standard deviations of its share.
        assert all(abs(owners[k] - expected) <= 5 * spread for k in range(count)), (count, owners)
        if count > 1:
            assert min(owners.values()) > 0.8 * expected, (count, owners)


def test_a_lone_surrogate_in_a_key_does_not_raise() -> None:
    assert shard_of("bad-\udc80-key", 3) in (0, 1, 2)


def test_the_shard_is_the_same_in_another_process_with_another_hash_seed() -> None:
    """Two machines must agree: the value cannot depend on Python's per-process hash()."""
    keys = list(EXPECTED) + [f"k{i}" for i in range(50)]
    here = [shard_of(k, 7) for k in keys]
    code = (
        "import sys, json; from bucketshift.engine.shard import shard_of; keys = json.loads(sys.argv[1]); "
        "print(json.dumps([[shard_of(k, 7) for k in keys], [hash(k) % 7 for k in keys]]))"
    )
    builtin = []
    for seed in ("1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(keys)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONHASHSEED": seed},
            check=True,
        )
        shards, hashed = json.loads(done.stdout)
        assert shards == here
        builtin.append(hashed)
    # The negative twin: hash() itself does move between these processes, so the check has teeth.
    assert builtin[0] != builtin[1]

"""Amounts as people read them, the same on the terminal and in the HTML report."""

from __future__ import annotations

__all__ = ["size_text"]


def size_text(n: float) -> str:
    """Bytes in decimal units (1 KB = 1,000 bytes): `0 B`, `17.7 MB`."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"

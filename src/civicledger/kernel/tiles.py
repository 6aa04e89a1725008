"""The journal's Merkle tree as C2SP tlog-tiles (X2): what any tile-reading client can fetch.

A tile of level L and index N holds up to 256 consecutive hashes of tree level 8*L: the hashes of
the perfect subtrees of 2**(8*L) leaves numbered N*256 onwards. A full tile (256 hashes) never
changes; a partial tile of width W (1..255) is the first W hashes of the tile that is still
growing, and is a prefix of every later version of it. An entry bundle holds the leaf bytes of the
entries a level-0 tile hashes, each as a big-endian uint16 length and the bytes.

Paths follow the specification: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``, with N
written in groups of three digits, every group but the last prefixed with ``x``
(1234067 -> ``x001/x234/067``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES = 0xFFFF  # an entry bundle's length prefix is a uint16


@dataclass(frozen=True, slots=True)
class TileRef:
    """A tile (level ``level``, or ``level`` None for an entry bundle), ``width`` hashes wide."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def tree_level(self) -> int:
        """The Merkle tree level whose hashes the tile holds (0 for an entry bundle)."""
        return 0 if self.level is None else self.level * TILE_HEIGHT

    def path(self) -> str:
        level = "entries" if self.level is None else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"


def encode_index(n: int) -> str:
    """N in x-prefixed three-digit groups: 1234067 -> ``x001/x234/067``."""
    if n < 0:
        raise ValueError(f"a tile index is not negative, not {n}")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")
_WIDTH = re.compile(r"^[1-9]\d{0,2}$")


def parse_tile_path(level: str, rest: str) -> TileRef | None:
    """The tile named by ``tile/<level>/<rest>``, or None if the path is not a tile's."""
    if level == "entries":
        lvl: int | None = None
    elif re.fullmatch(r"0|[1-9]\d?", level) and int(level) <= 63:
        lvl = int(level)
    else:
        return None
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, w = rest.partition(".p/")
        if not _WIDTH.match(w) or not 0 < int(w) < TILE_WIDTH:
            return None
        width = int(w)
    if not _INDEX.match(rest):
        return None
    return TileRef(lvl, int(rest.replace("x", "").replace("/", "")), width)


def available(ref: TileRef, size: int) -> bool:
    """Does a tree of ``size`` leaves hold all of ``ref``'s hashes?"""
    count = size >> ref.tree_level  # the perfect subtrees of that level the tree holds
    return (ref.index * TILE_WIDTH + ref.width) <= count


def tiles_of(size: int, level: int) -> list[TileRef]:
    """The tiles of ``level`` a tree of ``size`` leaves has: full ones, then a partial one if any."""
    count = size >> (level * TILE_HEIGHT)
    full, rest = divmod(count, TILE_WIDTH)
    out = [TileRef(level, n) for n in range(full)]
    if rest:
        out.append(TileRef(level, full, rest))
    return out


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    parts: list[bytes] = []
    for data in entries:
        if len(data) > MAX_ENTRY_BYTES:
            raise ValueError(f"an entry of {len(data)} bytes does not fit an entry bundle's uint16 length")
        parts += (len(data).to_bytes(2, "big"), data)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; ValueError if it is truncated."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("an entry bundle ends inside a length prefix")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise ValueError("an entry bundle ends inside an entry")
        out.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return out


def split_hashes(data: bytes) -> list[bytes]:
    """A hash tile's bytes as its 32-byte hashes."""
    if len(data) % 32:
        raise ValueError(f"a hash tile is a multiple of 32 bytes, not {len(data)}")
    return [data[i : i + 32] for i in range(0, len(data), 32)]

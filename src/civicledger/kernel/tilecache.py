"""A store's process-wide cache of the journal's Merkle tiles and of its newest signed tree head (X2).

A perfect subtree's hash never changes once the journal holds all its leaves, so once read it can
be kept for as long as the process lives; a proof whose nodes are all kept is computed without
the database. The cache holds whole tiles (``kernel/tiles.py``): the tile of level L and index N,
read as the W <= 256 hashes of tree level 8·L it covers, is kept with every node of tree levels
8·L .. 8·L + 7 above them that those W hashes complete (510 hashes, 16,320 bytes, for a full
tile), so one tile answers every proof element that falls in it. A partial tile (the tree's right
edge) is a prefix of every later version of itself, so its nodes stay right too; when a proof needs
a node beyond the width kept, the tile is read again, wider.

Two rules keep it honest:

- it never answers for a node the caller's tree does not hold: ``node(level, index, size)`` is
  None unless the subtree's last leaf is below ``size``, whatever the cache holds;
- it is bounded: at most ``max_bytes`` of tiles (their hash bytes and the objects that hold them,
  ``sys.getsizeof``), least recently used first out; 0 keeps nothing.

Beside the tiles, ``entries`` (an ``EntryCache``) keeps full entry bundles: the leaf bytes of 256
consecutive entries, immutable once the journal holds all 256 (C2SP tlog-tiles), so a warm proof
reads nothing from the database. It has its own bound, for entries weigh far more than hashes.

The newest signed tree head is kept for ``head_ttl`` seconds (and forgotten when the process
itself appends to the journal): proofs are then served against a head at most that old (twice
that while one thread reads the newest), which the store really holds (a signed head, once
committed, stays in the journal). A caller that asks for
an entry the kept head does not cover reads the newest head again.
"""

from __future__ import annotations

import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256

from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import Node
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH
from civicledger.kernel.uppertree import UpperTree

HASH = 32
DEFAULT_MAX_BYTES = 64 << 20
"""64 MiB: about 4,000 full tiles, every tile of a journal of a million entries."""
DEFAULT_HEAD_TTL = 1.0
DEFAULT_ENTRY_BYTES = 256 << 20
"""256 MiB of full entry bundles: 414,000 signed transfers (``EntryCache``)."""


@dataclass(frozen=True, slots=True)
class TileSpan:
    """The hashes of tree level ``level`` numbered ``start`` .. ``stop - 1``: what a tile is read from."""

    level: int
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Tile:
    """A tile's hashes: ``levels[r]`` concatenates the hashes of tree level 8·L + r under its first
    ``width`` hashes (``width >> r`` of them)."""

    level: int
    index: int
    width: int
    levels: tuple[bytes, ...]

    @staticmethod
    def build(level: int, index: int, base: bytes) -> Tile:
        """The tile whose hashes of tree level 8·``level`` are ``base`` (concatenated), with the
        nodes above them computed as RFC 6962 does (SHA-256 of 0x01, left, right)."""
        if not base or len(base) % HASH or len(base) > TILE_WIDTH * HASH:
            raise ValueError(f"a tile is 1 to {TILE_WIDTH} hashes of {HASH} bytes, not {len(base)} bytes")
        levels = [base]
        for _ in range(1, TILE_HEIGHT):
            below = levels[-1]
            pairs = len(below) // (2 * HASH)
            levels.append(b"".join([sha256(b"\x01" + below[j * 64 : j * 64 + 64]).digest() for j in range(pairs)]))
        return Tile(level, index, len(base) // HASH, tuple(levels))

    def get(self, node: Node) -> bytes | None:
        """The hash of ``node`` if this tile holds it."""
        level, index = node
        r = level - self.level * TILE_HEIGHT
        if not 0 <= r < TILE_HEIGHT or index >> (TILE_HEIGHT - r) != self.index:
            return None
        offset = index & ((TILE_WIDTH >> r) - 1)
        if offset >= self.width >> r:
            return None
        return self.levels[r][offset * HASH : offset * HASH + HASH]

    def nbytes(self) -> int:
        """The memory the tile takes: its hash bytes and the objects holding them."""
        return sys.getsizeof(self) + sys.getsizeof(self.levels) + sum(sys.getsizeof(b) for b in self.levels)


def tile_of(node: Node) -> tuple[int, int]:
    """The (tile level, tile index) whose tile holds ``node``."""
    level, index = node
    r = level % TILE_HEIGHT
    return level // TILE_HEIGHT, index >> (TILE_HEIGHT - r)


def tile_span(tile: tuple[int, int], size: int) -> TileSpan:
    """What to read to build ``tile`` as a tree of ``size`` leaves holds it (full, or its prefix)."""
    level, index = tile
    base = level * TILE_HEIGHT
    start = index * TILE_WIDTH
    stop = min(start + TILE_WIDTH, size >> base)
    if stop <= start:
        raise ValueError(f"a tree of {size} leaves holds nothing of tile {level}/{index}")
    return TileSpan(base, start, stop)


def covers(node: Node, size: int) -> bool:
    """Does a tree of ``size`` leaves hold all of ``node``'s leaves (so its hash is final)?"""
    level, index = node
    return index >= 0 and level >= 0 and (index + 1) << level <= size


@dataclass(frozen=True, slots=True)
class CacheStats:
    tiles: int
    bytes: int
    max_bytes: int
    hits: int  # nodes answered from the cache
    misses: int  # nodes that were not there
    fills: int  # tiles read from the store and kept
    evictions: int


class TileCache:
    """Thread-safe: one per store, shared by every thread of the process (module docstring)."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        head_ttl: float = DEFAULT_HEAD_TTL,
        clock: Callable[[], float] = time.monotonic,
        entry_bytes: int = DEFAULT_ENTRY_BYTES,
    ) -> None:
        if max_bytes < 0 or head_ttl < 0:
            raise ValueError("a cache's size and a head's lifetime are not negative")
        self.entries = EntryCache(entry_bytes)
        self.max_bytes = max_bytes
        self.head_ttl = head_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._tiles: OrderedDict[tuple[int, int], tuple[Tile, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._fills = self._evictions = 0
        self._head: TreeHead | None = None
        self._head_at = 0.0
        self._forgot_at = float("-inf")
        self._refreshing_since = float("-inf")  # when a thread set out to read the newest head
        self._folds: dict[tuple[Node, ...], bytes] = {}
        self.upper: UpperTree | None = None  # the tree above the tiles, proven for a recent head
        self.upper_wanted = False  # a server's warm proofs use it: build it with each new head

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def node(self, node: Node, size: int) -> bytes | None:
        """The hash of ``node`` for a tree of ``size`` leaves, if kept; never for a node that tree
        does not hold (X2)."""
        if not covers(node, size):
            return None
        key = tile_of(node)
        with self._lock:
            held = self._tiles.get(key)
            if held is not None:
                self._tiles.move_to_end(key)
            found = None if held is None else held[0].get(node)
            if found is None:
                self._misses += 1
            else:
                self._hits += 1
        return found

    def full_tile(self, level: int, index: int) -> Tile | None:
        """Tile ``level``/``index`` if it is kept full (all 256 hashes of its base)."""
        key = (level, index)
        with self._lock:
            held = self._tiles.get(key)
            if held is None or held[0].width != TILE_WIDTH:
                self._misses += 1
                return None
            self._tiles.move_to_end(key)
            self._hits += 1
            return held[0]

    def nodes(self, wanted: Iterable[Node], size: int) -> tuple[dict[Node, bytes], list[Node]]:
        """The kept hashes among ``wanted`` for a tree of ``size``, and the ones not kept: ``node``
        for many, under one lock (a proof asks for about 2·log2(n))."""
        found: dict[Node, bytes] = {}
        missing: list[Node] = []
        tiles = self._tiles
        used = None  # the last tile found: moved to the end once, not once per node
        with self._lock:
            for node in wanted:
                level, index = node
                value = None
                if index >= 0 and (index + 1) << level <= size:  # covers(node, size)
                    r = level & (TILE_HEIGHT - 1)
                    shift = TILE_HEIGHT - r
                    key = (level >> 3, index >> shift)
                    held = tiles.get(key)
                    if held is not None:
                        if key != used:
                            tiles.move_to_end(key)
                            used = key
                        tile = held[0]
                        offset = index & ((1 << shift) - 1)
                        if offset < tile.width >> r:
                            value = tile.levels[r][offset * HASH : offset * HASH + HASH]
                if value is None:
                    missing.append(node)
                else:
                    found[node] = value
            self._hits += len(found)
            self._misses += len(missing)
        return found, missing

    def put(self, tile: Tile) -> None:
        """Keep ``tile`` (replacing a narrower copy), dropping the least recently used past the bound."""
        if not self.enabled:
            return
        cost = tile.nbytes()
        if cost > self.max_bytes:
            return
        key = (tile.level, tile.index)
        with self._lock:
            held = self._tiles.pop(key, None)
            if held is not None:
                self._bytes -= held[1]
                if held[0].width >= tile.width:  # a reader that raced this one kept it as wide
                    tile, cost = held
            self._tiles[key] = (tile, cost)
            self._bytes += cost
            self._fills += 1
            while self._bytes > self.max_bytes:
                _, (_, freed) = self._tiles.popitem(last=False)
                self._bytes -= freed
                self._evictions += 1

    def clear(self) -> None:
        """Forget every tile, bundle, fold and head (a kept one disagreed with the store)."""
        with self._lock:
            self._tiles.clear()
            self._folds.clear()
            self._bytes = 0
            self._head = None
            self.upper = None
        self.entries.clear()

    # Folds of the tree's right edge -------------------------------------------------------------

    MAX_FOLDS = 1024

    def fold(self, nodes: tuple[Node, ...]) -> bytes | None:
        """The kept fold (``merkle.fold_subtrees``) of the hashes of ``nodes``: a proof element on
        the tree's right edge, the same for every proof against one tree that turns there. Like a
        perfect subtree's hash, it never changes; the caller's tree holds ``nodes`` (its plan)."""
        return self._folds.get(nodes) if self.enabled else None

    def put_fold(self, nodes: tuple[Node, ...], value: bytes) -> None:
        """Keep a fold; at most ``MAX_FOLDS`` (about 20 per tree size: forgotten all at once past that)."""
        if not self.enabled:
            return
        with self._lock:
            if len(self._folds) >= self.MAX_FOLDS:
                self._folds.clear()
            self._folds[nodes] = value

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                len(self._tiles), self._bytes, self.max_bytes, self._hits, self._misses, self._fills, self._evictions
            )

    # The newest signed head ---------------------------------------------------------------------

    def head(self) -> TreeHead | None:
        """The newest signed head read less than ``head_ttl`` seconds ago, if any. Past that, the
        first caller gets None (it reads the newest head and keeps it); until it has, or for at most
        ``head_ttl`` more, the others get the kept head: one read a lifetime per process, not one per
        request thread that arrives in the same moment (they all would, every ``head_ttl``)."""
        with self._lock:
            if self._head is None:
                return None
            now = self._clock()
            if self._head_serves(now):
                return self._head
            self._refreshing_since = now
            return None

    def fresh_head(self) -> TreeHead | None:
        """The kept head while ``head`` would give it to anyone (fresh, or another caller is
        reading the newest), without becoming the caller that reads it: a proof served only from
        the cache (``audit.warm_inclusion``) leaves the reading to ``head``'s callers."""
        with self._lock:
            return self._head if self._head is not None and self._head_serves(self._clock()) else None

    def _head_serves(self, now: float) -> bool:
        """Is the kept head served at ``now``: read less than ``head_ttl`` ago, or another caller
        set out less than ``head_ttl`` ago to read the newest (the lock held)."""
        return now - self._head_at < self.head_ttl or now - self._refreshing_since < self.head_ttl

    def put_head(self, head: TreeHead, read_at: float) -> None:
        """Keep ``head``, the newest signed head as read at ``read_at`` (``now()`` before the read),
        unless a head read later is kept or the journal grew here since."""
        with self._lock:
            if read_at >= self._forgot_at and (self._head is None or read_at >= self._head_at):
                self._head, self._head_at = head, read_at
                self._refreshing_since = float("-inf")

    def forget_head(self) -> None:
        """The journal grew here: the next proof reads the newest head again."""
        with self._lock:
            self._head = None
            self._forgot_at = self._clock()

    def now(self) -> float:
        return self._clock()


# Entry bundles ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """A full entry bundle: its entries' leaf bytes concatenated, entry i at
    ``data[offsets[i]:offsets[i + 1]]`` (one bytes object and one array, not 256 objects)."""

    index: int
    data: bytes
    offsets: array[int]

    @staticmethod
    def build(index: int, bodies: Sequence[bytes]) -> Bundle:
        if len(bodies) != TILE_WIDTH:
            raise ValueError(f"a full entry bundle holds {TILE_WIDTH} entries, not {len(bodies)}")
        offsets = array("L", [0])
        at = 0
        for body in bodies:
            at += len(body)
            offsets.append(at)
        return Bundle(index, b"".join(bodies), offsets)

    def body(self, seq: int) -> bytes:
        i = seq & (TILE_WIDTH - 1)
        return self.data[self.offsets[i] : self.offsets[i + 1]]

    def nbytes(self) -> int:
        """The memory the bundle takes: its bytes, its offsets and the object holding them."""
        return sys.getsizeof(self) + sys.getsizeof(self.data) + sys.getsizeof(self.offsets)


@dataclass(frozen=True, slots=True)
class EntryStats:
    bundles: int
    bytes: int
    max_bytes: int
    hits: int  # entries answered from the cache
    misses: int
    fills: int
    evictions: int


class EntryCache:
    """Full entry bundles, least recently used first out past ``max_bytes`` (0 keeps nothing).

    Only full bundles are kept: their entries never change (X2), so a kept one is right for any
    later tree, and the caller still checks each served entry against the signed root (its leaf
    hash is computed from the bytes served). Kept, a signed transfer (one leg, one signature)
    takes 648 bytes, a bundle of them 162 KiB, so the default 256 MiB keeps some 1,600 bundles,
    414,000 such entries: 41% of a journal of a million (the benchmark's unsigned filler entries
    take 205 bytes: all of a million fit). Thread-safe, like ``TileCache``.

    A bundle costs 256 entries' worth of reading where a miss alone costs one, so a journal larger
    than the bound, read at random, must not evict and refill on every miss: while the cache has
    room, every miss reads its bundle; once full, only a bundle missed twice within the last
    ``max(1024, bundles kept)`` misses is read (a doorkeeper, as TinyLFU's), the others read the
    one entry."""

    def __init__(self, max_bytes: int = DEFAULT_ENTRY_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("a cache's size is not negative")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bundles: OrderedDict[int, tuple[Bundle, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._fills = self._evictions = 0
        self._missed: set[int] = set()
        self._last_cost = 0  # what the last bundle kept cost: room for one more?

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def wants(self, index: int) -> bool:
        """Should a miss in bundle ``index`` read the whole bundle to keep it (class docstring)?"""
        if not self.enabled:
            return False
        with self._lock:
            if self._bytes + self._last_cost <= self.max_bytes or index in self._missed:  # room, or missed before
                self._missed.discard(index)
                return True
            if len(self._missed) >= max(1024, len(self._bundles)):
                self._missed.clear()
            self._missed.add(index)
            return False

    def body(self, seq: int, size: int) -> bytes | None:
        """Entry ``seq``'s leaf bytes if its bundle is kept; never for an entry a tree of ``size``
        does not hold."""
        if not 0 <= seq < size:
            return None
        index = seq >> TILE_HEIGHT
        with self._lock:
            held = self._bundles.get(index)
            if held is None:
                self._misses += 1
                return None
            self._bundles.move_to_end(index)
            self._hits += 1
        return held[0].body(seq)

    def put(self, bundle: Bundle) -> None:
        """Keep ``bundle``, dropping the least recently used past the bound."""
        if not self.enabled:
            return
        cost = bundle.nbytes()
        if cost > self.max_bytes:
            return
        with self._lock:
            held = self._bundles.pop(bundle.index, None)
            if held is not None:
                self._bytes -= held[1]
            self._bundles[bundle.index] = (bundle, cost)
            self._bytes += cost
            self._last_cost = cost
            self._fills += 1
            while self._bytes > self.max_bytes:
                _, (_, freed) = self._bundles.popitem(last=False)
                self._bytes -= freed
                self._evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._bundles.clear()
            self._missed.clear()
            self._bytes = 0

    def stats(self) -> EntryStats:
        with self._lock:
            return EntryStats(
                len(self._bundles),
                self._bytes,
                self.max_bytes,
                self._hits,
                self._misses,
                self._fills,
                self._evictions,
            )

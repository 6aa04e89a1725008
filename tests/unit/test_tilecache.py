"""X2: the tile cache answers only with the hashes a tree really holds, stays within its bound,
and keeps the newest signed head only as long as it is told to."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import leaf_hash, root_of
from civicledger.kernel.tilecache import HASH, Bundle, EntryCache, Tile, TileCache, covers, tile_of, tile_span

LEAVES = [leaf_hash(str(i).encode()) for i in range(1500)]


def _true(level: int, index: int) -> bytes:
    return root_of(LEAVES[index << level : (index + 1) << level])


def _tile(level: int, index: int, size: int) -> Tile:
    """The tile as a tree of ``size`` leaves holds it, built from the true hashes of its base level."""
    span = tile_span((level, index), size)
    return Tile.build(level, index, b"".join(_true(span.level, i) for i in range(span.start, span.stop)))


def test_x02_a_tile_holds_the_true_hash_of_every_node_its_width_completes() -> None:
    for width in (1, 2, 3, 5, 64, 100, 255, 256):
        tile = _tile(0, 1, 256 + width)
        assert tile.width == width
        for r in range(8):
            for i in range(256 >> r):
                node = (r, ((256 >> r) + i))  # nodes of level r under tile 0/1
                expected = _true(*node) if (i + 1) << r <= width else None
                assert tile.get(node) == expected, (width, node)
        assert tile.get((8, 1)) is None  # the tile's root belongs to the tile of level 1
        assert tile.get((0, 0)) is None  # another tile's node


def test_x02_the_cache_never_answers_for_a_node_the_tree_does_not_hold() -> None:
    """Filled from a larger tree, asked about smaller ones (and the other way): every answer is the
    true hash, and there is none for a node whose last leaf is not below the size asked about."""
    rng = random.Random(15)
    for _ in range(6):
        fill_size = rng.randrange(1, len(LEAVES) + 1)
        cache = TileCache()
        for level, count in ((0, fill_size), (1, fill_size >> 8)):
            for index in range((count + 255) // 256):
                cache.put(_tile(level, index, fill_size))
        for size in {1, fill_size, rng.randrange(1, len(LEAVES) + 1), len(LEAVES)}:
            for level in range(11):
                for index in range(-1, (len(LEAVES) >> level) + 2):
                    got = cache.node((level, index), size)
                    if not covers((level, index), size):
                        assert got is None, (fill_size, size, level, index)
                    elif got is not None:
                        assert got == _true(level, index)
                        assert covers((level, index), fill_size)
            nodes = [(lv, i) for lv in range(11) for i in range(len(LEAVES) >> lv)]
            found, missing = cache.nodes(nodes, size)
            assert set(found) | set(missing) == set(nodes)
            assert all(covers(n, size) and found[n] == _true(*n) for n in found)


def test_x02_a_narrower_copy_never_replaces_a_wider_one() -> None:
    cache = TileCache()
    cache.put(_tile(0, 0, 200))
    cache.put(_tile(0, 0, 100))
    assert cache.node((0, 150), 1500) == LEAVES[150]


def test_x02_a_tile_of_the_wrong_size_is_refused() -> None:
    for data in (b"", b"x" * 31, b"x" * (HASH * 257)):
        with pytest.raises(ValueError):
            Tile.build(0, 0, data)
    with pytest.raises(ValueError):
        tile_span((0, 1), 256)  # a tree of 256 leaves holds nothing of tile 0/1


def test_x02_tile_of_names_the_tile_holding_a_node() -> None:
    assert tile_of((0, 300)) == (0, 1)
    assert tile_of((7, 3)) == (0, 1)
    assert tile_of((8, 300)) == (1, 1)
    assert tile_of((9, 0)) == (1, 0)


def test_x02_the_cache_stays_within_its_bound_least_recently_used_out() -> None:
    one = _tile(0, 0, 1500).nbytes()
    cache = TileCache(max_bytes=3 * one)
    for index in range(5):
        cache.put(_tile(0, index, 1500))
        cache.node((0, 0), 1500)  # tile 0 stays the most recently used
    stats = cache.stats()
    assert stats.tiles == 3 and stats.bytes <= 3 * one and stats.evictions == 2
    assert cache.node((0, 0), 1500) == LEAVES[0]
    assert cache.node((0, 256), 1500) is None  # tile 1 was the least recently used
    assert cache.node((0, 1024), 1500) == LEAVES[1024]


def test_x02_the_bound_is_the_memory_the_cache_really_takes() -> None:
    """``nbytes`` counts what the tiles occupy: the memory the process holds for them (traced)
    is within 10% of it, so ``max_bytes`` bounds the cache's real size."""
    leaves = b"".join(leaf_hash(i.to_bytes(4, "big")) for i in range(256))
    cache = TileCache(max_bytes=8 << 20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(1000):  # more than the bound holds
            cache.put(Tile.build(0, index, bytes(bytearray(leaves))))  # a fresh copy, as a read gives
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = cache.stats()
    assert stats.bytes <= stats.max_bytes
    assert stats.evictions == 1000 - stats.tiles
    assert 0.9 * stats.bytes <= held <= 1.1 * stats.bytes


def test_x02_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = TileCache(max_bytes=0)
    cache.put(_tile(0, 0, 1500))
    assert not cache.enabled and cache.stats().tiles == 0 and cache.node((0, 0), 1500) is None


def test_x02_the_newest_head_is_kept_for_its_lifetime_and_forgotten_when_the_journal_grows() -> None:
    now = [100.0]
    cache = TileCache(head_ttl=1.0, clock=lambda: now[0])
    head = TreeHead(5, "aa" * 32, 1, "sig")
    assert cache.head() is None
    cache.put_head(head, cache.now())
    now[0] += 0.5
    assert cache.head() == head
    now[0] += 0.6
    assert cache.head() is None  # older than its lifetime
    cache.put_head(head, cache.now())
    read_before_the_write = cache.now()
    now[0] += 0.1
    cache.forget_head()  # this process appended: the kept head is not the newest any more
    assert cache.head() is None
    cache.put_head(head, read_before_the_write)  # a reader that read before the write
    assert cache.head() is None
    newer = TreeHead(6, "bb" * 32, 2, "sig")
    cache.put_head(newer, cache.now())
    cache.put_head(head, read_before_the_write)  # an older read never replaces a newer one
    assert cache.head() == newer
    assert TileCache(head_ttl=0).head() is None


def test_x02_one_thread_reads_the_expired_head_the_others_keep_the_old_one_meanwhile() -> None:
    now = [100.0]
    cache = TileCache(head_ttl=1.0, clock=lambda: now[0])
    head, newer = TreeHead(5, "aa" * 32, 1, "sig"), TreeHead(6, "bb" * 32, 2, "sig")
    cache.put_head(head, cache.now())
    now[0] += 1.2
    assert cache.head() is None  # the first caller past the lifetime reads the newest head
    read_at = cache.now()
    assert cache.head() == head and cache.head() == head  # the others meanwhile: no read each
    cache.put_head(newer, read_at)
    assert cache.head() == newer
    now[0] += 1.2
    assert cache.head() is None
    now[0] += 1.0  # that reader never came back (its read failed): another one reads
    assert cache.head() is None
    assert cache.head() == newer  # and the rest wait for it, at most a lifetime
    cache.forget_head()
    assert cache.head() is None  # this process appended: no stale head, ever


# Entry bundles (EntryCache) -------------------------------------------------------------------


def _bundle(index: int, size: int = 300) -> Bundle:
    """A full bundle of ``size``-byte entries, each naming its position."""
    return Bundle.build(index, [f"{index * 256 + i:08d}".encode().ljust(size, b".") for i in range(256)])


def test_x02_a_bundle_serves_each_entry_it_was_built_from() -> None:
    bodies = [bytes([i]) * (i % 7 + 1) for i in range(256)]
    bundle = Bundle.build(3, bodies)
    assert [bundle.body(3 * 256 + i) for i in range(256)] == bodies
    with pytest.raises(ValueError, match="256 entries"):
        Bundle.build(0, bodies[:255])  # only full bundles are immutable, so only they are kept


def test_x02_the_entry_cache_never_answers_for_an_entry_the_tree_does_not_hold() -> None:
    cache = EntryCache()
    cache.put(_bundle(1))
    assert cache.body(300, 512) == _bundle(1).body(300)
    assert cache.body(300, 300) is None and cache.body(-1, 512) is None
    assert cache.body(5, 512) is None  # bundle 0 is not kept


def test_x02_the_entry_cache_drops_the_least_recently_used_bundle_past_its_bound() -> None:
    cost = _bundle(0).nbytes()
    cache = EntryCache(max_bytes=3 * cost)
    for index in range(3):
        cache.put(_bundle(index))
    assert cache.body(5, 10**6) is not None  # bundle 0 used last: bundle 1 is now the oldest
    cache.put(_bundle(3))
    stats = cache.stats()
    assert (stats.bundles, stats.evictions, stats.bytes) == (3, 1, 3 * cost)
    assert cache.body(256 + 5, 10**6) is None
    assert all(cache.body(index * 256, 10**6) is not None for index in (0, 2, 3))


def test_x02_the_entry_cache_bound_is_the_memory_it_really_takes() -> None:
    """As for tiles: the traced memory the kept bundles hold is within 10% of what the cache counts."""
    bodies = [bytes(bytearray(f"{i:04d}".encode().ljust(1200, b"x"))) for i in range(256)]
    cache = EntryCache(max_bytes=16 << 20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(100):  # more than the bound holds (about 310 KB a bundle)
            cache.put(Bundle.build(index, [bytes(bytearray(b)) for b in bodies]))  # fresh copies, as a read gives
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = cache.stats()
    assert stats.bytes <= stats.max_bytes and stats.evictions == 100 - stats.bundles > 0
    assert 0.9 * stats.bytes <= held <= 1.1 * stats.bytes


def test_x02_a_full_entry_cache_reads_a_bundle_only_when_it_was_missed_before() -> None:
    """A journal larger than the bound, read at random, would otherwise read 256 entries on every
    miss and evict a bundle each time (the doorkeeper of ``EntryCache``)."""
    cost = _bundle(0).nbytes()
    cache = EntryCache(max_bytes=2 * cost)
    assert cache.wants(0)  # room: any miss reads its bundle
    cache.put(_bundle(0))
    assert cache.wants(1)
    cache.put(_bundle(1))
    assert not cache.wants(7)  # full: a first miss reads the one entry
    assert not cache.wants(8)
    assert cache.wants(7)  # the second miss of bundle 7 reads it
    assert not cache.wants(7)  # and starts counting again
    assert not EntryCache(max_bytes=0).wants(0)


def test_x02_an_entry_cache_of_size_zero_keeps_nothing_and_clearing_the_tiles_clears_it() -> None:
    empty = EntryCache(max_bytes=0)
    empty.put(_bundle(0))
    assert not empty.enabled and empty.stats().bundles == 0 and empty.body(0, 256) is None
    tiles = TileCache()
    tiles.entries.put(_bundle(0))
    tiles.clear()  # a kept tile or bundle disagreed with the store
    assert tiles.entries.stats().bundles == 0

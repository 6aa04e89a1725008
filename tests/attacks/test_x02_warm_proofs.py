"""X2: a reader who bends the proof route's fast path gets no proof the journal does not sign.

``GET /api/journal/{seq}`` answers warm proofs from the cache on the event loop (decision 0031).
A reader may ask for an older tree (``?size=``), for an entry newer than the kept head, or past
the end; each answer must be the one ``audit.inclusion`` gives from the store alone, proven
against a signed head of at most the size asked for, never a cached answer for another tree.
"""

from __future__ import annotations

import asyncio

import pytest

from civicledger.api import reads
from civicledger.kernel import audit
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import NotFoundError
from civicledger.kernel.merkle import verify_inclusion
from civicledger.kernel.ports import Store
from civicledger.kernel.tilecache import TileCache
from civicledger.kernel.tiles import TILE_WIDTH
from tests.contract.test_x02_entry_cache import _reference
from tests.contract.test_x02_tiles import _fill


def _served(store: Store, seq: int, size: int | None = None) -> JSONObject:
    return asyncio.run(reads.served_inclusion(store, seq, size))


def _size(answer: JSONObject) -> int:
    head = answer["tree_head"]
    assert isinstance(head, dict)
    return int(str(head["size"]))


def _proves(answer: JSONObject) -> bool:
    head = answer["tree_head"]
    assert isinstance(head, dict)
    proof = [bytes.fromhex(str(p)) for p in answer["proof"]]  # type: ignore[union-attr]
    return verify_inclusion(
        bytes.fromhex(str(answer["leaf_hash"])),
        int(str(answer["seq"])),
        int(str(head["size"])),
        proof,
        bytes.fromhex(str(head["root"])),
    )


def test_x02_a_reader_asking_for_older_newer_or_missing_entries_gets_only_signed_proofs(any_store: Store) -> None:
    now = [0.0]
    any_store.tiles = TileCache(head_ttl=60.0, clock=lambda: now[0])
    _fill(any_store, 2 * TILE_WIDTH + 9)
    for seq in range(0, 2 * TILE_WIDTH, 37):  # warm: the cache, the tree above the tiles
        _served(any_store, seq)
        _served(any_store, seq)
    assert any_store.tiles.upper is not None
    with any_store.read() as uow:
        heads = [h.size for h in uow.journal.signed_heads(0, 10_000)]
    older = heads[len(heads) // 2]
    assert 5 < older < 2 * TILE_WIDTH + 9  # a head older than the one kept
    answer = _served(any_store, 5, older)  # an older tree: never the kept newer head's proof
    assert _size(answer) <= older and _proves(answer)
    assert answer == audit.inclusion(any_store, 5, older)

    _fill(any_store, TILE_WIDTH)  # another process writes: the kept head (60 s) does not cover it
    newest = 3 * TILE_WIDTH + 8
    answer = _served(any_store, newest)  # the newest entry: read with the newest head
    assert _size(answer) == newest + 1 and _proves(answer)
    assert answer == _reference(any_store, newest)
    with pytest.raises(NotFoundError):
        _served(any_store, newest + 1)
    for seq in (0, 100, TILE_WIDTH + 3):  # the kept head still serves the entries it covers, proven
        answer = _served(any_store, seq)
        assert _proves(answer)

"""Reading a served journal as any C2SP tlog-tiles client does: its checkpoint, hash tiles and entry
bundles over HTTP (X2). ``civic monitor`` follows a journal with it; to re-execute the entries it
also reads which tree heads the journal key signed (``GET /api/tree-heads``), since the draws of
IN6 take their seeds from them.

Only what a tree of a given size holds is asked for: full tiles (which never change) and the
partial tile at its right edge, of exactly the width that size implies. A server may stop serving a
partial tile once it is full; the specification lets a client then read the full tile and keep the
prefix, and this reader does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

from civicledger.kernel.errors import IntegrityError
from civicledger.kernel.incremental import LogEntry
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.merkle import fold_subtrees, perfect_subtrees, root_of
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, decode_bundle, split_hashes

Fetch = Callable[[str], bytes | None]
"""GET a path under the log's URL: its body, None when the server answers 404; OSError otherwise."""

MAX_TILE_BYTES = TILE_WIDTH * (2 + 0xFFFF)  # an entry bundle of 256 entries of the largest size


def http_fetch(base_url: str, timeout: float = 30.0) -> Fetch:
    base = base_url.rstrip("/")

    def fetch(path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{base}/{path}", timeout=timeout) as response:
                data: bytes = response.read(MAX_TILE_BYTES + 1)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise OSError(f"GET {base}/{path} answered {e.code}") from e
        if len(data) > MAX_TILE_BYTES:
            raise OSError(f"GET {base}/{path} answered more than a tile's {MAX_TILE_BYTES} bytes")
        return data

    return fetch


class TileReader:
    """The tree of ``size`` leaves of one log, read from its tiles (each tile fetched once)."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self.fetch = fetch
        self.size = size
        self.fetched = 0
        self._cache: dict[TileRef, bytes] = {}

    def checkpoint(self) -> bytes:
        data = self.fetch("checkpoint")
        if data is None:
            raise IntegrityError("the log serves no checkpoint yet", rule="X2")
        return data

    def economy_journal_key(self) -> str:
        """The journal key the server names (``GET /api/economy``): trusted on first use only."""
        data = self.fetch("api/economy")
        if data is None:
            raise IntegrityError("the server names no economy (GET /api/economy)", rule="X2")
        try:
            return str(json.loads(data)["journal_key"])
        except (ValueError, KeyError, TypeError) as e:
            raise IntegrityError(f"the server's GET /api/economy names no journal key: {e}", rule="X2") from e

    def ref(self, level: int | None, index: int) -> TileRef:
        """Tile ``index`` of ``level`` (None: entry bundles) as the tree of ``self.size`` holds it."""
        tree_level = 0 if level is None else level * TILE_HEIGHT
        width = min(TILE_WIDTH, (self.size >> tree_level) - index * TILE_WIDTH)
        if width <= 0:
            raise ValueError(f"a tree of {self.size} holds no tile {index} of level {level}")
        return TileRef(level, index, width)

    def tile(self, ref: TileRef) -> bytes:
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        data = self.fetch(ref.path())
        if data is None and not ref.full:  # the partial tile may have grown full since
            whole = self.fetch(TileRef(ref.level, ref.index).path())
            data = self._prefix(ref, whole) if whole is not None else None
        if data is None:
            raise IntegrityError(f"the log does not serve {ref.path()}, which its signed tree holds", rule="X2")
        self.fetched += 1
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[ref] = data
        return data

    @staticmethod
    def _prefix(ref: TileRef, whole: bytes) -> bytes:
        if ref.level is not None:
            return whole[: ref.width * 32]
        return b"".join(len(b).to_bytes(2, "big") + b for b in decode_bundle(whole)[: ref.width])

    def hashes(self, level: int, index: int) -> list[bytes]:
        ref = self.ref(level, index)
        hashes = split_hashes(self.tile(ref))
        if len(hashes) != ref.width:
            raise IntegrityError(f"{ref.path()} holds {len(hashes)} hashes, not {ref.width}", rule="X2")
        return hashes

    def node(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree (level, index), from the hash tile of level ``level // 8``."""
        tile_level, below = divmod(level, TILE_HEIGHT)
        start = index << below
        hashes = self.hashes(tile_level, start // TILE_WIDTH)
        at = start % TILE_WIDTH
        return root_of(hashes[at : at + (1 << below)])

    def root(self, size: int) -> bytes:
        """The log's root of its first ``size`` leaves (at most ``self.size``), from its tiles."""
        return fold_subtrees([self.node(level, index) for level, index in perfect_subtrees(0, size)])

    def signed_heads(self, start: int, stop: int) -> dict[int, TreeHead]:
        """The heads the journal key signed after entries [start, stop), by entry."""
        data = self.fetch(f"api/tree-heads?start={start}&limit={stop - start}")
        if data is None:
            raise IntegrityError("the server lists no signed tree heads (GET /api/tree-heads)", rule="X2")
        try:
            heads = [
                TreeHead(int(h["size"]), str(h["root"]), int(h["time"]), str(h["signature"]))
                for h in json.loads(data)["heads"]
            ]
        except (ValueError, KeyError, TypeError) as e:
            raise IntegrityError(f"the server's list of signed tree heads is malformed: {e}", rule="X2") from e
        return {h.size - 1: h for h in heads if start < h.size <= stop}

    def entries(self, start: int) -> Iterator[LogEntry]:
        """Entries ``start`` .. ``size - 1`` from their bundles, each with the leaf hash of the log's
        level-0 tile, so a changed entry is named where it is, not only by a root at the end, and
        the head the journal key signed after it, if any."""
        for index in range(start // TILE_WIDTH, (self.size + TILE_WIDTH - 1) // TILE_WIDTH):
            ref = self.ref(None, index)
            try:
                bodies = decode_bundle(self.tile(ref))
            except ValueError as e:
                raise IntegrityError(f"{ref.path()} is not an entry bundle: {e}", rule="X2") from e
            leaves = self.hashes(0, index)
            if len(bodies) != ref.width:
                raise IntegrityError(f"{ref.path()} holds {len(bodies)} entries, not {ref.width}", rule="X2")
            first = index * TILE_WIDTH
            heads = self.signed_heads(max(start, first), first + ref.width)
            for offset in range(max(start - first, 0), ref.width):
                seq = first + offset
                yield LogEntry(seq, bodies[offset], leaves[offset], heads.get(seq))

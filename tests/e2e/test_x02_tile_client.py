"""X2 over real HTTP: a client that knows only C2SP tlog-tiles follows the journal. It fetches
hash tiles and entry bundles, recomputes the root of the signed tree and checks a random entry's
inclusion, as any tile client (Sunlight's, Tessera's) would."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from civicledger.kernel.identity import AccountKind, OpenAccount
from civicledger.kernel.merkle import (
    fold_subtrees,
    inclusion_plan,
    leaf_hash,
    perfect_subtrees,
    root_of,
    verify_inclusion,
)
from civicledger.kernel.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, decode_bundle, split_hashes
from civicledger.mechanisms.circles import messages as cm
from tests.e2e.serving import SigningClient, demo_economy, live_server


class TileClient:
    """Reads a tree of ``size`` leaves from ``/tile/...`` only, caching each tile it fetched."""

    def __init__(self, http: httpx.Client, size: int) -> None:
        self.http, self.size = http, size
        self.cache: dict[str, bytes] = {}
        self.fetched: list[httpx.Response] = []

    def fetch(self, ref: TileRef) -> bytes:
        path = "/" + ref.path()
        if path not in self.cache:
            response = self.http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.headers["content-type"] == "application/octet-stream"
            self.fetched.append(response)
            self.cache[path] = response.content
        return self.cache[path]

    def ref(self, level: int | None, index: int) -> TileRef:
        tree_level = 0 if level is None else level * TILE_HEIGHT
        width = min(TILE_WIDTH, (self.size >> tree_level) - index * TILE_WIDTH)
        return TileRef(level, index, width)

    def node(self, level: int, index: int) -> bytes:
        """The hash of perfect subtree (level, index), from the tile of level level // 8."""
        tile_level, below = divmod(level, TILE_HEIGHT)
        start = index << below
        hashes = split_hashes(self.fetch(self.ref(tile_level, start // TILE_WIDTH)))
        at = start % TILE_WIDTH
        return root_of(hashes[at : at + (1 << below)])

    def root(self) -> bytes:
        return fold_subtrees([self.node(lv, i) for lv, i in perfect_subtrees(0, self.size)])

    def entry(self, seq: int) -> bytes:
        bundle = decode_bundle(self.fetch(self.ref(None, seq // TILE_WIDTH)))
        return bundle[seq % TILE_WIDTH]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        demo_economy(Path(tmp_path_factory.mktemp("tiles"))) as economy,
        live_server(economy.store, economy.key("journal")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        signing = SigningClient(client, economy)
        for n in range(45):  # past one full level-0 tile (the demo writes about 190 entries)
            key = economy.key(f"tile-reader-{n}")
            response = signing.run(OpenAccount(AccountKind.PERSON, key.public_hex, key.account[:8]), key)
            assert response.status_code == 200, response.text
            assert signing.run(cm.CreateCirclesAccount(key.account), key).status_code == 200
        yield client


def test_x02_a_tile_client_recomputes_the_signed_root_and_checks_an_entry(http: httpx.Client) -> None:
    head = http.get("/api/tree-heads/latest").json()
    size = head["size"]
    assert size > TILE_WIDTH, "the demo journal should fill a whole level-0 tile"
    client = TileClient(http, size)
    assert client.root().hex() == head["root"]

    seq = random.Random(size).randrange(size)
    leaf = leaf_hash(client.entry(seq))
    assert leaf == client.node(0, seq)
    proof = [fold_subtrees([client.node(lv, i) for lv, i in element]) for element in inclusion_plan(seq, size)]
    assert verify_inclusion(leaf, seq, size, proof, bytes.fromhex(head["root"]))
    served = http.get(f"/api/journal/{seq}").json()
    assert served["proof"] == [p.hex() for p in proof] and served["leaf_hash"] == leaf.hex()

    caching = {r.url.path: r.headers["cache-control"] for r in client.fetched}
    assert caching["/tile/0/000"] == "public, max-age=31536000, immutable"
    partial = [path for path in caching if ".p/" in path]
    assert partial and all("immutable" not in caching[p] for p in partial)


def test_x02_every_entry_of_a_bundle_hashes_to_its_tile(http: httpx.Client) -> None:
    bodies = decode_bundle(http.get("/tile/entries/000").content)
    hashes = split_hashes(http.get("/tile/0/000").content)
    assert len(bodies) == TILE_WIDTH and [leaf_hash(b) for b in bodies] == hashes
    assert http.get("/tile/0/000.p/3").content == b"".join(hashes[:3])


def test_x02_tiles_beyond_the_signed_tree_or_with_bad_paths_are_not_found(http: httpx.Client) -> None:
    size = http.get("/api/tree-heads/latest").json()["size"]
    beyond = TileRef(0, size // TILE_WIDTH + 1).path()
    for path in [
        beyond,
        "tile/0/1",
        "tile/0/x000/001x",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/64/000",
        "tile/a/000",
    ]:
        assert http.get("/" + path).status_code == 404, path

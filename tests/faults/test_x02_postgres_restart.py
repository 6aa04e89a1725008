"""PostgreSQL restarted under load (issue 18, part 2): while it is down the served economy answers
503 with Retry-After, never 500, and once it is back the server carries on by itself, with every
acknowledged command in the journal (X2).

The test restarts a private PostgreSQL cluster it starts itself (Debian's ``initdb`` and ``pg_ctl``
under /usr/lib/postgresql/*/bin, on a free port, in a temporary directory), never the shared server
the rest of the suite uses; it is skipped, saying so, where those binaries are absent."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from civicledger.adapters.clock import WallClock
from civicledger.adapters.sql.store import SqlStore
from civicledger.api.app import create_app
from civicledger.kernel.money import CurrencyId
from tests.e2e.serving import SigningClient, funded_pair, serve_app
from tests.faults.cluster import Cluster, private_cluster
from tests.faults.serving import send, transfer


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as started:
        yield started


@dataclass
class Seen:
    statuses: Counter[int] = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    unanswered: dict[str, bytes] = field(default_factory=dict)  # 503: committed or not, the client retries
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(url: str, client_of: SigningClient, now: int, stop: threading.Event, seen: Seen) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        client = SigningClient(http, client_of.economy)
        alice = client.economy.account("alice")
        while not stop.is_set():
            cid = uuid.uuid4().hex
            body = transfer(client, cid, now)
            responses = [send(client, body, now), http.get(f"/api/accounts/{alice}/balances")]
            with seen.lock:
                for i, response in enumerate(responses):
                    seen.statuses[response.status_code] += 1
                    if response.status_code == 503:
                        if not response.headers.get("retry-after"):
                            seen.bad.append(f"503 without Retry-After: {response.text}")
                    elif response.status_code != 200:
                        seen.bad.append(f"{response.status_code}: {response.text}")
                    elif i == 0:
                        seen.acked.add(cid)
                if responses[0].status_code == 503:
                    seen.unanswered[cid] = body
            if responses[0].status_code == 503:
                time.sleep(0.05)


def test_x02_postgres_restarted_under_load_gives_only_503s_and_the_server_recovers_by_itself(
    cluster: Cluster,
) -> None:
    store = SqlStore.open(cluster.url, pool_size=8)
    try:
        economy = funded_pair(store)
        app = create_app(store, WallClock(), economy.key("journal"), pages=False)
        seen = Seen()
        stop = threading.Event()
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            now = int(http.get("/api/economy").json()["now"])
            client = SigningClient(http, economy)
            workers = [threading.Thread(target=_client, args=(url, client, now, stop, seen)) for _ in range(6)]
            for w in workers:
                w.start()
            time.sleep(0.5)
            before = seen.statuses[200]
            cluster.pg_ctl("-m", "immediate", "stop")  # a crash of the server: no checkpoint, no goodbye
            time.sleep(1.0)
            during = Counter(seen.statuses)
            cluster.start()
            time.sleep(1.5)
            stop.set()
            for w in workers:
                w.join(timeout=60)
            assert not seen.bad, seen.bad[:5]
            assert before > 0 and during[503] > 0, seen.statuses
            # recovered by itself, with no restart of the server and no reconnect by hand: once a
            # write is answered (the first may still meet a connection the crash killed: a 503)
            for _ in range(20):
                cid = uuid.uuid4().hex
                body = transfer(client, cid, now)
                if (first := send(client, body, now)).status_code == 200:
                    seen.acked.add(cid)
                    break
                assert first.status_code == 503, first.text
                seen.unanswered[cid] = body
                time.sleep(0.25)
            statuses = [send(client, transfer(client, uuid.uuid4().hex, now), now).status_code for _ in range(5)]
            assert statuses == [200] * 5, statuses
            for cid, body in seen.unanswered.items():  # X5: the same id, answered once
                first, again = send(client, body, now), send(client, body, now)
                assert first.status_code == again.status_code == 200, first.text
                assert again.json()["replayed"] and again.json()["seq"] == first.json()["seq"]
                seen.acked.add(cid)
        with store.read() as uow:
            for cid in seen.acked:
                assert uow.journal.find_command(cid) is not None, f"acknowledged {cid} is lost"
            bob = uow.ledger.balance(economy.account("bob"), CurrencyId("xi"))
        assert bob == len(seen.acked) + 5  # and none twice
    finally:
        store.close()

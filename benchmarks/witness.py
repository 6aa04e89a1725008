"""How long a witness takes to cosign a journal's new checkpoint (IN12), over real HTTP.

A journal grows by ``--step`` entries at a time; after each step the server's checkpoint
publisher asks a witness (``civic witness``'s app, SQLite state, served by uvicorn on localhost)
to cosign the new checkpoint with a consistency proof from the size it last cosigned. The time is
that whole round: signing the checkpoint, building the proof, the request, the witness's checks,
its compare-and-swap write and cosignature, and the publisher's check of the cosignature.

    .venv/bin/python benchmarks/witness.py [--rounds 200] [--step 5]

Prints one JSON object: {"what": "witness cosign", "p50_ms": ..., "p99_ms": ..., "rounds": ..., "entries": ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.adapters.witness_state import WitnessState
from civicledger.api.checkpoints import CheckpointPublisher, WitnessConfig
from civicledger.api.witness import Witness, create_witness_app
from civicledger.kernel.checkpoint import note_key, witness_key
from civicledger.kernel.time import parse_instant


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--step", type=int, default=5, help="entries written between two checkpoints")
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args(argv)

    economy = ScriptedEconomy(MemoryStore(), start=parse_instant("2030-01-01T00:00:00Z"))
    log = note_key(economy.economy_id, economy.key("journal").public_key)
    with tempfile.TemporaryDirectory() as tmp:
        state = WitnessState(f"sqlite:///{Path(tmp) / 'witness.db'}")
        state.set_meta("name", "bench.witness")
        state.add_log(log.name, log.text())
        key = KeyPair.generate()
        witness = Witness(state, "bench.witness", key, lambda: int(time.time()))
        with serve(create_witness_app(witness), args.port) as url:
            config = WitnessConfig(url, witness_key("bench.witness", key.public_key))
            publisher = CheckpointPublisher(economy.store, economy.key("journal"), None, [config])
            times: list[float] = []
            for i in range(args.rounds):
                for j in range(args.step):
                    economy.open(f"a{i}-{j}")
                started = time.perf_counter()
                publisher.publish_once()
                times.append((time.perf_counter() - started) * 1000)
                if publisher.cosigned.get("bench.witness") is None:
                    print("the witness did not cosign", file=sys.stderr)
                    return 1
        state.close()
    times.sort()
    entries = publisher.cosigned["bench.witness"]
    print(
        json.dumps(
            {
                "what": "witness cosign",
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
                "rounds": args.rounds,
                "entries": entries,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

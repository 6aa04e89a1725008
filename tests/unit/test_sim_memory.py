"""Freed memory kept for the next step at national scale (``sim.memory``, decision 0034).

glibc's options last for the whole process, so each check runs in a process of its own: what it
measures is that process's own page faults and resident memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from civicledger.sim.memory import MMAP_CEILING, PERSON_BYTES, KeptHeap, _glibc, needed
from tests.unit.test_sim_same_rows import PINNED

ROOT = Path(__file__).parents[2]  # the checkout: ``tests`` is a package

glibc_only = pytest.mark.skipif(_glibc() is None, reason="glibc's malloc options: Linux with glibc only")


def child(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter and return the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True, timeout=300
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_only_arrays_past_glibcs_mmap_ceiling_need_the_kept_heap() -> None:
    at_ceiling = MMAP_CEILING // PERSON_BYTES  # 4,194,304 persons: an int64 array of exactly 32 MiB
    assert not needed(at_ceiling)
    assert needed(at_ceiling + 1)
    assert not KeptHeap.for_persons(1_000_000).active  # this process's options are left alone
    KeptHeap.for_persons(1_000_000).release()  # nothing to give back: no error


FAULTS = """
    import json, resource, sys
    import numpy as np
    from civicledger.sim.memory import KeptHeap

    heap = KeptHeap.for_persons({persons})

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(6):  # a step's temporaries: ten million numbers, made and dropped
            a = np.ones(10_000_000)
            del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults()  # the first time, the heap grows
    print(json.dumps({{"active": heap.active, "faults": faults()}}))
"""


@glibc_only
def test_a_national_runs_freed_arrays_are_reused_without_faulting_their_pages_again() -> None:
    national = child(FAULTS.format(persons=10_000_000))
    pilot = child(FAULTS.format(persons=1_000_000))
    assert national["active"] is True and pilot["active"] is False
    assert int(pilot["faults"]) >= 6 * 30  # glibc maps each 80 MB array anew: 40 huge pages or 20,000 small
    assert int(national["faults"]) < int(pilot["faults"]) // 10


RELEASE = """
    import json
    import numpy as np
    from civicledger.sim.memory import KeptHeap

    def resident_mb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmRSS:"))

    heap = KeptHeap.for_persons(10_000_000)
    a = np.ones(50_000_000)  # 400 MB
    del a
    kept = resident_mb()
    heap.release()
    print(json.dumps({{"kept": kept, "released": resident_mb()}}))
"""


@glibc_only
def test_the_end_of_a_run_gives_the_kept_memory_back() -> None:
    got = child(RELEASE.format())
    assert int(got["kept"]) - int(got["released"]) >= 300


@glibc_only
def test_a_run_on_the_kept_heap_keeps_its_rows() -> None:
    """The heap changes where memory comes from, never a number: the pinned digest, two threads."""
    got = child(
        f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        import civicledger.sim.memory as memory
        memory.needed = lambda persons: True  # a small run, on the national run's heap
        import tests.unit.test_sim_same_rows as same
        print(json.dumps({{"digest": same.digest(same.EVERYTHING, 1, 2)}}))
        """
    )
    assert got["digest"] == PINNED["everything"]

"""Seeded social networks as edge arrays (kept in the simulator's toolkit, ``civicledger.sim.rules``,
which the sectors share; the names stay importable from here)."""

from civicledger.sim.rules import GENERATORS, Generator, Network, build, canonical, heavy_tailed, random_graph

__all__ = ["GENERATORS", "Generator", "Network", "build", "canonical", "heavy_tailed", "random_graph"]

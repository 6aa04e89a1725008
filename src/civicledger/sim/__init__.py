"""Population-scale simulation of the economy's rules (NumPy), for research and policy design.

``parse_scenario`` checks a scenario mapping; ``Model`` / ``run`` run it once; ``sweep`` runs a
grid of parameter sets times seeds on local processes or Ray and streams Parquet files;
``report`` turns a results folder into an HTML page of plots. See docs/simulator.md.
"""

from civicledger.sim.model import Model, run
from civicledger.sim.scenario import Scenario, ScenarioError, grid, parse_scenario

__all__ = ["Model", "Scenario", "ScenarioError", "grid", "parse_scenario", "run"]

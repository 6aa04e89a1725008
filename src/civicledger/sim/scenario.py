"""Scenarios: a TOML file that says who lives in the simulated economy and what they do.

A scenario has the tables ``[scenario]`` (name, start, horizon, seeds), ``[population]``,
``[network]``, ``[behaviours]`` (a registered behaviour per role), ``[parameters]`` (the
behaviours' numbers), ``[policy]`` (exactly the economy's policy sections, checked by
``civicledger.kernel.policy.policy_from_mapping``) and ``[sweep]`` (lists of values for any of
the above, e.g. ``[sweep.policy.circles] growth = ["2%", "5%"]``).

``parse_scenario`` checks everything and raises one ``ScenarioError`` listing every problem with
its line, before anything runs. It takes the parsed mapping and a *locator* (key path -> line)
so that this package stays free of file handling; ``civic sim`` passes the policy file's locator.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import PolicyFileError
from civicledger.kernel.policy import Policy, policy_from_mapping, policy_to_mapping
from civicledger.kernel.time import DAY, WEEK, parse_instant
from civicledger.sim.behaviours import FRACTIONS, PARAMETERS, REGISTRY, ROLES, register_sector_behaviours
from civicledger.sim.rules import GENERATORS
from civicledger.sim.sector import Problem, sectors

DEFAULT_START = 1_893_456_000  # 2030-01-01T00:00:00Z

Locator = Callable[[tuple[str, ...]], int | None]


class ScenarioError(PolicyFileError):
    """A scenario with problems; ``problems`` lists each one with its line (nothing was run)."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        super().__init__(problems)
        lines = [f"line {line}: {text}" if line else text for line, text in problems]
        self.message = f"{len(problems)} problem(s) in the scenario: " + "; ".join(lines)
        self.args = (self.message,)


@dataclass(frozen=True, slots=True)
class Population:
    persons: int = 1_000
    companies: int = 20
    groups: int = 0
    group_share: float = 0.3
    age_min: int = 18
    age_max: int = 80
    sybils: int = 0  # fake accounts (Circles only: unverified, CI14)
    sybil_join_step: int = 0
    sybil_degree: float = 6.0  # trusts among the fake accounts, per fake account
    sybil_attack_edges: int = 0  # honest persons tricked into trusting one fake account each
    resources: int = 3
    finite_resources: int = 0  # CR6: how many of the ``resources`` (the last ones) are finite
    coops: int = 0  # CR13, CR14: cooperatives approved to make the good, compared side by side


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    generator: str = "heavy_tailed"
    mean_degree: float = 8.0
    exponent: float = 2.5
    locality: float = 0.6
    formation_weeks: float = 0.0  # mean weeks before an acquaintance becomes a trust; 0 = at once


@dataclass(frozen=True, slots=True)
class Regions:
    """A country's regions (``[regions]``): each its share of the persons, its acquaintances per
    person within it, its groups; ``cross_share`` of all ties join two regions; each step a
    person who has not moved yet moves with probability ``migration_rate`` (once a run)."""

    names: tuple[str, ...]
    shares: tuple[float, ...]
    mean_degree: tuple[float, ...]  # acquaintances per person within the region
    groups: tuple[int, ...]
    cross_share: float = 0.05
    migration_rate: float = 0.0

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "scenario"
    description: str = ""
    start: int = DEFAULT_START
    steps: int = 52
    step: int = WEEK
    record_every: int = 1
    seeds: tuple[int, ...] = (0,)
    population: Population = field(default_factory=Population)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    behaviours: dict[str, str] = field(default_factory=lambda: dict(ROLES))
    parameters: dict[str, float] = field(default_factory=lambda: dict(PARAMETERS))
    policy: Policy = field(default_factory=Policy)
    mapping: dict[str, object] = field(default_factory=dict)  # the file's mapping, without [sweep]
    sweep: tuple[tuple[tuple[str, ...], tuple[object, ...]], ...] = ()
    regions: Regions | None = None  # None: one country without regions (the network as before)


_SCENARIO_KEYS = {"name", "description", "start", "steps", "step", "record_every", "seeds"}
_TOP = {"scenario", "population", "network", "behaviours", "parameters", "policy", "sweep", "regions"}
_REGION_KEYS = {"names", "shares", "mean_degree", "groups", "cross_share", "migration_rate"}


def _per_region(value: object, count: int, path: tuple[str, ...], problems: list[Problem]) -> list[object]:
    """A list of one value per region, or one value for every region."""
    if isinstance(value, list):
        if len(value) != count:
            problems.append((path, f"must list one value per region ({count}), not {len(value)}"))
            return [value[0] if value else 0] * count
        return list(value)
    return [value] * count


def _regions(data: Mapping[str, object], network: NetworkSpec, problems: list[Problem]) -> Regions | None:
    """``[regions]``, checked; None without the table (the network is built as without regions)."""
    if "regions" not in data:
        return None
    table = _table(data, "regions", problems)
    _unknown(table, _REGION_KEYS, ("regions",), problems)
    names = table.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        problems.append((("regions", "names"), "must be a non-empty list of region names"))
        return None
    if len(set(names)) != len(names):
        problems.append((("regions", "names"), "must not repeat a name"))
    count = len(names)
    raw_shares = _per_region(table.get("shares", 1.0 / count), count, ("regions", "shares"), problems)
    shares = [_number(v, ("regions", "shares"), problems, 0.0, 1.0) for v in raw_shares]
    if abs(sum(shares) - 1.0) > 1e-9:
        problems.append((("regions", "shares"), f"must add up to 1, not {sum(shares):g}"))
    raw_degree = _per_region(table.get("mean_degree", network.mean_degree), count, ("regions", "mean_degree"), problems)
    degree = [_number(v, ("regions", "mean_degree"), problems, 0.0, 10_000.0) for v in raw_degree]
    raw_groups = _per_region(table.get("groups", 0), count, ("regions", "groups"), problems)
    groups = [_whole(v, ("regions", "groups"), problems, 0, 10_000_000) for v in raw_groups]
    cross = _number(table.get("cross_share", 0.05), ("regions", "cross_share"), problems, 0.0, 1.0)
    migration = _number(table.get("migration_rate", 0.0), ("regions", "migration_rate"), problems, 0.0, 1.0)
    return Regions(tuple(names), tuple(shares), tuple(degree), tuple(groups), cross, migration)


def _whole(value: object, path: tuple[str, ...], problems: list[Problem], low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((path, f"must be a whole number, not {value!r}"))
        return low
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        problems.append((path, f"must be {bound}, not {value}"))
        return low
    return value


def _number(value: object, path: tuple[str, ...], problems: list[Problem], low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append((path, f"must be a number, not {value!r}"))
        return low
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        problems.append((path, f"must be {bound}, not {value}"))
        return low
    return float(value)


def _table(data: Mapping[str, object], key: str, problems: list[Problem]) -> dict[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(((key,), "must be a table"))
        return {}
    return value


def _unknown(table: Mapping[str, object], known: set[str], path: tuple[str, ...], problems: list[Problem]) -> None:
    for key in table:
        if key not in known:
            problems.append(((*path, key), f"unknown key (known: {', '.join(sorted(known))})"))


def _check(data: Mapping[str, object]) -> tuple[Scenario, list[Problem]]:
    """Every problem of one mapping (no sweep applied)."""
    problems: list[Problem] = []
    _unknown(data, _TOP, (), problems)

    sc = _table(data, "scenario", problems)
    _unknown(sc, _SCENARIO_KEYS, ("scenario",), problems)
    name = sc.get("name", "scenario")
    if not isinstance(name, str) or not name.strip():
        problems.append((("scenario", "name"), "must be a non-empty string"))
        name = "scenario"
    description = sc.get("description", "")
    if not isinstance(description, str):
        problems.append((("scenario", "description"), "must be a string"))
        description = ""
    start = DEFAULT_START
    if "start" in sc:
        try:
            start = parse_instant(str(sc["start"]))
        except Exception as e:  # the domain's InvalidInputError, or a TOML date of an odd type
            problems.append((("scenario", "start"), f"must be an ISO 8601 date or time: {e}"))
    steps = _whole(sc.get("steps", 52), ("scenario", "steps"), problems, 1, 100_000)
    raw_step = sc.get("step", "week")
    step = WEEK
    if raw_step in ("week", "day"):
        step = WEEK if raw_step == "week" else DAY
    else:
        step = _whole(raw_step, ("scenario", "step"), problems, 1)
        if isinstance(raw_step, str):
            problems[-1] = (("scenario", "step"), f"must be 'week', 'day' or seconds, not {raw_step!r}")
    record_every = _whole(sc.get("record_every", 1), ("scenario", "record_every"), problems, 1)
    seeds_raw = sc.get("seeds", [0])
    seeds: tuple[int, ...] = (0,)
    if not isinstance(seeds_raw, list) or not seeds_raw:
        problems.append((("scenario", "seeds"), "must be a non-empty list of whole numbers"))
    else:
        seeds = tuple(_whole(s, ("scenario", "seeds"), problems, 0, 2**63 - 1) for s in seeds_raw)
        if len(set(seeds)) != len(seeds):
            problems.append((("scenario", "seeds"), "must not repeat a seed"))

    pop_t = _table(data, "population", problems)
    pop_fields = Population.__dataclass_fields__
    _unknown(pop_t, set(pop_fields), ("population",), problems)
    pop_values: dict[str, Any] = {}
    for key, value in pop_t.items():
        if key not in pop_fields:
            continue
        path = ("population", key)
        if key in ("group_share",):
            pop_values[key] = _number(value, path, problems, 0.0, 1.0)
        elif key == "sybil_degree":
            pop_values[key] = _number(value, path, problems, 0.0, 1_000.0)
        else:
            pop_values[key] = _whole(value, path, problems, 0, 100_000_000)
    population = Population(**pop_values)
    if population.persons < 2:
        problems.append((("population", "persons"), "a population needs at least 2 persons"))
    if population.age_min > population.age_max:
        problems.append((("population", "age_min"), "must not exceed age_max"))
    if population.sybil_join_step >= steps:
        problems.append((("population", "sybil_join_step"), f"must fall within the {steps} steps"))
    if population.sybil_attack_edges > population.persons:
        problems.append((("population", "sybil_attack_edges"), "cannot exceed the number of persons"))
    if population.finite_resources > population.resources:
        problems.append((("population", "finite_resources"), "cannot exceed the number of resources"))
    if population.coops > 100:
        problems.append((("population", "coops"), "at most 100 coops make the good"))
    if population.sybil_attack_edges and not population.sybils:
        problems.append((("population", "sybil_attack_edges"), "needs sybils > 0"))

    net_t = _table(data, "network", problems)
    net_fields = NetworkSpec.__dataclass_fields__
    _unknown(net_t, set(net_fields), ("network",), problems)
    net_values: dict[str, Any] = {}
    for key, value in net_t.items():
        if key not in net_fields:
            continue
        path = ("network", key)
        if key == "generator":
            if value not in GENERATORS:
                problems.append((path, f"no network generator {value!r} (known: {', '.join(sorted(GENERATORS))})"))
            else:
                net_values[key] = value
        elif key == "locality":
            net_values[key] = _number(value, path, problems, 0.0, 1.0)
        elif key == "exponent":
            net_values[key] = _number(value, path, problems, 1.1, 10.0)
        else:
            net_values[key] = _number(value, path, problems, 0.0, 10_000.0)
    network = NetworkSpec(**net_values)

    regions = _regions(data, network, problems)
    if regions is not None and population.groups:
        problems.append((("population", "groups"), "with [regions], groups are counted per region ([regions] groups)"))

    register_sector_behaviours()  # the sectors' own behaviours (``Sector.behaviours``)
    beh_t = _table(data, "behaviours", problems)
    behaviours = dict(ROLES)
    for role, chosen in beh_t.items():
        if role not in ROLES:
            problems.append((("behaviours", role), f"unknown behaviour role (roles: {', '.join(ROLES)})"))
        elif not isinstance(chosen, str) or chosen not in REGISTRY[role]:
            known = ", ".join(sorted(REGISTRY[role]))
            problems.append((("behaviours", role), f"no {role} behaviour {chosen!r} is registered (known: {known})"))
        else:
            behaviours[role] = chosen

    par_t = _table(data, "parameters", problems)
    parameters = dict(PARAMETERS)
    for key, value in par_t.items():
        if key not in PARAMETERS:
            problems.append((("parameters", key), f"unknown parameter (known: {', '.join(sorted(PARAMETERS))})"))
            continue
        high = 1.0 if key in FRACTIONS else None
        parameters[key] = _number(value, ("parameters", key), problems, 0.0, high)

    pol_t = _table(data, "policy", problems)
    policy, policy_problems = policy_from_mapping(pol_t)
    problems.extend((("policy", *path), message) for path, message in policy_problems)
    if not policy_problems:
        problems.extend(_unmodelled(policy))
        problems.extend(p for _, sector in sectors() for p in sector.check_parameters(policy, parameters))

    mapping = {k: copy.deepcopy(v) for k, v in data.items() if k != "sweep"}
    scenario = Scenario(
        name,
        description,
        start,
        steps,
        step,
        record_every,
        seeds,
        population,
        network,
        behaviours,
        parameters,
        policy,
        mapping,
        regions=regions,
    )
    return scenario, problems


def _unmodelled(policy: Policy) -> list[Problem]:
    """Policy options the simulator does not model yet (each sector's ``unmodelled``): refused
    rather than silently ignored."""
    return [problem for _, sector in sectors() for problem in sector.unmodelled(policy)]


def _sweep_axes(data: Mapping[str, object], problems: list[Problem]) -> list[tuple[tuple[str, ...], list[object]]]:
    sweep = data.get("sweep", {})
    if not isinstance(sweep, dict):
        problems.append((("sweep",), "must be a table"))
        return []
    axes: list[tuple[tuple[str, ...], list[object]]] = []

    def walk(node: Mapping[str, object], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, key)
            if isinstance(value, dict):
                walk(value, here)
            elif isinstance(value, list) and value:
                axes.append((here, value))
            else:
                problems.append((("sweep", *here), "must be a non-empty list of values to sweep"))

    walk(sweep, ())
    for path, _ in axes:
        if path[0] not in _TOP - {"sweep"}:
            problems.append((("sweep", *path), f"sweeps a key outside the scenario's tables ({path[0]!r})"))
        if path == ("scenario", "seeds"):
            problems.append((("sweep", *path), "seeds are listed in [scenario] seeds, not swept"))
    return axes


def _set(mapping: dict[str, object], path: tuple[str, ...], value: object) -> None:
    node = mapping
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return
        node = child
    node[path[-1]] = value


def parse_scenario(data: Mapping[str, object], locate: Locator | None = None) -> Scenario:
    """Check a scenario (and every point of its sweep); raise ``ScenarioError`` listing all problems."""
    problems: list[Problem] = []
    scenario, base_problems = _check(data)
    problems.extend(base_problems)
    axes = _sweep_axes(data, problems)
    if not problems:
        for path, values in axes:
            for value in values:
                trial = copy.deepcopy(scenario.mapping)
                _set(trial, path, value)
                _, point = _check(trial)
                problems.extend((("sweep", *path), f"value {value!r}: {message}") for _, message in point)
    if not problems and len(axes) > 1 and math.prod(len(v) for _, v in axes) <= 10_000:
        # Values fine alone may clash together (sybil_attack_edges with sybils = 0).
        for combo in itertools.product(*(v for _, v in axes)):
            trial = copy.deepcopy(scenario.mapping)
            for (path, _), value in zip(axes, combo, strict=True):
                _set(trial, path, value)
            _, point = _check(trial)
            if point:
                label = ", ".join(f"{'.'.join(p)}={v!r}" for (p, _), v in zip(axes, combo, strict=True))
                problems.extend((("sweep",), f"the combination {label}: {message}") for _, message in point)
    if problems:
        where = locate or (lambda _path: None)
        seen: set[tuple[int | None, str]] = set()
        listed: list[tuple[int | None, str]] = []
        for path, message in problems:
            item = (where(path), f"{'.'.join(path) or '(top)'}: {message}")
            if item not in seen:
                seen.add(item)
                listed.append(item)
        raise ScenarioError(listed)
    return Scenario(
        scenario.name,
        scenario.description,
        scenario.start,
        scenario.steps,
        scenario.step,
        scenario.record_every,
        scenario.seeds,
        scenario.population,
        scenario.network,
        scenario.behaviours,
        scenario.parameters,
        scenario.policy,
        scenario.mapping,
        tuple((p, tuple(v)) for p, v in axes),
        scenario.regions,
    )


@dataclass(frozen=True, slots=True)
class ParameterSet:
    """One point of a sweep's grid: its index, the values set, and the scenario they give."""

    index: int
    values: tuple[tuple[str, object], ...]
    scenario: Scenario

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values) or "base"


def grid(scenario: Scenario) -> list[ParameterSet]:
    """Every combination of the sweep's values (the base scenario alone without a sweep)."""
    if not scenario.sweep:
        return [ParameterSet(0, (), scenario)]
    paths = [p for p, _ in scenario.sweep]
    out = []
    for i, combo in enumerate(itertools.product(*(v for _, v in scenario.sweep))):
        trial = copy.deepcopy(scenario.mapping)
        for path, value in zip(paths, combo, strict=True):
            _set(trial, path, value)
        point, problems = _check(trial)
        if problems:  # only for grids too large for parse_scenario to check every combination
            raise ScenarioError([(None, f"sweep point {i}: {'.'.join(p)}: {m}") for p, m in problems])
        values = tuple((".".join(p), v) for p, v in zip(paths, combo, strict=True))
        out.append(ParameterSet(i, values, point))
    return out


def policy_mapping(scenario: Scenario) -> JSONObject:
    """The scenario's policy as the mapping an economy's genesis takes (for agreement runs)."""
    mapping = policy_to_mapping(scenario.policy)
    assert isinstance(mapping, dict)
    return mapping

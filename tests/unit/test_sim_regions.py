"""A country's regions in the simulator: [regions], the regional network, migration, the
per-region columns, and the default (no [regions]) left exactly as it was."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from civicledger.sim.model import Model, run
from civicledger.sim.rules import heavy_tailed, regional, rewire
from civicledger.sim.scenario import ScenarioError, parse_scenario
from civicledger.sim.sector import Places

BASE: dict[str, object] = {
    "scenario": {"name": "country", "steps": 8, "seeds": [3]},
    "population": {"persons": 600, "companies": 4, "group_share": 0.3},
    "network": {"mean_degree": 6.0, "formation_weeks": 4.0},
    "behaviours": {"participation": "farmers_among_others"},
    "parameters": {"participation_rate": 0.1, "farmer_share": 0.05},
}
FOUR = {
    "names": ["Capital", "North", "Coast", "Hills"],
    "shares": [0.4, 0.25, 0.2, 0.15],
    "mean_degree": [10.0, 8.0, 6.0, 4.0],
    "groups": [4, 3, 2, 1],
    "cross_share": 0.1,
    "migration_rate": 0.05,
}
REGIONAL = ("region_", "mean_grade", "migrations")


def scenario(**tables: object) -> dict[str, object]:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(tables))
    return data


def test_without_regions_no_column_is_added_and_one_region_changes_no_number() -> None:
    """One region holding everyone, the network's density, no ties across and no moves gives the
    rows of the same scenario without [regions] (the default draws nothing more), plus its columns."""
    plain = scenario(population={**BASE["population"], "groups": 3})  # type: ignore[dict-item]
    rows = run(parse_scenario(plain))
    assert not any(k.startswith(REGIONAL) for k in rows[-1])
    one = scenario(regions={"names": ["All"], "shares": [1.0], "mean_degree": 6.0, "groups": [3], "cross_share": 0.0})
    regional_rows = run(parse_scenario(one))
    assert regional_rows[-1]["region_all_persons"] == 600 and regional_rows[-1]["migrations"] == 0
    assert regional_rows[-1]["region_all_mean_grade"] == regional_rows[-1]["mean_grade"] > 0
    stripped = [{k: v for k, v in row.items() if not k.startswith(REGIONAL)} for row in regional_rows]
    assert stripped == rows


def test_regions_hold_their_shares_exactly_and_the_farmers_live_in_every_region() -> None:
    model = Model(parse_scenario(scenario(regions=FOUR)))
    home = model.places.home
    assert np.bincount(home, minlength=4).tolist() == [240, 150, 120, 90]
    farmers = home[: int(600 * 0.05)]
    assert len(set(farmers.tolist())) >= 3  # the first persons (IN2 farmers) are spread, not one region
    groups = model.sectors["circles"].group  # type: ignore[attr-defined]
    members = groups >= 0
    assert set(np.unique(groups[members]).tolist()) == set(range(10))
    for r, first, count in ((0, 0, 4), (1, 4, 3), (2, 7, 2), (3, 9, 1)):  # a region's groups hold its people
        mine = members & (home == r)
        assert mine.any() and set(np.unique(groups[mine]).tolist()) <= set(range(first, first + count))


def test_the_regional_network_has_each_regions_density_and_its_share_of_ties_across() -> None:
    rng = np.random.default_rng(7)
    shares = [0.5, 0.3, 0.2]
    home = rng.permutation(np.repeat(np.arange(3), [10_000, 6_000, 4_000])).astype(np.int64)
    u, v = regional(rng, home, heavy_tailed, (12.0, 6.0, 3.0), 2.5, 0.6, 0.2)
    across = home[u] != home[v]
    assert abs(across.mean() - 0.2) < 0.02
    for r, degree in enumerate((12.0, 6.0, 3.0)):
        inside = (~across) & (home[u] == r)
        per_person = 2 * inside.sum() / (20_000 * shares[r])
        assert degree * 0.85 < per_person <= degree  # de-duplication loses a few
    assert (u < v).all()


def test_ties_formed_after_a_move_are_in_the_new_region() -> None:
    rng = np.random.default_rng(1)
    n = 2_000
    home = (np.arange(n) % 2).astype(np.int64)
    moved_at = np.where(np.arange(n) < 300, 2, 100).astype(np.int64)
    dest = np.where(np.arange(n) < 300, 1 - home, home)
    u, v = (x.astype(np.int64) for x in regional(rng, home, heavy_tailed, (6.0, 6.0), 2.5, 0.6, 0.0))
    when = rng.integers(0, 6, size=u.size).astype(np.int64)
    ru, rv, rw = rewire(rng, moved_at, dest, u, v, when)
    late_u, late_v = moved_at[ru] <= rw, moved_at[rv] <= rw
    assert late_u.any() and late_v.any()
    assert (dest[rv[late_u & ~late_v]] == dest[ru[late_u & ~late_v]]).all()
    assert (dest[ru[late_v & ~late_u]] == dest[rv[late_v & ~late_u]]).all()
    early = (moved_at[ru] > rw) & (moved_at[rv] > rw)
    assert early.sum() == ((moved_at[u] > when) & (moved_at[v] > when)).sum()  # ties before a move stay
    assert (ru < rv).all() and np.unique(ru * n + rv).size == ru.size


def test_migration_moves_persons_between_regions_step_by_step() -> None:
    rows = run(parse_scenario(scenario(regions=FOUR)))
    moved = [row["migrations"] for row in rows]
    assert moved[0] == 0 and moved == sorted(moved) and moved[-1] > 100
    first, last = rows[0], rows[-1]
    names = ("capital", "north", "coast", "hills")
    assert sum(last[f"region_{n}_persons"] for n in names) == 600
    assert [last[f"region_{n}_persons"] for n in names] != [first[f"region_{n}_persons"] for n in names]


def test_places_at_a_step_follow_the_moves() -> None:
    places = Places(
        ("a", "b"), np.array([0, 0, 1, -1]), np.array([1, 0, 0, -1]), np.array([2, 9, 1, 9], dtype=np.int64)
    )
    assert places.at(0).tolist() == [0, 0, 1, -1] and places.at(2).tolist() == [1, 0, 0, -1]
    row = places.record(2)
    assert row == {"region_a_persons": 2, "region_b_persons": 1, "migrations": 2}
    means = places.means("mean_grade", np.array([2, 4, 5, 9]), np.array([True, True, False, True]), 0)
    assert means == {"mean_grade": 3.0, "region_a_mean_grade": 3.0, "region_b_mean_grade": 0.0}


@pytest.mark.parametrize(
    ("regions", "population", "words"),
    [
        ({"names": ["a", "b"], "shares": [0.5, 0.4]}, {}, "must add up to 1"),
        ({"names": ["a", "b"], "mean_degree": [1.0, 2.0, 3.0]}, {}, "one value per region"),
        ({"names": ["a", "a"]}, {}, "must not repeat"),
        ({"names": []}, {}, "non-empty list of region names"),
        ({"names": ["a"], "migration_rate": 2.0}, {}, "migration_rate"),
        ({"names": ["a"], "colour": "red"}, {}, "unknown key"),
        ({"names": ["a"]}, {"groups": 3}, "groups are counted per region"),
    ],
)
def test_a_bad_regions_table_is_refused_with_its_reason(
    regions: dict[str, object], population: dict[str, object], words: str
) -> None:
    data = scenario(regions=regions)
    data["population"] = {**BASE["population"], **population}  # type: ignore[dict-item]
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(data)


def test_a_behaviours_table_leaves_the_scenario_its_name() -> None:
    assert parse_scenario(scenario()).name == "country"


def test_an_empty_region_has_no_ties_and_no_one_moves_there() -> None:
    empty = {**FOUR, "shares": [0.5, 0.5, 0.0, 0.0]}
    data = scenario(regions=empty, network={"generator": "random", "mean_degree": 4.0, "formation_weeks": 4.0})
    row = run(parse_scenario(data))[-1]
    assert row["region_coast_persons"] == row["region_hills_persons"] == 0
    assert row["region_capital_persons"] + row["region_north_persons"] == 600
    assert row["migrations"] > 0 and row["trusts"] > 0

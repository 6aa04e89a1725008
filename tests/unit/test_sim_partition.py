"""A run split over processes (``civicledger.sim.partition``) gives the single process's rows, and
the keyed draws (``civicledger.sim.draws``) it rests on give a person the same numbers in any process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from civicledger.sim import Model, parse_scenario
from civicledger.sim.draws import BLOCK, KeyedDraws
from civicledger.sim.partition import PartitionedRun, Unpartitioned, bounds, refusals, run
from civicledger.sim.scenario import ParameterSet, Scenario
from civicledger.sim.sweep import table_of

# Every mechanism on, with its default behaviours: issuance, trust, payments, routes through a
# friend and group money (CI2-CI11), participation, infractions, appeals, spending and the civic
# lottery with nominations by co-signers and by a council (SC2-SC10), votes, sales and challenges
# (GR1-GR7), resources and a coop (CR2-CR14).
EVERY: dict[str, Any] = {
    "scenario": {"name": "split", "steps": 40, "record_every": 6, "seeds": [3]},
    "population": {"persons": 3_000, "companies": 20, "groups": 4, "resources": 3, "coops": 2},
    "network": {"generator": "heavy_tailed", "mean_degree": 6.0, "formation_weeks": 8.0},
    "parameters": {
        "publish_every": 2.0,
        "infraction_rate": 0.01,
        "spend_rate": 0.05,
        "challenge_rate": 0.05,
        "pledge_rate": 0.01,
        "second_chance_rate": 0.01,
        "nomination_rate": 0.002,
        "council_nomination_rate": 0.001,
    },
}


def every(**changes: Any) -> Scenario:
    data = {key: dict(value) for key, value in EVERY.items()}
    for key, value in changes.items():
        data.setdefault(key, {}).update(value)
    return parse_scenario(data)


# Keyed draws ---------------------------------------------------------------------------------------


def test_a_range_of_persons_draws_what_the_whole_population_draws_for_them() -> None:
    draws = KeyedDraws.of(seed=5)
    n = 2 * BLOCK + 123
    whole = draws.uniform(4, "payments", 0, n, 2)
    part = draws.uniform(4, "payments", BLOCK - 7, BLOCK + 50, 2)  # across a block's edge
    assert np.array_equal(whole[BLOCK - 7 : 2 * BLOCK + 43], part)
    assert not np.array_equal(whole, draws.uniform(5, "payments", 0, n, 2))  # another step, other numbers
    picked, extra = draws.sample(4, "votes", 0, n, 0.01, 2)
    some, some_extra = draws.sample(4, "votes", 1_000, BLOCK, 0.01, 2)
    inside = (picked >= 1_000) & (picked < 1_000 + BLOCK)
    assert picked.size > 1_000 and np.array_equal(picked[inside] - 1_000, some)
    assert np.array_equal(extra[inside], some_extra)
    persons = np.array([3, 70_000, 9], np.int64)
    assert np.array_equal(draws.at(4, "appeals", persons)[[2]], draws.at(4, "appeals", persons[[2]]))


def test_a_run_depends_on_its_seed_only() -> None:
    sc = every()
    assert Model(sc, seed=3).run() == Model(sc, seed=3).run()
    assert Model(sc, seed=3).run() != Model(sc, seed=4).run()


# Partitioned runs ----------------------------------------------------------------------------------


def test_partitions_are_contiguous_ranges_of_whole_blocks_when_there_are_enough() -> None:
    assert bounds(10, 3) == [0, 3, 6, 10]
    assert bounds(3 * BLOCK + 5, 2) == [0, 2 * BLOCK, 3 * BLOCK + 5]
    with pytest.raises(ValueError):
        bounds(10, 0)


@pytest.mark.parametrize("partitions", [1, 3])
def test_a_partitioned_run_gives_the_single_process_rows(partitions: int) -> None:
    sc = every()
    single = Model(sc, seed=3).run()
    split = run(sc, seed=3, partitions=partitions)
    assert split == single
    last = single[-1]
    # the run did something of every mechanism (else equal rows would prove little)
    assert last["trusts"] > 0 and last["votes_cast"] > 0 and last["spends"] > 0 and last["appeals_penalties"] > 0
    assert last["supply_honest"] > 0 and last["fund_received"] > 0 and last["coops_approved"] > 0
    assert last["routed_two_hop"] > 0 and last["supply_group"] > 0  # CI9, CI11
    assert last["lottery_winners"] > 0 and last["pledges_open"] > 0 and last["lottery_draws"] > 1  # SC9
    assert last["nominations"] > 0 and last["council_nominations"] > 0
    assert list(split[-1]) == list(last)  # the columns in the same order
    assert [type(v) for v in split[-1].values()] == [type(v) for v in last.values()]


def test_ci09_a_route_whose_intermediary_is_in_another_partition_is_paid_as_in_one_process() -> None:
    """Routes through a friend (CI9) cross partitions: asked of the intermediary's partition, and
    decided at the coordinator (one route per intermediary, none for a payer, enough coins)."""
    sc = every(parameters={"route_share": 0.2})
    single = Model(sc, seed=5).run()
    assert run(sc, seed=5, partitions=4) == single
    assert single[-1]["routed_two_hop"] > 1_000 and single[-1]["routed_two_hop_step"] > 0


@pytest.mark.parametrize("reserve_start", [60 * 86_400, 25])
def test_ci05_ci07_directed_trust_over_partitions_gives_the_single_process_rows(reserve_start: int) -> None:
    """Directed trust (CI5): payments and routes only to those who accept the payer's currency; the
    first truster alone rewarded (CI7), a trust back only when the first reward was nothing,
    settled in rounds over every partition's trustees (a reserve of 25 seconds of income is spent
    after two trusts; 60 days' by the persons with the most acquaintances)."""
    sc = every(
        policy={"circles": {"trust_mode": "directed", "reserve_start": reserve_start}},
        parameters={"trust_back_share": 0.5, "route_share": 0.2},
    )
    model = Model(sc, seed=3, trace=True)
    single = model.run()
    assert run(sc, seed=3, partitions=3) == single
    trusts = [a for a in model.trace.actions if a[0] == "trust_directed"]  # type: ignore[union-attr]
    assert any(a[4] for a in trusts) and not all(a[4] for a in trusts)  # some both ways, some one way
    assert any(a[6] > 0 for a in trusts)  # a trust back rewarded: the rounds settled something
    assert single[-1]["routed_two_hop"] > 0


@pytest.mark.parametrize("behaviour", ["farmers", "farmers_among_others"])
def test_in02_farmers_across_partitions_give_the_single_process_rows(behaviour: str) -> None:
    """IN2: the first ``farmer_share`` of all the run's persons farm (here across the first two of
    three partitions), and the farmers' and the others' shares at the top grade come from the
    partitions' exact sums, in ``record``'s place in the row."""
    sc = every(behaviours={"participation": behaviour}, parameters={"farmer_share": 0.45})
    single = Model(sc, seed=3).run()
    split = run(sc, seed=3, partitions=3)
    assert split == single and list(split[-1]) == list(single[-1])
    assert single[-1]["farmer_top_share"] > 0.9 > single[-1]["others_top_share"]


REGIONS: dict[str, Any] = {
    "names": ["Capital", "North", "Coast"],
    "shares": [0.5, 0.3, 0.2],
    "mean_degree": [8.0, 6.0, 4.0],
    "groups": [0, 0, 0],
    "cross_share": 0.1,
    "migration_rate": 0.01,
}


def with_regions() -> Scenario:
    data = {key: dict(value) for key, value in EVERY.items()}
    data["population"]["groups"] = 0  # the regions' groups instead
    data["regions"] = {**REGIONS, "groups": [2, 1, 1]}
    return parse_scenario(data)


def test_a_partitioned_country_gives_the_single_process_rows() -> None:
    """Regions drawn at the coordinator (their network, migration and the rewiring of movers'
    ties, groups by region), each partition's persons' places, the regions' columns and mean
    grades (exact sums)."""
    sc = with_regions()
    single = Model(sc, seed=3).run()
    assert run(sc, seed=3, partitions=3) == single
    last = single[-1]
    assert last["migrations"] > 0 and last["region_capital_persons"] > 0
    assert last["region_coast_mean_grade"] > 0 and last["mean_grade"] > 0
    assert last["supply_group"] > 0  # CI11: the regions' groups


def test_two_ray_workers_write_the_single_process_parquet_rows(tmp_path: Path) -> None:
    """Issue 17: on one machine with 2 Ray workers, a partitioned run's Parquet rows are the
    single-process run's for the same seed, every mechanism on; with regions; with directed trust."""
    ray = pytest.importorskip("ray")
    sc = every()
    point = ParameterSet(0, (), sc)
    pq.write_table(table_of(point, 3, Model(sc, seed=3).run()), tmp_path / "single.parquet")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = PartitionedRun(sc, seed=3, partitions=2, engine="ray").run()
    finally:
        ray.shutdown()
    pq.write_table(table_of(point, 3, rows), tmp_path / "split.parquet")
    single, split = pq.read_table(tmp_path / "single.parquet"), pq.read_table(tmp_path / "split.parquet")
    assert split.num_rows == single.num_rows == 8  # steps 0, 6 ... 36 and the last, 39
    assert split.schema == single.schema
    assert split.equals(single)
    country = with_regions()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = PartitionedRun(country, seed=3, partitions=2, engine="ray").run()
    finally:
        ray.shutdown()
    point = ParameterSet(0, (), country)
    assert table_of(point, 3, rows).equals(table_of(point, 3, Model(country, seed=3).run()))
    directed = every(policy={"circles": {"trust_mode": "directed", "reserve_start": 25}})  # CI5, CI7
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = PartitionedRun(directed, seed=3, partitions=2, engine="ray").run()
    finally:
        ray.shutdown()
    point = ParameterSet(0, (), directed)
    assert table_of(point, 3, rows).equals(table_of(point, 3, Model(directed, seed=3).run()))


def test_what_is_not_partitioned_yet_is_refused_by_name() -> None:
    assert refusals(every()) == []
    sc = every(
        population={"sybils": 50},
        parameters={"key_loss_rate": 0.1, "routed_sample": 2.0},
    )
    reasons = refusals(sc)
    for named in ("fake accounts", "max-flow", "key loss"):
        assert any(named in r for r in reasons), (named, reasons)
    assert refusals(every(behaviours={"pledges": "none", "candidates": "none", "routed_payments": "none"})) == []
    with pytest.raises(Unpartitioned, match="fake accounts"):
        PartitionedRun(sc, seed=3, partitions=2)


def test_trust_limits_expiry_revocation_group_exchange_and_held_coins_are_refused_by_name() -> None:
    """Options a partition cannot run exactly yet (CI5, CI6, CI9, CI12, CI13) are refused, never approximated."""
    sc = every(
        policy={"circles": {"trust_limits": True, "trust_expiry": True}},
        parameters={
            "trust_limit_percent": 50.0,
            "trust_expiry_weeks": 4.0,
            "routed_sample": 2.0,
            "routed_through_held": 1.0,
        },
    )
    reasons = refusals(sc)
    for named in ("trust limits", "trust expiry", "routes through coins held"):
        assert any(named in r for r in reasons), (named, reasons)
    grouped = every(population={"groups": 3}, parameters={"group_trusts": 1.0, "group_exchange_share": 0.1})
    assert any("group-to-group exchange" in r for r in refusals(grouped))
    with pytest.raises(Unpartitioned, match="trust limits"):
        PartitionedRun(sc, seed=3, partitions=2)
    revoking = every(parameters={"trust_revoke_share": 0.01})  # CI6: the keyed draw is over every trust
    assert "trust revocation (parameters.trust_revoke_share, CI6)" in refusals(revoking)
    with pytest.raises(Unpartitioned, match="trust revocation"):
        PartitionedRun(revoking, seed=3, partitions=2)
    paying = every(population={"groups": 3}, parameters={"group_pay_share": 0.1})  # CI13
    assert "paying with group money (parameters.group_pay_share, CI13)" in refusals(paying)

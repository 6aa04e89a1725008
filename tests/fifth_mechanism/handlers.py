"""Tallies' handler (TA1) and projector, through the kernel's registry like any mechanism."""

from __future__ import annotations

from civicledger.kernel import state
from civicledger.kernel.errors import InvalidInputError, RuleViolationError
from civicledger.kernel.identity import AccountId, Consent
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, projects
from tests.fifth_mechanism.messages import Count, Counted
from tests.fifth_mechanism.policy import TalliesPolicy

NS = "tallies.totals"


def total(uow: UnitOfWork, account: AccountId, name: str) -> int:
    return int(uow.records.get(NS, f"{account}/{name}") or 0)


@handles(Count)
def count(cmd: Count, ctx: Context) -> Decision:
    policy = ctx.policy.section(TalliesPolicy)
    state.require_account(ctx.uow, cmd.account)
    if not cmd.name or len(cmd.name) > policy.max_name_length:
        raise InvalidInputError(f"a tally's name has 1 to {policy.max_name_length} characters", rule="TA1")
    if not 1 <= cmd.by <= policy.max_per_count:
        raise RuleViolationError(f"one addition adds 1 to {policy.max_per_count}, not {cmd.by}", rule="TA1")
    new_total = total(ctx.uow, cmd.account, cmd.name) + cmd.by
    event = Counted(cmd.account, cmd.name, cmd.by, new_total)
    return Decision([event], Consent.of(cmd.account), {"total": new_total})


@projects(Counted)
def _counted(e: Counted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(NS, f"{e.account}/{e.name}", e.total)

"""Demo chapter: Circles basic income: income, trust rewards, a transitive payment, a group, a Sybil ring."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import chapter
from civicledger.kernel.engine import Receipt
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.ledger import CIRCLES_SYMBOL, Leg
from civicledger.kernel.messages import decode_command
from civicledger.kernel.money import CurrencyId, format_units
from civicledger.kernel.time import DAY
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm


def _units(minor: int) -> str:
    """A Circles amount: every personal and group currency reads alike, 1:1 (CI8)."""
    return format_units(minor, 2, f"{CIRCLES_SYMBOL} ")


def _routed(demo: ScriptedEconomy, sender: str, receiver: AccountId, units: int, cid: str) -> Receipt:
    """Pay through the router; on a re-run, retry the recorded command so nothing new is written."""
    with demo.store.read() as uow:
        stored = uow.journal.find_command(cid)
    if stored is not None:
        return demo.run(decode_command(stored.entry.command.type, stored.entry.command.payload), sender, cid=cid)
    command = sc.router_for(demo.store).pay_command(demo.account(sender), receiver, units, now=demo.clock.now())
    return demo.run(command, sender, cid=cid)


@chapter("Circles: basic income, trust, a payment through a friend, a group")
def circles(demo: ScriptedEconomy) -> list[str]:
    names = ["ada", "ben", "cleo"]
    for name in names:
        demo.open(name)
        demo.run(cm.CreateCirclesAccount(demo.account(name)), name, cid=f"circles-join-{name}")
    ada, ben, cleo = (AccountId(demo.account(n)) for n in names)
    claim = demo.run(cm.ClaimIncome(ada), "ada", cid="circles-claim-ada")
    ab = demo.run(cm.Trust(ada, ben), "ada", "ben", cid="circles-trust-ada-ben")
    bc = demo.run(cm.Trust(ben, cleo), "ben", "cleo", cid="circles-trust-ben-cleo")
    demo.advance(DAY)
    router = sc.router_for(demo.store)
    paid = _routed(demo, "ada", cleo, 500_000, "circles-pay-ada-cleo")

    demo.open("riverside", AccountKind.GROUP)
    river = AccountId(demo.account("riverside"))
    demo.run(cm.CreateGroup(river, ada), "riverside", "ada", cid="circles-group-riverside")
    demo.run(cm.AddMember(river, ben), "ada", cid="circles-member-ben")
    demo.run(cm.ClaimIncome(ben), "ben", cid="circles-claim-ben")
    demo.run(cm.Convert(ben, river, 100_000), "ben", cid="circles-convert-ben")
    demo.run(cm.Trust(cleo, river), "cleo", cid="circles-trust-cleo-riverside")
    group_paid = _routed(demo, "ben", cleo, 40_000, "circles-pay-ben-cleo-group")

    for fake in ("fake-1", "fake-2"):
        demo.open(fake)
        demo.run(cm.CreateCirclesAccount(demo.account(fake)), fake, cid=f"circles-join-{fake}")
    fake1, fake2 = AccountId(demo.account("fake-1")), AccountId(demo.account("fake-2"))
    demo.run(cm.Trust(fake1, fake2), "fake-1", "fake-2", cid="circles-trust-fakes")
    sybil = router.route(fake1, cleo, now=demo.clock.now())
    query = router.route(ada, cleo, now=demo.clock.now())

    with demo.store.read() as uow:
        cleo_holds = {str(c): u for c, u in uow.ledger.holdings(cleo).items()}
        collateral = uow.ledger.balance(river, CurrencyId(ben))
    who = {ada: "ada", ben: "ben", cleo: "cleo"}
    legs = paid_legs(demo, "circles-pay-ada-cleo")
    steps = ", ".join(
        f"{who.get(leg.source, '?')}→{who.get(leg.target, '?')} in {who.get(AccountId(leg.currency), '?')}-coins"
        for leg in legs
    )
    return [
        "ada, ben and cleo joined without attestation; "
        f"ada claimed her first month: {_units(claim.result['claimed'])} (CI4)",
        f"trust ada↔ben paid each {_units(ab.result['rewards'][ada])} of the other's reserve; "
        f"ben↔cleo paid cleo {_units(bc.result['rewards'][cleo])} from ben's halved reserve (CI7)",
        f"ada paid cleo {_units(paid.result['paid'])} in one entry (#{paid.seq}), ben swapping 1:1: {steps} (CI9)",
        f"query mode, nothing paid: ada could now send cleo at most {_units(query.max_flow)} "
        f"in {len(query.legs)} transfer(s)",
        f"ben converted {_units(100_000)} into Riverside money (collateral held by the group: {_units(collateral)}); "
        f"cleo trusts Riverside, so ben paid her {_units(group_paid.result['paid'])} in group money (CI11, CI13)",
        f"cleo now holds {len(cleo_holds)} currencies; two fake accounts that trust only each other can send cleo "
        f"{_units(sybil.max_flow)} (CI14)",
    ]


def paid_legs(demo: ScriptedEconomy, cid: str) -> tuple[Leg, ...]:
    """The legs of the routed payment the journal recorded under ``cid``."""
    with demo.store.read() as uow:
        stored = uow.journal.find_command(cid)
    assert stored is not None
    command = decode_command(stored.entry.command.type, stored.entry.command.payload)
    assert isinstance(command, cm.Pay)
    return command.legs

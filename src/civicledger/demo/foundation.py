"""Demo chapter: accounts, a verified person, a currency, an atomic transfer, a refusal, a retry."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import chapter
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import DAY

XI = CurrencyId("xi")


@chapter("Foundation: accounts, a currency, an atomic transfer")
def foundation(demo: ScriptedEconomy) -> list[str]:
    demo.open("common-good-fund", AccountKind.FUND)
    for name in ["alice", "bob", "carol", "dave"]:
        demo.person(name)
    fund = AccountId(demo.account("common-good-fund"))
    alice, bob, carol = (AccountId(demo.account(n)) for n in ("alice", "bob", "carol"))
    demo.run(led.CreateCurrency("xi", fund, "ethicap xi"), "common-good-fund", cid="create-xi")
    demo.run(led.Issue(XI, alice, 50_000), "common-good-fund", cid="issue-xi-alice")
    demo.advance(DAY)
    receipt = demo.run(
        led.Transfer((led.Leg(XI, alice, bob, 12_000), led.Leg(XI, bob, carol, 2_000)), "rent and a share"),
        "alice",
        "bob",
        cid="transfer-alice-bob-carol",
    )
    retry = demo.run(
        led.Transfer((led.Leg(XI, alice, bob, 12_000), led.Leg(XI, bob, carol, 2_000)), "rent and a share"),
        "alice",
        "bob",
        cid="transfer-alice-bob-carol",
    )
    refusal = demo.refused(led.Transfer((led.Leg(XI, carol, alice, 999_999),)), "carol", cid="overdraft-carol")
    forged = demo.refused(led.Transfer((led.Leg(XI, alice, carol, 1),)), "carol", cid="forged-alice")
    with demo.store.read() as uow:
        balances = {n: uow.ledger.balance(AccountId(demo.account(n)), XI) for n in ("alice", "bob", "carol")}
        supply = uow.ledger.currency(XI)
    assert supply is not None
    return [
        "5 accounts opened; 4 persons verified by the registrar (X1)",
        f"xi issued by the fund: {supply.format(supply.issued)} "
        f"(issued - burned = {supply.format(supply.supply)}, "
        f"sum of balances = {supply.format(sum(balances.values()))})",
        f"two-leg transfer Alice→Bob→Carol in one entry (#{receipt.seq}); retry returned entry #{retry.seq} again (X5)",
        f"balances: Alice {supply.format(balances['alice'])}, Bob {supply.format(balances['bob'])}, "
        f"Carol {supply.format(balances['carol'])}",
        f"refused, rule {refusal.rule}: {refusal.message}",
        f"refused, rule {forged.rule}: {forged.message}",
    ]

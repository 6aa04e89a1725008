"""X3, X5, X2 as properties: random issuance, transfers, burns, retries and bad commands.

After every step: per currency, balances sum to issued - burned; no balance is negative; a
retried command returns its first result and writes nothing; refused commands write nothing.
At the end, replaying the journal gives exactly the stored state.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit
from civicledger.kernel import ledger as led
from civicledger.kernel.engine import Receipt
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.identity import AccountKind
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.money import CurrencyId
from tests.conftest import T0

PEOPLE = ["ann", "ben", "cat", "dan"]
CURRENCIES = [CurrencyId("xi"), CurrencyId("yo")]
ISSUERS = {CurrencyId("xi"): "fund-x", CurrencyId("yo"): "fund-y"}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.e = ScriptedEconomy(MemoryStore(), start=T0, label="ledger machine")
        for fund in ISSUERS.values():
            self.e.open(fund, AccountKind.FUND)
        for person in PEOPLE:
            self.e.open(person)
        for currency, fund in ISSUERS.items():
            self.e.run(led.CreateCurrency(currency, self.e.account(fund), currency), fund)
        self.model: dict[tuple[str, CurrencyId], int] = {}
        self.done: list[tuple[SignedCommand, Receipt]] = []

    def size(self) -> int:
        with self.e.store.read() as uow:
            return uow.journal.head().size

    def attempt(self, command: led.Command, *signers: str) -> bool:
        size = self.size()
        signed = self.e.sign(command, *signers)
        try:
            receipt = self.e.engine.execute(signed)
        except CivicLedgerError:
            assert self.size() == size, "a refused command wrote something"
            return False
        self.done.append((signed, receipt))
        return True

    @rule(who=st.sampled_from(PEOPLE), currency=st.sampled_from(CURRENCIES), units=st.integers(1, 10_000))
    def issue(self, who: str, currency: CurrencyId, units: int) -> None:
        if self.attempt(led.Issue(currency, self.e.account(who), units), ISSUERS[currency]):
            self.model[(who, currency)] = self.model.get((who, currency), 0) + units

    @rule(
        legs=st.lists(
            st.tuples(
                st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), st.sampled_from(CURRENCIES), st.integers(1, 5_000)
            ).filter(lambda t: t[0] != t[1]),
            min_size=1,
            max_size=4,
        )
    )
    def transfer(self, legs: list[tuple[str, str, CurrencyId, int]]) -> None:
        model = dict(self.model)
        feasible = True
        for source, target, currency, units in legs:
            if model.get((source, currency), 0) < units:
                feasible = False
                break
            model[(source, currency)] -= units
            model[(target, currency)] = model.get((target, currency), 0) + units
        command = led.Transfer(tuple(led.Leg(c, self.e.account(s), self.e.account(t), u) for s, t, c, u in legs))
        signers = sorted({s for s, _, _, _ in legs})
        accepted = self.attempt(command, *signers)
        assert accepted == feasible
        if accepted:
            self.model = model

    @rule(who=st.sampled_from(PEOPLE), currency=st.sampled_from(CURRENCIES), units=st.integers(1, 5_000))
    def burn(self, who: str, currency: CurrencyId, units: int) -> None:
        feasible = self.model.get((who, currency), 0) >= units
        assert self.attempt(led.Burn(currency, self.e.account(who), units), who) == feasible
        if feasible:
            self.model[(who, currency)] -= units

    @rule(thief=st.sampled_from(PEOPLE), victim=st.sampled_from(PEOPLE), currency=st.sampled_from(CURRENCIES))
    def unsigned_transfer_is_refused(self, thief: str, victim: str, currency: CurrencyId) -> None:
        if thief != victim:
            assert not self.attempt(
                led.Transfer((led.Leg(currency, self.e.account(victim), self.e.account(thief), 1),)), thief
            )

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def retry_is_idempotent(self, data: st.DataObject) -> None:
        signed, first = data.draw(st.sampled_from(self.done))
        size = self.size()
        again = self.e.engine.execute(signed)
        assert again.replayed and again.seq == first.seq and again.events == first.events
        assert self.size() == size

    @invariant()
    def balances_match_the_model_and_supply(self) -> None:
        with self.e.store.read() as uow:
            sums = uow.ledger.sums_by_currency()
            for currency in CURRENCIES:
                c = uow.ledger.currency(currency)
                assert c is not None and sums.get(currency, 0) == c.issued - c.burned
            for (who, currency), units in self.model.items():
                assert units >= 0
                assert uow.ledger.balance(self.e.account(who), currency) == units
            assert all(units > 0 for _, _, units in uow.ledger.scan_balances())

    def teardown(self) -> None:
        report = audit.verify_store(self.e.store, Ed25519Verifier(), MemoryStore)
        assert report.ok, report.reason


LedgerMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
test_x03_x05_ledger_state_machine = LedgerMachine.TestCase

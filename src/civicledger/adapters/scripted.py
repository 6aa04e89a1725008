"""A scripted economy: named reproducible keys, a simulated clock, and one call per command.

The demo, the tests and the simulator's agreement checks drive the real engine through it.
Keys are derived from a label and a name, so they are reproducible and therefore *public*:
a scripted economy is for demonstrations and tests only, never for anything of value.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TypeVar

from civicledger.adapters.clock import SimulatedClock
from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.kernel import identity as ident
from civicledger.kernel.bootstrap import genesis_command
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.engine import Engine, Receipt
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.journal import SignedCommand
from civicledger.kernel.messages import Command
from civicledger.kernel.money import CurrencyId, format_units
from civicledger.kernel.personal import PERSONAL_RULES, PersonalItem, move_off
from civicledger.kernel.ports import Store
from civicledger.kernel.rules import LATEST_RULES
from civicledger.kernel.signing import sign_command

C = TypeVar("C", bound=Command)


class ScriptedEconomy:
    def __init__(
        self,
        store: Store,
        *,
        start: int,
        name: str = "Scripted economy",
        policy: JSONObject | None = None,
        label: str = "civicledger demo key",
        governors: int = 3,
        quorum: int = 2,
        rules: int = LATEST_RULES,
    ) -> None:
        self.store = store
        self.label = label
        self._bound: dict[str, KeyPair] = {}  # a name whose account's key changed (X9): its key in force
        self.clock = SimulatedClock(start)
        self.engine = Engine(store, self.clock, Ed25519Verifier(), self.key("journal"))
        self.executed = 0
        self.replayed = 0
        self._ids = itertools.count(1)
        self.governors = [f"governor-{i + 1}" for i in range(governors)]
        genesis = genesis_command(
            name=name,
            policy=policy if policy is not None else {"economy": {"name": name}},
            journal=self.key("journal"),
            council=self.key("council"),
            governors=[self.key(g) for g in self.governors],
            registrars=[self.key("registrar")],
            quorum=quorum,
            at=start,
            rules=rules,
        )
        self._count(self.engine.execute(genesis))
        info = self.engine.economy()
        assert info is not None
        self.economy_id = info.id

    def money(self, currency: str, units: int) -> str:
        """Units of a currency as the demo tells them: its record's decimals and symbol (X3), like
        the CLI's tables (``Currency.format``)."""
        with self.store.read() as uow:
            found = uow.ledger.currency(CurrencyId(currency))
        return found.format(units) if found is not None else format_units(units, 2)

    def key(self, name: str) -> KeyPair:
        """The key in force of the account named ``name``: at first derived from the label and the
        name, reproducible, public; after a rotation or recovery (``bind``), the key that replaced it."""
        bound = self._bound.get(name)
        return bound if bound is not None else self.first_key(name)

    def first_key(self, name: str) -> KeyPair:
        """The key the account named ``name`` was opened with (its id derives from it)."""
        seed = hashlib.sha256(f"{self.label}/{name}".encode()).digest()
        return KeyPair.from_seed(seed, name)

    def new_key(self, name: str, generation: int) -> KeyPair:
        """A reproducible key for ``name``'s account after a change of key (X9), not yet bound: it
        signs as the id derived from itself (proof of possession)."""
        seed = hashlib.sha256(f"{self.label}/{name}/key-{generation}".encode()).digest()
        return KeyPair.from_seed(seed, f"{name}.key-{generation}")

    def bind(self, name: str, key: KeyPair) -> KeyPair:
        """From now on ``name`` signs with ``key`` for its account (after its key changed, X9)."""
        bound = key.for_account(self.account(name))
        self._bound[name] = bound
        return bound

    def rotate(self, name: str, generation: int = 2) -> KeyPair:
        """Rotate ``name``'s key (X9): signed by the key in force and the new one; returns the new key."""
        new = self.new_key(name, generation)
        self.run(ident.RotateKey(self.account(name), new.public_hex), name, new)
        return self.bind(name, new)

    def account(self, name: str) -> AccountId:
        return self.key(name).account

    def off_journal(self, command: C, cid: str) -> tuple[C, tuple[PersonalItem, ...]]:
        """Move ``command``'s personal text off the journal when the rules in force ask it (IN11),
        with salts derived from the label and the command id: a scripted run writes the same
        journal every time (a live client's salts are random)."""
        info = self.engine.economy()
        if info is None or info.rules_at(self.clock.now()) < PERSONAL_RULES:
            return command, ()

        def salt_for(field: str) -> str:
            return hashlib.sha256(f"{self.label}/salt/{cid}/{field}".encode()).hexdigest()[:32]

        return move_off(command, salt_for=salt_for)

    def sign(self, command: Command, *signers: str | KeyPair, cid: str | None = None) -> SignedCommand:
        return sign_command(
            self.economy_id,
            command,
            [self.key(s) if isinstance(s, str) else s for s in signers],
            signed_at=self.clock.now(),
            command_id=cid or f"cmd-{next(self._ids)}",
        )

    def run(self, command: Command, *signers: str | KeyPair, cid: str | None = None) -> Receipt:
        """Sign ``command`` with the named keys and execute it; refusals raise. Under rule version 3
        and later its personal text travels beside it, off the journal (IN11)."""
        cid = cid or f"cmd-{next(self._ids)}"
        command, personal = self.off_journal(command, cid)
        receipt = self.engine.execute(self.sign(command, *signers, cid=cid), personal)
        self._count(receipt)
        return receipt

    def refused(self, command: Command, *signers: str | KeyPair, cid: str | None = None) -> CivicLedgerError:
        """Run a command that must be refused, and return the refusal."""
        try:
            self.run(command, *signers, cid=cid)
        except CivicLedgerError as e:
            return e
        raise AssertionError(f"{command.TYPE} was expected to be refused")

    def open(self, name: str, kind: AccountKind = AccountKind.PERSON, *, cid: str | None = None) -> AccountId:
        key = self.key(name)
        self.run(ident.OpenAccount(kind, key.public_hex, name), name, cid=cid or f"open-{name}")
        return key.account

    def person(self, name: str, *, verified: bool = True) -> AccountId:
        """Open a person account and, by default, have the registrar verify it."""
        account = self.open(name)
        if verified:
            self.run(
                ident.AttestPerson(account, self.account("registrar"), f"human-of-{name}"),
                "registrar",
                cid=f"attest-{name}",
            )
        return account

    def council_decision(self, command: Command, *, cid: str | None = None) -> Receipt:
        """Run a command signed by a quorum of the governing council."""
        return self.run(command, *self.governors, cid=cid)

    def advance(self, seconds: int) -> int:
        return self.clock.advance(seconds)

    def _count(self, receipt: Receipt) -> None:
        if receipt.replayed:
            self.replayed += 1
        else:
            self.executed += 1

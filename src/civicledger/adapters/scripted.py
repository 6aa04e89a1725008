"""A scripted economy: named reproducible keys, a simulated clock, and one call per command.

The demo, the tests and the simulator's agreement checks drive the real engine through it.
Keys are derived from a label and a name, so they are reproducible and therefore *public*:
a scripted economy is for demonstrations and tests only, never for anything of value.
"""

from __future__ import annotations

import hashlib
import itertools

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
from civicledger.kernel.ports import Store
from civicledger.kernel.rules import LATEST_RULES
from civicledger.kernel.signing import sign_command


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

    def key(self, name: str) -> KeyPair:
        """The key named ``name``: derived from the label and the name, reproducible, public."""
        seed = hashlib.sha256(f"{self.label}/{name}".encode()).digest()
        return KeyPair.from_seed(seed, name)

    def account(self, name: str) -> AccountId:
        return self.key(name).account

    def sign(self, command: Command, *signers: str, cid: str | None = None) -> SignedCommand:
        return sign_command(
            self.economy_id,
            command,
            [self.key(s) for s in signers],
            signed_at=self.clock.now(),
            command_id=cid or f"cmd-{next(self._ids)}",
        )

    def run(self, command: Command, *signers: str, cid: str | None = None) -> Receipt:
        """Sign ``command`` with the named keys and execute it; refusals raise."""
        receipt = self.engine.execute(self.sign(command, *signers, cid=cid))
        self._count(receipt)
        return receipt

    def refused(self, command: Command, *signers: str, cid: str | None = None) -> CivicLedgerError:
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

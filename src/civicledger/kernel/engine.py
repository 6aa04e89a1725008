"""The engine: every change of state goes through ``Engine.execute`` and lands in the journal.

For one command, inside one write unit of work (which holds the journal's writer lock):

1. a command id seen before returns the first result if the payload is the same, else is refused (X5);
2. the signatures must be fresh, valid, and cover everyone whose consent the rule needs (X6);
3. the mechanism's handler decides, reading state, and returns events (or refuses: nothing written);
4. the events are projected onto state and the entry is appended and hashed into the Merkle tree;
   before the unit of work commits, the tree head after its last entry is signed with the journal
   key (X2), so every head a reader can see is signed.

Work that needs no state (decoding, canonical checks, signatures of accounts whose keys are known)
is done *before* the writer lock is taken, so concurrent writers overlap on it. A key can change
(X9), so under the lock each signature checked early is confirmed to have been checked against the
key in force in the transaction's own state, and checked again if it was not.

The same code re-executes a journal during verification (``Engine.replaying``, ``kernel.audit``), which is
why handlers must be deterministic: same state, same command, same time, same events.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time as _time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from civicledger.kernel import personal as pd
from civicledger.kernel import state
from civicledger.kernel.canonical import ONE_MEANING, JSONObject, canonical_bytes, contains_nul, encoded_nul, refuse_nul
from civicledger.kernel.economy import Genesis, economy_id_for
from civicledger.kernel.errors import (
    AuthorityError,
    CivicLedgerError,
    ConcurrencyError,
    IdempotencyConflictError,
    IntegrityError,
    InvalidInputError,
    RuleViolationError,
    UnstorableError,
)
from civicledger.kernel.identity import AccountId, KeyChanged, parse_signature
from civicledger.kernel.journal import Entry, SignatureRecord, SignedCommand, TreeHead, tree_head_bytes
from civicledger.kernel.merkle import leaf_hash
from civicledger.kernel.messages import Command, decode_command, encode_message
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import Policy
from civicledger.kernel.ports import (
    Clock,
    JournalHead,
    Preload,
    SignatureVerifier,
    Signer,
    Store,
    StoredEntry,
    UnitOfWork,
)
from civicledger.kernel.registry import (
    HANDLERS,
    PREFETCHERS,
    Context,
    EconomyInfo,
    ProjectionContext,
    installed,
    project,
)
from civicledger.kernel.rules import FIRST_RULES

_log = logging.getLogger("civicledger.engine")
MAX_ATTEMPTS = 8
HARD_MAX_COMMAND_BYTES = 1 << 20
"""Refused before anything else; the policy's ``journal.max_command_bytes`` is usually far lower."""
Nonce = tuple[str, str, int]
"""A request nonce spent with a command: (account, nonce, the request's timestamp); see X6."""


R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a caller gets back: where the command landed and what it did."""

    command_id: str
    seq: int
    time: int
    events: tuple[JSONObject, ...]
    result: dict[str, Any]  # each command's own shape, read field by field by its caller
    replayed: bool = False

    @staticmethod
    def of(stored: StoredEntry, replayed: bool) -> Receipt:
        e = stored.entry
        return Receipt(e.command.id, e.seq, e.time, e.events, e.result, replayed)

    def to_wire(self) -> JSONObject:
        return {
            "command_id": self.command_id,
            "seq": self.seq,
            "time": self.time,
            "events": list(self.events),
            "result": self.result,
            "replayed": self.replayed,
        }


Sealer = Callable[[StoredEntry, EconomyInfo | None], StoredEntry]
"""Given an entry as the engine sealed it (leaf hash, unsigned tree head) and the economy, the
entry to store: replay checks the recorded head against it and keeps the recorded one."""


class Replay:
    """An open replay (``Engine.replaying``): the journal head so far and the state it built."""

    def __init__(self, engine: Engine, tx: _Transaction) -> None:
        self._engine = engine
        self._tx = tx

    @property
    def head(self) -> JournalHead:
        return self._tx.head

    @property
    def uow(self) -> UnitOfWork:
        return self._tx.uow

    def run(self, command: SignedCommand, at: int, sealer: Sealer) -> Receipt:
        """Execute ``command`` at the recorded time ``at`` through its rule, exactly as when it was
        first accepted (every signature, consent and check again); a refusal raises its error."""
        if self._tx.economy is not None:
            # The genesis this replay re-executed is not committed yet: a read of another connection
            # (a SQL store's) would not see the economy whose id the signatures cover.
            self._engine._economy = self._tx.economy
        return self._engine._execute(self._tx, self._engine.prepare(command), at=at, sealer=sealer)


@dataclass(frozen=True, slots=True)
class EngineView:
    """What an edge needs between commands: the economy, the policy in force, the journal's time."""

    economy: EconomyInfo | None
    policy: Policy
    head_time: int


@dataclass(frozen=True, slots=True)
class _StateAtHead:
    """The economy and policy as they were at a journal head this engine committed.

    Both change only through journal entries, so while the journal's head is still the one this
    engine left, they can be taken from here instead of read and decoded again (the policy is a
    few kilobytes of JSON); another writer's entry moves the head and forces a read."""

    size: int
    frontier: tuple[bytes, ...]
    economy: EconomyInfo | None
    policy: Policy
    time: int = 0

    def matches(self, head: JournalHead) -> bool:
        return head.size == self.size and head.frontier.hashes == self.frontier


class _Transaction:
    """What stays the same across the commands of one write unit of work."""

    def __init__(self, uow: UnitOfWork, cached: _StateAtHead | None = None) -> None:
        self.uow = uow
        self.head: JournalHead = uow.journal.head()
        self.economy: EconomyInfo | None
        self.policy: Policy
        if cached is not None and cached.matches(self.head):
            self.economy, self.policy = cached.economy, cached.policy
        else:
            self.refresh()
        self.new_keys: dict[AccountId, bytes] = {}
        self.appended = False

    def refresh(self) -> None:
        self.economy, self.policy = state.economy_and_policy(self.uow)


@dataclass(slots=True)
class PreparedCommand:
    """A command checked as far as it can be without state: decoded, sized, partly verified."""

    command: SignedCommand
    decoded: Command | None = None
    size: int = 0  # bytes of the payload's canonical form, checked against the policy under the lock
    message: bytes = b""
    verified: dict[AccountId, bytes] = field(default_factory=dict)
    """The accounts whose signatures were checked before the lock, with the key each was checked against."""
    error: CivicLedgerError | None = None
    nul: bool = False  # the payload holds U+0000: refused from rule version 2 on (IN10)
    personal: tuple[pd.PersonalItem, ...] = ()
    """Personal data sent beside the command (IN11), stored off the journal if it is accepted."""


class _ProjectionFailed(Exception):
    """A projector failed after writes began: the whole unit of work must roll back."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Engine:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        verifier: SignatureVerifier,
        journal_signer: Signer | None = None,
    ) -> None:
        installed()  # every installed mechanism's commands, handlers and projectors, before the first command
        self.store = store
        self.clock = clock
        self.verifier = verifier
        self.journal_signer = journal_signer
        self._keys: dict[AccountId, bytes] = {}
        self._economy: EconomyInfo | None = None
        self._state_at_head: _StateAtHead | None = None

    # Public ------------------------------------------------------------------------------------

    def execute(self, command: SignedCommand, personal: Sequence[pd.PersonalItem] = ()) -> Receipt:
        """Run one command atomically; raise the refusing rule's error if it is refused.

        ``personal`` is the personal data the command's references name (IN11): stored off the
        journal in the same transaction when the command is accepted."""
        prepared = self.prepare(command)
        prepared.personal = tuple(personal)
        try:
            return self._with_retries(lambda tx: self._execute(tx, prepared))
        except _ProjectionFailed as e:
            raise e.error from None

    def execute_batch(
        self,
        commands: Sequence[SignedCommand],
        nonces: Sequence[Sequence[Nonce]] | None = None,
        forget_nonces_before: int | None = None,
        personal: Sequence[Sequence[pd.PersonalItem]] | None = None,
    ) -> list[Receipt | Exception]:
        """Run many commands in one transaction; each is accepted or refused on its own.

        ``nonces[i]`` are the request nonces (X6) that came with ``commands[i]`` over HTTP. They are
        spent in the same transaction, before any command runs: a request has at most one effect,
        and a replay of it is refused even when its command was refused. When a transaction fails,
        the nonces it held are spent in a transaction of their own before the error is passed on,
        so a request the server answered with an error cannot be replayed later; only when that
        fails too (the store is down) does a request stay unspent, and then sending it again before
        its timestamp is stale runs it at most once (its command id, X5). docs/api.md.
        """
        prepared = [self.prepare(c) for c in commands]
        for p, items in zip(prepared, personal or [() for _ in commands], strict=True):
            p.personal = tuple(items)
        spends = [list(n) for n in nonces] if nonces is not None else [[] for _ in commands]
        if len(spends) != len(prepared):
            raise ValueError("one list of nonces per command")
        try:
            try:
                return self._run_batch(prepared, spends, forget_nonces_before)
            except (_ProjectionFailed, UnstorableError):
                # One command failed where only storing it could tell (a projector, or the database
                # refusing its data at COMMIT, IN10): the transaction is lost, so each command runs
                # alone and only the offending one gets the error.
                return self._run_each_alone(prepared, spends)
            except CivicLedgerError:
                raise  # the store is down or kept losing races: no command is to blame
            except Exception:
                if len(prepared) < 2:
                    raise
                return self._run_each_alone(prepared, spends)  # an unforeseen storage failure (IN10)
        except Exception:
            self._spend_on_their_own(spends)
            raise

    def _run_each_alone(self, prepared: list[PreparedCommand], spends: list[list[Nonce]]) -> list[Receipt | Exception]:
        """Each command in a transaction of its own; a storage failure is that command's outcome (IN10)."""
        outcomes: list[Receipt | Exception] = []
        for p, spend in zip(prepared, spends, strict=True):
            try:
                outcomes.extend(self._run_batch([p], [spend], None))
            except _ProjectionFailed as e:
                self._spend_on_their_own([spend])
                outcomes.append(e.error)
            except Exception as e:  # this command's alone: those before it are committed, keep their receipts
                if not isinstance(e, CivicLedgerError):
                    _log.exception("command %s failed in storage", p.command.id)
                self._spend_on_their_own([spend])
                outcomes.append(e)
        return outcomes

    def _run_batch(
        self, prepared: list[PreparedCommand], spends: list[list[Nonce]], forget_before: int | None
    ) -> list[Receipt | Exception]:
        want = self._preload(prepared)

        def run(tx: _Transaction) -> list[Receipt | Exception]:
            replays = self._spend_nonces(tx, spends, forget_before, want)
            outcomes: list[Receipt | Exception] = []
            for p, replay in zip(prepared, replays, strict=True):
                if replay is not None:
                    outcomes.append(replay)
                    continue
                try:
                    outcomes.append(self._execute(tx, p))
                except UnstorableError:
                    raise  # the database refused this command's data: its transaction is lost (IN10)
                except CivicLedgerError as e:
                    outcomes.append(e)
            return outcomes

        return self._with_retries(run)

    @staticmethod
    def _spend_nonces(
        tx: _Transaction, spends: list[list[Nonce]], forget_before: int | None, want: Preload | None
    ) -> list[AuthorityError | None]:
        """Spend each command's request nonces (a command whose nonce was used before is a replay)
        and load what the batch will read, together: one round trip on PostgreSQL."""
        items = [n for spend in spends for n in spend]
        if not items and forget_before is None:
            if want is not None:
                tx.uow.preload(want)
            return [None] * len(spends)
        fresh = iter(tx.uow.spend_nonces(items, forget_before, want))
        replays: list[AuthorityError | None] = []
        for spend in spends:
            reused = [account for account, _, _ in spend if not next(fresh)]
            replays.append(
                AuthorityError(f"nonce {spend[0][1]} was already used by {', '.join(reused)}: a replayed request")
                if reused
                else None
            )
        return replays

    def _spend_on_their_own(self, spends: list[list[Nonce]]) -> None:
        items = [n for spend in spends for n in spend]
        if not items:
            return
        try:
            self.store.consume_nonces(items, None)
        except Exception:  # the store is down: the first error is the one to report
            _log.warning("could not spend %d request nonces after a failed transaction", len(items))

    def economy(self) -> EconomyInfo | None:
        """The economy's id, name and keys (fixed by the genesis entry) and its adopted rule versions
        (as of this engine's last commit or view)."""
        if self._economy is None:
            with self.store.read() as uow:
                self._economy = state.economy_info(uow)
        return self._economy

    def view(self, *, refresh: bool = False) -> EngineView:
        """The economy, the policy in force and the journal's time as this engine last saw them (the
        one policy cache: the engine's own commits keep it current); ``refresh`` reads them again, for
        what other writers may have committed since."""
        known = self._state_at_head
        if refresh or known is None:
            with self.store.read() as uow:
                head = uow.journal.head()
                economy, policy = state.economy_and_policy(uow)
            known = _StateAtHead(head.size, head.frontier.hashes, economy, policy, head.time)
            current = self._state_at_head
            if current is None or current.size <= known.size:
                self._state_at_head = known
            if economy is not None:
                self._economy = economy
        return EngineView(known.economy, known.policy, known.time)

    def key_of(
        self, account: AccountId, introduced: dict[AccountId, bytes] | None = None, *, fresh: bool = False
    ) -> bytes | None:
        """An account's key in force (the one key cache), or the one a command introduces for it.

        Keys change (X9). The cache follows this engine's commits: the keys in force it read for
        every signer of a committed transaction, and the ``identity.key_changed`` events it wrote.
        Another process's rotation can leave it stale, so it is never the last word: under the
        writer lock every signature is checked against the key in force (``_verify_known``), and a
        caller whose signature does not match a cached key asks again with ``fresh`` (a read)."""
        key = None if fresh else self._keys.get(account)
        if key is not None:
            return key
        with self.store.read() as uow:
            found = uow.accounts.get(account)
        if found is not None:
            key = bytes.fromhex(found.public_key)
            self._keys[account] = key
            return key
        return (introduced or {}).get(account)

    # Internals ---------------------------------------------------------------------------------

    def _with_retries(self, body: Callable[[_Transaction], R]) -> R:
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.store.write() as uow:
                    tx = _Transaction(uow, self._state_at_head)
                    result = body(tx)
                    if tx.appended:
                        self._sign_last_head(tx)
                    uow.commit()
                self._keys.update(tx.new_keys)  # each the key in force as of this commit (X9)
                self._state_at_head = _StateAtHead(
                    tx.head.size, tx.head.frontier.hashes, tx.economy, tx.policy, tx.head.time
                )
                if tx.economy is not None:
                    self._economy = tx.economy  # its rule versions may have moved (IN8)
                return result
            except ConcurrencyError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                _time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")

    @staticmethod
    def _preload(prepared: list[PreparedCommand]) -> Preload | None:
        """Everything a batch will read that can be known before it runs: its command ids (are any
        retries?) and what each command type's prefetcher names; loaded in one go."""
        if len(prepared) < 2:
            return None
        by_type: dict[type, list[Command]] = {}
        for p in prepared:
            if p.decoded is not None and p.error is None:
                by_type.setdefault(type(p.decoded), []).append(p.decoded)
        accounts: list[AccountId] = []
        balances: list[tuple[AccountId, CurrencyId]] = []
        currencies: list[CurrencyId] = []
        for command_type, commands in by_type.items():
            prefetcher = PREFETCHERS.get(command_type)
            if prefetcher is not None:
                want = prefetcher(commands)
                accounts += want.accounts
                balances += want.balances
                currencies += want.currencies
        return Preload([p.command.id for p in prepared], accounts, balances, currencies)

    def prepare(self, command: SignedCommand) -> PreparedCommand:
        """Decode and check the command, and the signatures of accounts with known keys, lock-free.

        A refusal found here is kept in the result and reported when the command is executed, in
        its place in the batch (after its nonces are spent)."""
        prepared = PreparedCommand(command)
        try:
            encoded = command.payload_bytes()  # encoded once; also refuses floats
            prepared.size = len(encoded)
            if prepared.size > HARD_MAX_COMMAND_BYTES:
                raise InvalidInputError(f"a command payload has at most {HARD_MAX_COMMAND_BYTES} bytes")
            prepared.nul = encoded_nul(encoded) and contains_nul(command.payload)
            prepared.decoded = decode_command(command.type, command.payload)
            if len(command.signers()) != len(command.signatures):
                raise AuthorityError("an account signed the command twice")
            economy = self.economy() if not isinstance(prepared.decoded, Genesis) else None
            economy_id = economy.id if economy else economy_id_for(command.payload)
            prepared.message = command.signing_bytes(economy_id)
            for signature in command.signatures:
                key = self._keys.get(signature.account)
                # A mismatch is not yet a refusal: the cached key may have been replaced (X9), so
                # the signature is checked again under the lock against the key in force.
                raw = parse_signature(signature.signature)
                if key is not None and self.verifier.verify(key, prepared.message, raw):
                    prepared.verified[signature.account] = key
        except CivicLedgerError as e:
            prepared.error = e
        return prepared

    @contextlib.contextmanager
    def replaying(self) -> Iterator[Replay]:
        """Re-execute recorded entries, one by one, in one write transaction of this engine's store,
        committed when the block ends (verification, X2). Nothing is signed: each entry is sealed by
        the ``Sealer`` given to ``Replay.run``, which may check the recorded head and keep it."""
        with self.store.write() as uow:
            yield Replay(self, _Transaction(uow))
            uow.commit()

    def _execute(
        self, tx: _Transaction, prepared: PreparedCommand, at: int | None = None, sealer: Sealer | None = None
    ) -> Receipt:
        uow = tx.uow
        command = prepared.command
        existing = tx.uow.journal.find_command(command.id)
        if existing is not None:
            if existing.payload_digest != command.payload_digest():
                raise IdempotencyConflictError(f"command id {command.id} was already used for a different payload")
            return Receipt.of(existing, replayed=True)
        if prepared.error is not None:
            raise prepared.error
        cmd = prepared.decoded
        assert cmd is not None

        now = at if at is not None else max(self.clock.now(), tx.head.time)
        policy = tx.policy
        if prepared.size > policy.journal.max_command_bytes:
            raise InvalidInputError(f"a command payload has at most {policy.journal.max_command_bytes} bytes")
        if now - command.signed_at > policy.journal.signature_max_age:
            raise AuthorityError(
                f"signatures made at {command.signed_at} are stale at {now} "
                f"(older than {policy.journal.signature_max_age} s)"
            )
        if command.signed_at - now > policy.journal.max_clock_skew:
            raise AuthorityError(f"signatures dated {command.signed_at} are from the future (now {now})")

        handler = HANDLERS.get(type(cmd))
        if handler is None:
            raise InvalidInputError(f"no handler for command type {command.type}")
        if tx.economy is None and not isinstance(cmd, Genesis):
            raise RuleViolationError("this store holds no economy yet; create one with `civic init`", rule="X1")
        if tx.economy is not None and isinstance(cmd, Genesis):
            raise RuleViolationError("this store already holds an economy", rule="X1")

        unverified = self._verify_known(tx, command, prepared)
        signers = command.signers()
        frozen = state.frozen_among(uow, signers)
        if frozen:
            raise AuthorityError(
                f"{', '.join(frozen)}: key reported stolen; the account is frozen until a recovery completes", rule="X9"
            )
        rules = tx.economy.rules_at(now) if tx.economy is not None else FIRST_RULES
        if prepared.nul and (cmd.rules if isinstance(cmd, Genesis) else rules) >= ONE_MEANING:
            refuse_nul(command.payload)  # IN10: one meaning on every backend (a journal of rules 1 keeps it)
        ctx = Context(uow, now, tx.head.size, tx.economy, policy, signers, command.id, rules)
        _check_personal(prepared, cmd, uow)
        decision = handler(cmd, ctx)

        for signature in unverified:
            key_hex = decision.new_keys.get(signature.account)
            if key_hex is None:
                raise AuthorityError(f"{signature.account} is not an account and cannot sign")
            self._check_signature(bytes.fromhex(key_hex), prepared.message, signature)
            tx.new_keys[signature.account] = bytes.fromhex(key_hex)
        decision.consent.check(signers)

        events = tuple(encode_message(e) for e in decision.events)
        canonical_bytes(decision.result)
        entry = Entry(tx.head.size, now, command, events, decision.result)
        pctx = ProjectionContext(now, entry.seq)
        try:
            for event in decision.events:
                project(event, uow, pctx)
                if isinstance(event, KeyChanged):  # X9: later commands in this transaction see the new key
                    tx.new_keys[event.account] = bytes.fromhex(event.public_key)
            if any(e.TYPE.startswith("economy.") for e in decision.events):
                tx.refresh()
            stored, head = self._seal(tx, entry, command.payload_digest())
            if sealer is not None:
                stored = sealer(stored, tx.economy)
            uow.journal.append(stored, head)
            for item in prepared.personal:  # off the journal, in the same transaction (IN11)
                uow.personal.put(item)
        except ConcurrencyError:
            raise
        except Exception as e:  # writes have begun: the transaction cannot continue
            raise _ProjectionFailed(e) from e
        tx.head = head
        tx.appended = True
        return Receipt.of(stored, replayed=False)

    def _verify_known(
        self, tx: _Transaction, command: SignedCommand, prepared: PreparedCommand
    ) -> list[SignatureRecord]:
        """Check each signature against the key in force in this transaction's state (X6, X9): one
        checked before the lock counts only if it was checked against that same key (a rotation,
        here or by another writer, may have replaced it). Return those the command itself introduces."""
        pending = []
        for signature in command.signatures:
            key = tx.new_keys.get(signature.account)
            if key is None:
                account = tx.uow.accounts.get(signature.account)
                if account is None:
                    pending.append(signature)
                    continue
                key = bytes.fromhex(account.public_key)
                tx.new_keys[signature.account] = key
            if prepared.verified.get(signature.account) != key:
                self._check_signature(key, prepared.message, signature)
        return pending

    def _check_signature(self, key: bytes, message: bytes, signature: SignatureRecord) -> None:
        if not self.verifier.verify(key, message, parse_signature(signature.signature)):
            raise AuthorityError(f"the signature of {signature.account} does not match this command")

    def _seal(self, tx: _Transaction, entry: Entry, payload_digest: str) -> tuple[StoredEntry, JournalHead]:
        """Hash the entry into the Merkle tree; its head is signed when the transaction ends."""
        body = entry.leaf_bytes()
        leaf = leaf_hash(body)
        frontier = tx.head.frontier.append(leaf)
        head = TreeHead(frontier.size, frontier.root().hex(), entry.time, "")
        return StoredEntry(entry, leaf, head, payload_digest, body), JournalHead(frontier.size, frontier, entry.time)

    def _sign_last_head(self, tx: _Transaction) -> None:
        economy = tx.economy
        if economy is None:
            raise IntegrityError("an entry was sealed before the economy existed")
        if self.journal_signer is None:
            raise RuleViolationError("this engine holds no journal key and cannot append entries", rule="X2")
        if self.journal_signer.public_key.hex() != economy.journal_key:
            raise AuthorityError("the journal key given is not this economy's journal key", rule="X2")
        size = tx.head.size
        root = tx.head.frontier.root().hex()
        signature = self.journal_signer.sign(tree_head_bytes(economy.id, size, root, tx.head.time)).hex()
        tx.uow.journal.sign_head(size - 1, signature)


def _check_personal(prepared: PreparedCommand, cmd: Command, uow: UnitOfWork) -> None:
    """Refuse personal data the command does not name, or that does not match its reference (IN11)."""
    if not prepared.personal:
        return
    named = set(pd.refs_in(prepared.command.payload))
    subject = pd.subject_of(cmd)
    for item in prepared.personal:
        pd.check(item)
        if item.ref not in named:
            raise InvalidInputError("personal data sent beside a command must be named by it", rule="IN11")
        if item.subject != subject:
            raise InvalidInputError(f"this command's personal data is about {subject or 'nobody'}", rule="IN11")
    unique = {getattr(cmd, name) for name in getattr(cmd, "PERSONAL_UNIQUE", ())}
    rule = getattr(cmd, "PERSONAL_UNIQUE_RULE", "X1")
    for item in prepared.personal:
        if item.ref in unique and any(_used_as_evidence(uow, o.ref) for o in uow.personal.with_text(item.text)):
            raise RuleViolationError(
                "this evidence already verified a human (one human, one account) or re-bound a key: "
                "fresh evidence only",
                rule=rule,
            )


def _used_as_evidence(uow: UnitOfWork, ref: str) -> bool:
    """Whether a reference is the evidence of an attestation (X1) or of a key re-binding (X9): with
    salted references the same evidence shows only in the off-journal store (IN11)."""
    return uow.records.get("humans", ref) is not None or uow.records.get("key_evidence", ref) is not None

"""Handlers and projectors for the economy's foundation: genesis, policy, identity, ledger."""

from __future__ import annotations

import dataclasses

from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel import payments, personal, state
from civicledger.kernel.canonical import digest
from civicledger.kernel.economy import (
    AdoptRules,
    ChangePolicy,
    EconomyStarted,
    Genesis,
    PolicySet,
    RulesAdopted,
    economy_id_for,
)
from civicledger.kernel.errors import (
    AuthorityError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PolicyFileError,
    RuleViolationError,
)
from civicledger.kernel.identity import GRANT_HINT, Account, AccountId, AccountKind, Consent, Role, account_id_for
from civicledger.kernel.messages import Event, to_wire
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.policy import policy_from_mapping, policy_to_mapping, with_change
from civicledger.kernel.ports import Preload, UnitOfWork
from civicledger.kernel.registry import Context, Decision, ProjectionContext, handles, prefetches, projects
from civicledger.kernel.rules import FIRST_RULES, RULE_VERSIONS

# Economy ---------------------------------------------------------------------------------------


@handles(Genesis)
def start_economy(cmd: Genesis, ctx: Context) -> Decision:
    if ctx.economy is not None or ctx.seq != 0:
        raise RuleViolationError("this store already holds an economy", rule="X1")
    _, problems = policy_from_mapping(cmd.policy)
    if problems:
        raise PolicyFileError([(None, f"{'.'.join(path)}: {text}") for path, text in problems])
    keys = [cmd.council_key, *cmd.governor_keys, *cmd.registrar_keys]
    accounts = [account_id_for(ident.parse_public_key(k)) for k in keys]
    if len(set(accounts)) != len(accounts):
        raise InvalidInputError("the council, governors and registrars need distinct keys", rule="X1")
    if cmd.rules not in RULE_VERSIONS:
        raise InvalidInputError(f"rule version {cmd.rules} is unknown to this release", rule="IN8")
    if not 1 <= cmd.quorum <= len(cmd.governor_keys):
        raise InvalidInputError(f"quorum must be between 1 and {len(cmd.governor_keys)}", rule="X6")
    journal_account = account_id_for(ident.parse_public_key(cmd.journal_key))
    council, governors, registrars = (
        accounts[0],
        accounts[1 : 1 + len(cmd.governor_keys)],
        accounts[1 + len(cmd.governor_keys) :],
    )
    events: list[Event] = [
        EconomyStarted(economy_id_for(to_wire(cmd)), cmd.name, cmd.journal_key, council, ctx.time),
        ident.AccountOpened(council, AccountKind.COUNCIL, cmd.council_key, f"{cmd.name} council"),
    ]
    for i, (account, key) in enumerate(zip(governors, cmd.governor_keys, strict=True)):
        events.append(ident.AccountOpened(account, AccountKind.PERSON, key, f"governor {i + 1}"))
        events.append(ident.RoleGranted(account, Role.GOVERNOR))
    events.append(ident.CouncilFormed(council, frozenset(governors), cmd.quorum))
    for i, (account, key) in enumerate(zip(registrars, cmd.registrar_keys, strict=True)):
        events.append(ident.AccountOpened(account, AccountKind.ORGANIZATION, key, f"registrar {i + 1}"))
        events.append(ident.RoleGranted(account, Role.REGISTRAR))
    # Stored verbatim: re-executing this entry with newer code (which may know more policy
    # sections) must give the same event, and the economy keeps the defaults it started with.
    events.append(PolicySet(1, cmd.policy, ctx.time))
    if cmd.rules != FIRST_RULES:
        events.append(RulesAdopted(cmd.rules, ctx.time))
    return Decision(events, Consent.of(journal_account), new_keys={journal_account: cmd.journal_key})


def governing_consent(ctx: Context) -> Consent:
    economy = ctx.economy
    if economy is None:
        raise RuleViolationError("no economy yet", rule="X1")
    return Consent(quorums=(state.council_quorum(ctx.uow, economy.council),))


@handles(ChangePolicy)
def change_policy(cmd: ChangePolicy, ctx: Context) -> Decision:
    record = state.policy_record(ctx.uow)
    version = record["version"] if record else 0
    base = record["policy"] if record else policy_to_mapping(ctx.policy)
    mapping, problems = with_change(base, tuple(cmd.path.split(".")), cmd.value)
    if problems:
        raise InvalidInputError(f"policy {cmd.path}: {problems[0][1]}", rule="X7")
    return Decision([PolicySet(version + 1, mapping, ctx.time)], governing_consent(ctx))


@handles(AdoptRules)
def adopt_rules(cmd: AdoptRules, ctx: Context) -> Decision:
    economy = ctx.economy
    if economy is None:
        raise RuleViolationError("no economy yet", rule="X1")
    if cmd.version not in RULE_VERSIONS:
        raise InvalidInputError(f"rule version {cmd.version} is unknown to this release", rule="IN8")
    latest, latest_start = economy.rules[-1]
    if cmd.version <= latest:
        raise RuleViolationError(
            f"the economy already adopted rule version {latest}; versions only go forward", rule="IN8"
        )
    if cmd.starts_at < max(ctx.time, latest_start):
        raise RuleViolationError("a rule version starts now or later, never in the past", rule="IN8")
    return Decision([RulesAdopted(cmd.version, cmd.starts_at)], governing_consent(ctx))


@projects(RulesAdopted)
def _rules_adopted(e: RulesAdopted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    info = dict(uow.records.get("economy", "info") or {})
    rules = [list(pair) for pair in info.get("rules", [[FIRST_RULES, info.get("started_at", 0)]])]
    # A version that would start when or after this one does never comes into force: drop it.
    info["rules"] = [*(pair for pair in rules if pair[1] < e.starts_at), [e.version, e.starts_at]]
    uow.records.put("economy", "info", info)


@projects(EconomyStarted)
def _economy_started(e: EconomyStarted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(
        "economy",
        "info",
        {
            "id": e.economy,
            "name": e.name,
            "journal_key": e.journal_key,
            "council": e.council,
            "started_at": e.started_at,
        },
    )


@projects(PolicySet)
def _policy_set(e: PolicySet, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    # The digest lets readers cache the decoded policy without re-encoding it on every read.
    record = {"version": e.version, "policy": e.policy, "effective_at": e.effective_at, "digest": digest(e.policy)}
    uow.records.put("economy", "policy", record)
    uow.records.put("policy", f"{e.version:010d}", record)


# Identity --------------------------------------------------------------------------------------


@handles(ident.OpenAccount)
def open_account(cmd: ident.OpenAccount, ctx: Context) -> Decision:
    account = account_id_for(ident.parse_public_key(cmd.public_key))
    if ctx.uow.records.get("key_bindings", cmd.public_key) is not None:  # only after a rotation (X9)
        raise RuleViolationError("this key is bound to another account", rule="X9")
    if ctx.rules >= personal.PERSONAL_RULES and cmd.kind == AccountKind.PERSON:
        personal.require_ref(cmd.name, "a person's name")
    event = ident.open_account(cmd, ctx.uow.accounts.get(account))
    return Decision([event], Consent.of(account), {"account": account}, new_keys={account: cmd.public_key})


@handles(ident.AttestPerson)
def attest_person(cmd: ident.AttestPerson, ctx: Context) -> Decision:
    uow = ctx.uow
    if ctx.rules >= personal.PERSONAL_RULES:
        personal.require_ref(cmd.human, "the registrar's evidence of a human")
    taken = uow.records.get("humans", cmd.human) is not None
    event = ident.attest_person(cmd, uow.accounts.get(cmd.person), uow.accounts.get(cmd.registrar), taken)
    return Decision([event], Consent.of(cmd.registrar))


@handles(ident.ErasePersonalData)
def erase_personal_data(cmd: ident.ErasePersonalData, ctx: Context) -> Decision:
    """IN11: the person's right to be forgotten; the entry records the erasure, never the data."""
    if ctx.rules < personal.PERSONAL_RULES:
        raise RuleViolationError("erasing personal data needs rule version 3 or later", rule="IN8")
    person = state.require_account(ctx.uow, cmd.person)
    if person.kind != AccountKind.PERSON:
        raise InvalidInputError(f"{cmd.person} is not a person's account", rule="IN11")
    if (cmd.registrar is None) == (cmd.council is None):
        raise InvalidInputError("name either a registrar (with the person) or the council", rule="IN11")
    if cmd.council is not None:
        economy = ctx.economy
        if economy is None or cmd.council != economy.council:
            raise AuthorityError("only the economy's council decides an erasure without the person", rule="IN11")
        consent = governing_consent(ctx)
    else:
        assert cmd.registrar is not None
        registrar = state.require_account(ctx.uow, cmd.registrar)
        if ident.Role.REGISTRAR.value not in registrar.roles:
            raise AuthorityError(
                f"{cmd.registrar} is not a registrar" + GRANT_HINT.format(role="registrar"), rule="IN11"
            )
        consent = Consent.of(cmd.registrar, cmd.person)
    return Decision([ident.PersonalDataErased(cmd.person)], dataclasses.replace(consent, rule="IN11"))


@handles(ident.GrantRole)
def grant_role(cmd: ident.GrantRole, ctx: Context) -> Decision:
    account = state.require_account(ctx.uow, cmd.account)
    if cmd.role in account.roles:
        raise RuleViolationError(f"{cmd.account} already holds the role {cmd.role.value}", rule="X1")
    return Decision([ident.RoleGranted(cmd.account, cmd.role)], governing_consent(ctx))


@handles(ident.RevokeRole)
def revoke_role(cmd: ident.RevokeRole, ctx: Context) -> Decision:
    account = state.require_account(ctx.uow, cmd.account)
    if cmd.role not in account.roles:
        raise RuleViolationError(f"{cmd.account} does not hold the role {cmd.role.value}", rule="X1")
    return Decision([ident.RoleRevoked(cmd.account, cmd.role)], governing_consent(ctx))


@handles(ident.FormCouncil)
def form_council(cmd: ident.FormCouncil, ctx: Context) -> Decision:
    if ctx.uow.records.get("councils", cmd.council) is not None:
        raise RuleViolationError(f"{cmd.council} is already a council", rule="X1")
    exist = all(ctx.uow.accounts.get(m) is not None for m in cmd.members)
    event = ident.form_council(cmd, ctx.uow.accounts.get(cmd.council), exist)
    return Decision([event], Consent(all_of=frozenset({cmd.council, *cmd.members})))


@projects(ident.AccountOpened)
def _account_opened(e: ident.AccountOpened, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.accounts.put(Account(e.account, e.kind, e.public_key, e.name, ctx.time))


@projects(ident.PersonVerified)
def _person_verified(e: ident.PersonVerified, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    account = state.require_account(uow, e.person)
    uow.accounts.put(dataclasses.replace(account, verified=True))
    uow.records.put("humans", e.human, {"person": e.person, "registrar": e.registrar, "at": ctx.time})


@projects(ident.PersonalDataErased)
def _personal_data_erased(e: ident.PersonalDataErased, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    """Delete the off-journal data (IN11); on a rebuild or a copy there may be none left to delete."""
    uow.personal.erase_subject(e.person)
    uow.records.put("erasures", e.person, {"at": ctx.time, "seq": ctx.seq})


@projects(ident.RoleGranted)
def _role_granted(e: ident.RoleGranted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    account = state.require_account(uow, e.account)
    uow.accounts.put(dataclasses.replace(account, roles=account.roles | {e.role.value}))


@projects(ident.RoleRevoked)
def _role_revoked(e: ident.RoleRevoked, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    account = state.require_account(uow, e.account)
    uow.accounts.put(dataclasses.replace(account, roles=account.roles - {e.role.value}))


@projects(ident.CouncilFormed)
def _council_formed(e: ident.CouncilFormed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put("councils", e.council, {"members": sorted(e.members), "quorum": e.quorum, "formed_at": ctx.time})


# Keys (X9): docs/keys.md --------------------------------------------------------------------------
# New commands, so no journal written before them contains one: they are the same at every rule version.


def _keyed_account(ctx: Context, account: AccountId) -> Account:
    return state.require_account(ctx.uow, account, rule="X9")


def _registrar_for(ctx: Context, registrar: AccountId, person: Account) -> None:
    """A registrar acts only for a verified person (X1, X9)."""
    found = ctx.uow.accounts.get(registrar)
    if found is None or Role.REGISTRAR not in found.roles:
        raise AuthorityError(f"{registrar} is not a registrar" + GRANT_HINT.format(role="registrar"), rule="X9")
    if not person.verified:
        raise RuleViolationError(f"{person.id} is not a verified person: a registrar cannot act for it", rule="X9")


def _new_key(ctx: Context, account: Account, public_key: str) -> AccountId:
    holder = account_id_for(ident.parse_public_key(public_key))
    return ident.check_new_key(account, public_key, state.key_taken(ctx.uow, public_key, holder))


@handles(ident.RotateKey)
def rotate_key(cmd: ident.RotateKey, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    holder = _new_key(ctx, account, cmd.public_key)
    event = ident.KeyChanged(cmd.account, cmd.public_key, account.public_key)
    return Decision(
        [event], Consent.of(cmd.account, holder), {"account": cmd.account}, new_keys={holder: cmd.public_key}
    )


@handles(ident.NameGuardians)
def name_guardians(cmd: ident.NameGuardians, ctx: Context) -> Decision:
    _keyed_account(ctx, cmd.account)
    section = ctx.policy.identity
    threshold = cmd.threshold or section.guardian_threshold
    exist = all(ctx.uow.accounts.get(g) is not None for g in cmd.guardians)
    ident.check_guardians(cmd.account, cmd.guardians, threshold, section.max_guardians, exist)
    named_before = state.guardians_of(ctx.uow, cmd.account, ctx.time) is not None
    effective_at = ctx.time + section.recovery_wait if named_before else ctx.time
    event = ident.GuardiansNamed(cmd.account, cmd.guardians, threshold, effective_at)
    result = {"account": cmd.account, "threshold": threshold, "effective_at": effective_at}
    return Decision([event], Consent.of(cmd.account), result)


def _open_recovery(ctx: Context, account: Account, public_key: str) -> AccountId:
    if state.recovery_of(ctx.uow, account.id) is not None:
        raise RuleViolationError(f"{account.id} already has a pending recovery; cancel it first", rule="X9")
    return _new_key(ctx, account, public_key)


@handles(ident.StartRecovery)
def start_recovery(cmd: ident.StartRecovery, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    guardians = state.guardians_of(ctx.uow, cmd.account, ctx.time)
    if guardians is None:
        raise RuleViolationError(f"{cmd.account} named no guardians", rule="X9")
    holder = _open_recovery(ctx, account, cmd.public_key)
    completes_at = ctx.time + ctx.policy.identity.recovery_wait
    event = ident.RecoveryStarted(cmd.account, cmd.public_key, "guardians", None, "", completes_at)
    consent = Consent(all_of=frozenset({holder}), quorums=(guardians.quorum(),), rule="X9")
    result = {"account": cmd.account, "completes_at": completes_at}
    return Decision([event], consent, result, new_keys={holder: cmd.public_key})


@handles(ident.RebindKey)
def rebind_key(cmd: ident.RebindKey, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    _registrar_for(ctx, cmd.registrar, account)
    ident.check_evidence(cmd.evidence)
    if ctx.uow.records.get("humans", cmd.evidence) is not None or ctx.uow.records.get("key_evidence", cmd.evidence):
        raise RuleViolationError("this evidence was used before: a re-binding needs fresh evidence", rule="X9")
    holder = _open_recovery(ctx, account, cmd.public_key)
    completes_at = ctx.time + ctx.policy.identity.recovery_wait
    event = ident.RecoveryStarted(cmd.account, cmd.public_key, "registrar", cmd.registrar, cmd.evidence, completes_at)
    result = {"account": cmd.account, "completes_at": completes_at}
    return Decision([event], Consent.of(cmd.registrar, holder), result, new_keys={holder: cmd.public_key})


@handles(ident.CancelRecovery)
def cancel_recovery(cmd: ident.CancelRecovery, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    if state.recovery_of(ctx.uow, cmd.account) is None:
        raise NotFoundError(f"{cmd.account} has no pending recovery", rule="X9")
    if cmd.registrar is not None:
        _registrar_for(ctx, cmd.registrar, account)
        return Decision([ident.RecoveryCancelled(cmd.account, "registrar")], Consent.of(cmd.registrar))
    if state.is_frozen(ctx.uow, cmd.account):
        raise AuthorityError(f"{cmd.account}'s key is reported stolen: it cannot cancel a recovery", rule="X9")
    return Decision([ident.RecoveryCancelled(cmd.account, "owner")], Consent.of(cmd.account))


@handles(ident.CompleteRecovery)
def complete_recovery(cmd: ident.CompleteRecovery, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    recovery = state.recovery_of(ctx.uow, cmd.account)
    if recovery is None:
        raise NotFoundError(f"{cmd.account} has no pending recovery", rule="X9")
    if ctx.time < recovery.completes_at:
        raise RuleViolationError(
            f"the recovery of {cmd.account} completes at {recovery.completes_at}, not before (now {ctx.time})",
            rule="X9",
        )
    if recovery.by == "registrar" and recovery.registrar is not None:
        registrar = ctx.uow.accounts.get(recovery.registrar)
        if registrar is None or Role.REGISTRAR not in registrar.roles:
            # The council revoked the registrar during the wait: its re-binding lapses (IN7: it does not stall).
            return Decision([ident.RecoveryCancelled(cmd.account, "lapsed")], Consent(), {"account": cmd.account})
    holder = account_id_for(ident.parse_public_key(recovery.public_key))
    if state.key_taken(ctx.uow, recovery.public_key, holder):
        raise RuleViolationError("the recovery's key was bound to another account meanwhile; cancel it", rule="X9")
    events: list[Event] = [
        ident.RecoveryCompleted(cmd.account, recovery.public_key),
        ident.KeyChanged(cmd.account, recovery.public_key, account.public_key),
    ]
    if state.is_frozen(ctx.uow, cmd.account):
        events.append(ident.AccountUnfrozen(cmd.account))
    return Decision(events, Consent(), {"account": cmd.account})


@handles(ident.ReportStolen)
def report_stolen(cmd: ident.ReportStolen, ctx: Context) -> Decision:
    account = _keyed_account(ctx, cmd.account)
    if state.is_frozen(ctx.uow, cmd.account):
        raise RuleViolationError(f"{cmd.account} is already frozen", rule="X9")
    if cmd.registrar is not None:
        _registrar_for(ctx, cmd.registrar, account)
        by, consent = "registrar", Consent.of(cmd.registrar)
    elif cmd.account in ctx.signers:
        by, consent = "owner", Consent.of(cmd.account)
    else:
        guardians = state.guardians_of(ctx.uow, cmd.account, ctx.time)
        if guardians is None:
            raise AuthorityError(f"only {cmd.account} itself or a registrar may report its key stolen", rule="X9")
        by, consent = "guardians", Consent(quorums=(guardians.quorum(),), rule="X9")
    return Decision([ident.AccountFrozen(cmd.account, by)], consent, {"account": cmd.account})


@projects(ident.KeyChanged)
def _key_changed(e: ident.KeyChanged, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    account = state.require_account(uow, e.account)
    uow.accounts.put(dataclasses.replace(account, public_key=e.public_key))
    uow.records.put("key_bindings", e.public_key, {"account": e.account, "at": ctx.time, "seq": ctx.seq})
    before = uow.records.get("key_history", e.account) or {"keys": []}
    keys = [*before["keys"], {"public_key": e.public_key, "from": ctx.time, "seq": ctx.seq}]
    uow.records.put("key_history", e.account, {"keys": keys})


@projects(ident.GuardiansNamed)
def _guardians_named(e: ident.GuardiansNamed, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    named = {"members": list(e.guardians), "threshold": e.threshold, "effective_at": e.effective_at}
    in_force = state.guardians_of(uow, e.account, ctx.time)
    if in_force is None or e.effective_at <= ctx.time:
        uow.records.put("key_guardians", e.account, named)
        return
    current = {"members": list(in_force.members), "threshold": in_force.threshold}
    uow.records.put("key_guardians", e.account, {**current, "pending": named})


def _drop_pending_guardians(uow: UnitOfWork, account: AccountId, at: int) -> None:
    """A freeze or a completed recovery drops a change of guardians not yet in force (X9): it may
    be a thief's, made with the stolen key to shut the guardians out."""
    if state.pending_guardians(uow, account, at) is None:
        return
    in_force = state.guardians_of(uow, account, at)
    assert in_force is not None
    uow.records.put("key_guardians", account, {"members": list(in_force.members), "threshold": in_force.threshold})


@projects(ident.RecoveryStarted)
def _recovery_started(e: ident.RecoveryStarted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    record = {
        "public_key": e.public_key,
        "by": e.by,
        "registrar": e.registrar,
        "started_at": ctx.time,
        "completes_at": e.completes_at,
    }
    uow.records.put("key_recoveries", e.account, record)
    if e.evidence:
        uow.records.put("key_evidence", e.evidence, {"account": e.account, "registrar": e.registrar, "at": ctx.time})


@projects(ident.RecoveryCancelled)
def _recovery_cancelled(e: ident.RecoveryCancelled, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.delete("key_recoveries", e.account)


@projects(ident.RecoveryCompleted)
def _recovery_completed(e: ident.RecoveryCompleted, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.delete("key_recoveries", e.account)
    _drop_pending_guardians(uow, e.account, ctx.time)


def _count_frozen(uow: UnitOfWork, delta: int) -> None:
    count = uow.records.get("keys", "frozen") or {"count": 0}
    uow.records.put("keys", "frozen", {"count": int(count["count"]) + delta})


@projects(ident.AccountFrozen)
def _account_frozen(e: ident.AccountFrozen, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.put(state.FROZEN, e.account, {"by": e.by, "at": ctx.time})
    _count_frozen(uow, 1)
    _drop_pending_guardians(uow, e.account, ctx.time)


@projects(ident.AccountUnfrozen)
def _account_unfrozen(e: ident.AccountUnfrozen, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.records.delete(state.FROZEN, e.account)
    _count_frozen(uow, -1)


# Ledger ----------------------------------------------------------------------------------------

_ISSUER_KINDS = {AccountKind.ORGANIZATION, AccountKind.COUNCIL, AccountKind.FUND}


@handles(led.CreateCurrency)
def create_currency(cmd: led.CreateCurrency, ctx: Context) -> Decision:
    symbol = led.parse_symbol(cmd.symbol)
    if symbol.startswith(ident.ACCOUNT_ID_PREFIX) and len(symbol) == 34:
        raise InvalidInputError("a currency symbol may not look like an account id", rule="X3")
    issuer = state.require_account(ctx.uow, cmd.issuer)
    if issuer.kind not in _ISSUER_KINDS:
        raise RuleViolationError(f"a {issuer.kind.value} cannot issue a currency by command", rule="X3")
    if ctx.uow.ledger.currency(symbol) is not None:
        raise RuleViolationError(f"currency {symbol} already exists", rule="X3")
    if len(cmd.name) > 200:
        raise InvalidInputError("a currency name has at most 200 characters", rule="X3")
    event = led.CurrencyCreated(
        symbol,
        led.CurrencyKind.ISSUED,
        cmd.issuer,
        led.IssuerRule.ISSUER_COMMAND,
        led.check_decimals(cmd.decimals),
        cmd.name,
    )
    return Decision([event], Consent.of(cmd.issuer), {"currency": symbol})


@handles(led.Issue)
def issue(cmd: led.Issue, ctx: Context) -> Decision:
    currency = state.require_currency(ctx.uow, cmd.currency)
    state.require_account(ctx.uow, cmd.to)
    event = led.issue(
        currency, cmd.to, cmd.units, led.IssuerRule.ISSUER_COMMAND, ctx.uow.ledger.balance(cmd.to, currency.id)
    )
    return Decision([event], Consent.of(currency.issuer))


@handles(led.Burn)
def burn(cmd: led.Burn, ctx: Context) -> Decision:
    currency = state.require_currency(ctx.uow, cmd.currency)
    book = payments.Payments(ctx.uow, ctx.time, ctx.rules)  # a holding that loses value settles first (IN4)
    settled = book.settle(cmd.account, currency.id)
    event = led.burn(currency, cmd.account, cmd.units, book.balance(cmd.account, currency.id))
    return Decision([*settled, event], Consent.of(cmd.account))


@handles(led.Transfer)
def transfer(cmd: led.Transfer, ctx: Context) -> Decision:
    led.check_memo(cmd.memo, rule="X3")
    events = payments.transfer(ctx.uow, cmd.legs, ctx.time, ctx.rules)
    return Decision(list(events), Consent(all_of=led.debited_accounts(cmd.legs)))


@prefetches(led.Transfer)
def _prefetch_transfers(commands: list[led.Transfer]) -> Preload:
    legs = [leg for cmd in commands for leg in cmd.legs]
    return Preload(
        accounts=[a for leg in legs for a in (leg.source, leg.target)],
        balances=led.balance_keys(legs),
        currencies=sorted({leg.currency for leg in legs}),
    )


def _add_balance(uow: UnitOfWork, account: AccountId, currency: CurrencyId, delta: int) -> None:
    units = uow.ledger.balance(account, currency) + delta
    if units < 0:
        raise IntegrityError(f"{account} would hold {units} {currency}: no balance goes below zero", rule="X3")
    uow.ledger.set_balance(account, currency, units)


@projects(led.CurrencyCreated)
def _currency_created(e: led.CurrencyCreated, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    uow.ledger.put_currency(led.Currency(e.currency, e.kind, e.issuer, e.rule, e.decimals, e.name))


@projects(led.UnitsIssued)
def _units_issued(e: led.UnitsIssued, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    currency = state.require_currency(uow, e.currency)
    uow.ledger.put_currency(dataclasses.replace(currency, issued=currency.issued + e.units))
    _add_balance(uow, e.account, e.currency, e.units)


@projects(led.UnitsBurned)
def _units_burned(e: led.UnitsBurned, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    currency = state.require_currency(uow, e.currency)
    uow.ledger.put_currency(dataclasses.replace(currency, burned=currency.burned + e.units))
    _add_balance(uow, e.account, e.currency, -e.units)


@projects(led.UnitsTransferred)
def _units_transferred(e: led.UnitsTransferred, uow: UnitOfWork, ctx: ProjectionContext) -> None:
    _add_balance(uow, e.source, e.currency, -e.units)
    _add_balance(uow, e.target, e.currency, e.units)

"""Foundation commands: init, verify, export, rebuild, keys, accounts, the ledger, policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from civicledger.adapters import parallel_verify
from civicledger.adapters.clock import WallClock
from civicledger.adapters.crypto import Ed25519Verifier, KeyPair
from civicledger.adapters.headmark import HeadMarkFile, RollbackGuard
from civicledger.adapters.keystore import load_or_create, save_key
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.policy_file import load_policy_file, policy_to_toml
from civicledger.adapters.stores import open_store
from civicledger.cli.app import IdOption, KeyOption, Session, Submission, app, session, settings_of, submit
from civicledger.cli.output import amounts, emit, fail, json_mode
from civicledger.kernel import audit, payments, personal, state
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.bootstrap import genesis_command
from civicledger.kernel.canonical import JSONValue, parse_json
from civicledger.kernel.economy import AdoptRules, ChangePolicy
from civicledger.kernel.engine import Engine
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError, NotFoundError, RuleViolationError
from civicledger.kernel.identity import AccountKind, Role
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.rules import FIRST_RULES, LATEST_RULES, describe
from civicledger.kernel.state import economy_info
from civicledger.kernel.time import format_instant, parse_instant

keys_app = typer.Typer(help="Ed25519 key files.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts, verified persons and roles (X1).", no_args_is_help=True)
ledger_app = typer.Typer(help="Currencies, issuance and atomic transfers (X3).", no_args_is_help=True)
policy_app = typer.Typer(help="The economy's policy (X7).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(account_app, name="account")
app.add_typer(ledger_app, name="ledger")
app.add_typer(policy_app, name="policy")


@app.command()
def init(
    ctx: typer.Context,
    policy_file: Annotated[Path, typer.Argument(help="The economy's policy, in TOML.")],
    governors: Annotated[int, typer.Option(help="How many governor keys to create.")] = 1,
    quorum: Annotated[int, typer.Option(help="Governor signatures a council decision needs.")] = 1,
    rules: Annotated[
        int, typer.Option(help="The rule version to start with (IN8); the newest this release knows by default.")
    ] = LATEST_RULES,
) -> None:
    """Create an economy from a policy file; every problem in the file is listed, nothing written."""
    settings = settings_of(ctx)
    try:
        policy, mapping = load_policy_file(policy_file)
        key_dir = settings.key_dir()
        store = open_store(settings.db_url(), create=True)
        try:
            engine_probe = store.read()
            with engine_probe as uow:
                if economy_info(uow) is not None:
                    raise RuleViolationError("this store already holds an economy", rule="X1")
            journal = load_or_create(key_dir, "journal")
            council = load_or_create(key_dir, "council")
            govs = [load_or_create(key_dir, f"governor-{i + 1}") for i in range(governors)]
            registrar = load_or_create(key_dir, "registrar-1")
            clock = WallClock()
            engine = Engine(store, clock, Ed25519Verifier(), journal)
            guard = RollbackGuard(store, HeadMarkFile.beside_key(key_dir))
            guard.check()  # IN12: this journal key already signed a journal elsewhere: no second one
            receipt = engine.execute(
                genesis_command(
                    name=policy.economy.name,
                    policy=mapping,
                    journal=journal,
                    council=council,
                    governors=govs,
                    registrars=[registrar],
                    quorum=quorum,
                    at=clock.now(),
                    rules=rules,
                )
            )
            guard.record()
            info = engine.economy()
        finally:
            store.close()
    except CivicLedgerError as e:
        fail(ctx, e)
    assert info is not None
    emit(
        ctx,
        {"economy": info.id, "name": info.name, "db": settings.db_url(), "keys": str(key_dir), "seq": receipt.seq},
        lambda c: c.print(
            f"economy [bold]{info.name}[/] ({info.id}) created in {settings.db_url()}; keys in {key_dir}"
        ),
    )


@app.command()
def verify(
    ctx: typer.Context,
    export: Annotated[Path | None, typer.Option("--export", help="Check an export file, with no database.")] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Check a served journal's checkpoint (GET <url>/checkpoint).")
    ] = None,
    witness: Annotated[
        list[str] | None, typer.Option("--witness", help="A witness's verifier key (repeatable; with --url).")
    ] = None,
    witnesses_required: Annotated[
        int, typer.Option("--witnesses-required", help="Cosignatures required of the --witness keys (k of n).")
    ] = 0,
    log_vkey: Annotated[
        str | None, typer.Option("--log-vkey", help="The journal's verifier key (default: the one the server names).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Verify only entries new since the last run, keeping the verified state in DIR."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Processes checking signatures ahead of the replay (default: every core)."
        ),
    ] = None,
) -> None:
    """Check every signature, hash, tree head and invariant, and that replay equals the stored state;
    with ``--url``, check a served journal's checkpoint and its witnesses' cosignatures (IN12);
    with ``--state``, only the entries added since the last run (see ``civic monitor``)."""
    if state is not None:
        from civicledger.cli.monitor import verify_with_state

        if url is not None or export is not None:
            fail(
                ctx,
                InvalidInputError("--state verifies the local database; follow a served journal with `civic monitor`"),
            )

        verify_with_state(ctx, state)
        return
    if url is not None:
        _verify_checkpoint(ctx, url, witness or [], witnesses_required, log_vkey)
        return
    if export is not None:
        report = audit.verify_export(export, Ed25519Verifier(), MemoryStore, parallel_verify.with_workers(workers))
    else:
        with session(ctx, need_journal_key=False) as s:
            report = audit.verify_store(s.store, Ed25519Verifier(), MemoryStore, parallel_verify.with_workers(workers))

    def human(c: object) -> None:
        from civicledger.cli.output import console

        if report.ok:
            console.print(f"[green]verified[/]: {report.entries} entries, root {report.root}")
        else:
            where = f"entry {report.bad_seq}" if report.bad_seq is not None else "journal"
            console.print(f"[bold red]verification failed[/] at {where}: {report.reason}")

    emit(ctx, report.to_wire(), human)
    raise typer.Exit(0 if report.ok else 1)


def _verify_checkpoint(ctx: typer.Context, url: str, witnesses: list[str], required: int, log_vkey: str | None) -> None:
    """Fetch the checkpoint and refuse it without ``required`` valid cosignatures (exit 1)."""
    import urllib.request

    from civicledger.kernel.checkpoint import VerifierKey, note_key, parse_note, verify_witnessed
    from civicledger.kernel.errors import IntegrityError

    base = url.rstrip("/")
    try:
        keys = [VerifierKey.parse(w) for w in witnesses]
        with urllib.request.urlopen(f"{base}/checkpoint", timeout=10) as response:
            data = response.read(1 << 16)
        if log_vkey is not None:
            log = VerifierKey.parse(log_vkey)
        else:
            with urllib.request.urlopen(f"{base}/api/economy", timeout=10) as response:
                economy = json.loads(response.read(1 << 20))
            origin = parse_note(data).text.split("\n", 1)[0]
            log = note_key(origin, bytes.fromhex(str(economy["journal_key"])))
        result = verify_witnessed(data, log, keys, required, Ed25519Verifier())
    except (OSError, ValueError, KeyError) as e:
        fail(ctx, IntegrityError(f"could not read the checkpoint at {base}: {e}", rule="X2"))
    except CivicLedgerError as e:
        if json_mode(ctx):
            emit(ctx, {"ok": False, "url": base, "reason": e.message, "rule": e.rule})
        else:
            from civicledger.cli.output import err_console

            err_console.print(f"[bold red]checkpoint refused[/] ({e.rule}): {e.message}")
        raise typer.Exit(1) from None
    report = {
        "ok": True,
        "url": base,
        "origin": result.checkpoint.origin,
        "size": result.checkpoint.size,
        "root": result.checkpoint.root.hex(),
        "witnesses": list(result.witnesses),
    }

    def human(c: object) -> None:
        from civicledger.cli.output import console

        console.print(
            f"[green]checkpoint verified[/]: {result.checkpoint.size} entries, cosigned by "
            f"{len(result.witnesses)} of {len(keys)} witnesses (required {required})"
        )

    emit(ctx, report, human)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: standard output).")] = None,
) -> None:
    """Write the journal as JSON lines: each entry with its leaf hash and signed tree head."""
    with session(ctx, need_journal_key=False) as s:
        if out is None:
            audit.export_journal(s.store, sys.stdout)
            return
        with out.open("w", encoding="utf-8") as f:
            count = audit.export_journal(s.store, f)
    if out is not None:
        emit(ctx, {"entries": count, "file": str(out)}, lambda c: c.print(f"{count} entries written to {out}"))


@app.command()
def rebuild(ctx: typer.Context) -> None:
    """Rebuild every projection from the journal; the state must come out byte-identical."""
    with session(ctx, need_journal_key=False) as s:
        before, after = audit.rebuild(s.store)
    same = before == after
    emit(
        ctx,
        {"before": before, "after": after, "identical": same},
        lambda c: c.print(f"rebuilt; state digest {after} ({'identical' if same else 'CHANGED'})"),
    )
    raise typer.Exit(0 if same else 1)


@keys_app.command("new")
def keys_new(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the key file.")]) -> None:
    """Create an Ed25519 key pair; prints its public key and account id."""
    try:
        key = KeyPair.generate(name)
        path = save_key(settings_of(ctx).key_dir(), key)
    except CivicLedgerError as e:
        fail(ctx, e)
    emit(
        ctx,
        {"name": name, "public_key": key.public_hex, "account": key.account, "file": str(path)},
        lambda c: c.print(f"key [bold]{name}[/]: account {key.account}\n  public key {key.public_hex}\n  file {path}"),
    )


@account_app.command("open")
def account_open(
    ctx: typer.Context,
    key: Annotated[str, typer.Option("--key", "-k", help="The new account's key.")],
    kind: Annotated[AccountKind, typer.Option(help="Account kind.")] = AccountKind.PERSON,
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    command_id: IdOption = None,
) -> None:
    """Open an account for a key (signed by that key)."""
    submit(ctx, lambda s: (ident.OpenAccount(kind, s.key(key).public_hex, name), [key]), command_id)


@account_app.command("attest")
def account_attest(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="Account id of the person.")],
    human: Annotated[
        str,
        typer.Option(
            help="The registrar's evidence of the human; from rule version 3 it is kept off the journal, "
            "which carries only its salted digest (IN11)."
        ),
    ],
    registrar: Annotated[str, typer.Option("--key", "-k", help="The registrar's key.")] = "registrar-1",
    command_id: IdOption = None,
) -> None:
    """A registrar attests a verified person (one human, one account)."""

    def build(s: Session) -> Submission:
        reg = s.key(registrar)
        return ident.AttestPerson(ident.parse_account_id(person), reg.account, human), [registrar]

    submit(ctx, build, command_id)


@account_app.command("grant")
def account_grant(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Argument()],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Grant a role; signed by a quorum of the governing council."""
    submit(ctx, lambda s: (ident.GrantRole(ident.parse_account_id(account), role), keys), command_id)


@account_app.command("erase")
def account_erase(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The person's account id (or key name).")],
    keys: KeyOption,
    registrar: Annotated[
        str | None, typer.Option(help="The registrar who signs with the person (their key among --key).")
    ] = None,
    council: Annotated[
        bool, typer.Option("--council", help="A council decision: --key a quorum of governors.")
    ] = False,
    command_id: IdOption = None,
) -> None:
    """Erase a person's off-journal personal data (IN11): a registrar and the person sign, or a
    council quorum; the journal records the erasure and still verifies."""

    def build(s: Session) -> Submission:
        person = s.account(account)
        if council:
            info = s.engine.economy()
            assert info is not None
            return ident.ErasePersonalData(person, council=info.council), keys
        if registrar is None:
            raise InvalidInputError("name --registrar (who signs with the person) or --council", rule="IN11")
        return ident.ErasePersonalData(person, registrar=s.account(registrar)), keys

    submit(ctx, build, command_id)


@account_app.command("show")
def account_show(ctx: typer.Context, account: Annotated[str, typer.Argument()]) -> None:
    """An account and its balances."""
    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        found_id = s.account(account)  # an id, or the account of a key of that name
        found = uow.accounts.get(found_id)
        if found is None:
            fail(ctx, NotFoundError(f"no account {found_id}: open it with `civic account open --key NAME`", rule="X1"))
        # each holding at its worth now (IN4: Circles v2 demurrage); a read writes nothing
        now = max(s.clock.now(), uow.journal.head().time)
        holdings = payments.worth(uow, found.id, uow.ledger.holdings(found.id), now)
        guardians = state.guardians_of(uow, found.id, now)
        recovery = state.recovery_of(uow, found.id)
        frozen = state.is_frozen(uow, found.id)
        name = personal.reveal(uow.personal, found.name)  # IN11: off the journal, or "erased"
        money = amounts(uow)
    data = {
        "account": found.id,
        "kind": found.kind.value,
        "name": name,
        "verified": found.verified,
        "roles": sorted(found.roles),
        "balances": holdings,
        "public_key": found.public_key,  # the key in force (X9)
        "frozen": frozen,
        "guardians": {"members": list(guardians.members), "threshold": guardians.threshold} if guardians else None,
        "recovery": {"public_key": recovery.public_key, "by": recovery.by, "completes_at": recovery.completes_at}
        if recovery
        else None,
    }

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        table = Table(title=f"account {found.id}", show_header=False)
        table.add_column("field")
        table.add_column("value")
        table.add_row("name", str(name) or "-")
        table.add_row("kind", found.kind.value)
        table.add_row("verified", "yes" if found.verified else "no")
        table.add_row("roles", ", ".join(sorted(found.roles)) or "-")
        table.add_row("public key", found.public_key)
        table.add_row("frozen", "yes" if frozen else "no")
        if guardians:
            table.add_row("guardians", f"{guardians.threshold} of {', '.join(guardians.members)}")
        if recovery:
            table.add_row(
                "recovery", f"to key {recovery.public_key}, completes {format_instant(recovery.completes_at)}"
            )
        out.print(table)
        balances = Table("currency", title="balances")
        balances.add_column("balance", justify="right")
        for currency, units in sorted(holdings.items()):
            balances.add_row(currency, money(currency, units))
        out.print(balances if holdings else "no balances")

    emit(ctx, data, human)


@ledger_app.command("create-currency")
def ledger_create_currency(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument()],
    issuer: Annotated[str, typer.Option("--key", "-k", help="The issuer's key.")],
    name: Annotated[str, typer.Option()] = "",
    decimals: Annotated[int, typer.Option()] = 2,
    command_id: IdOption = None,
) -> None:
    """Create a currency issued by command of its issuer."""
    submit(
        ctx,
        lambda s: (led.CreateCurrency(symbol, s.key(issuer).account, name or symbol, decimals), [issuer]),
        command_id,
    )


@ledger_app.command("issue")
def ledger_issue(
    ctx: typer.Context,
    currency: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Argument(help="Recipient account id.")],
    units: Annotated[int, typer.Argument(help="Minor units.")],
    issuer: Annotated[str, typer.Option("--key", "-k", help="The issuer's key.")],
    command_id: IdOption = None,
) -> None:
    """Issue units of a currency (only its issuer can)."""
    submit(ctx, lambda s: (led.Issue(CurrencyId(currency), ident.parse_account_id(to), units), [issuer]), command_id)


@ledger_app.command("transfer")
def ledger_transfer(
    ctx: typer.Context,
    currency: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Argument(help="Recipient account id.")],
    units: Annotated[int, typer.Argument(help="Minor units.")],
    sender: Annotated[str, typer.Option("--key", "-k", help="The sender's key.")],
    memo: Annotated[str, typer.Option()] = "",
    command_id: IdOption = None,
) -> None:
    """Transfer units (a one-leg atomic transfer)."""

    def build(s: Session) -> Submission:
        leg = led.Leg(CurrencyId(currency), s.key(sender).account, ident.parse_account_id(to), units)
        return led.Transfer((leg,), memo), [sender]

    submit(ctx, build, command_id)


@ledger_app.command("supply")
def ledger_supply(ctx: typer.Context) -> None:
    """Every currency with issued, burned and the sum of balances (X3)."""
    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        sums = uow.ledger.sums_by_currency()
        money = amounts(uow)
        rows = [
            {
                "currency": c.id,
                "kind": c.kind.value,
                "issued": c.issued,
                "burned": c.burned,
                "balances": sums.get(c.id, 0),
            }
            for c in uow.ledger.currencies()
        ]

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        table = Table("currency", "kind")
        for column in ("issued", "burned", "sum of balances"):
            table.add_column(column, justify="right")
        for r in rows:
            c = str(r["currency"])
            issued, burned, held = (int(r[k]) for k in ("issued", "burned", "balances"))
            table.add_row(c, str(r["kind"]), money(c, issued), money(c, burned), money(c, held))
        out.print(table)

    emit(ctx, rows, human)


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Dotted policy key, e.g. journal.signature_max_age.")],
    value: Annotated[str, typer.Argument(help='New value (JSON: 300, true, "5%").')],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Change one policy value from now on; needs the governing council's quorum."""
    submit(ctx, lambda s: (ChangePolicy(path, _policy_value(value)), keys), command_id)


def _policy_value(value: str) -> JSONValue:
    """The value as JSON if it is JSON, with one reading only (IN10: no key twice, no NaN), else the text."""
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return value
    return parse_json(value, nul=False)


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    toml: Annotated[
        Path | None,
        typer.Option("--toml", help="Also write the policy in force as a TOML file `civic init` accepts (X7)."),
    ] = None,
) -> None:
    """The rule version and the policy in force, and since when (X7, IN8); one row per value."""
    from civicledger.kernel.state import policy_record

    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        record = policy_record(uow)
        info = economy_info(uow)
    adopted = info.rules if info is not None else ()
    in_force = info.rules_at(s.clock.now()) if info is not None else FIRST_RULES
    since = max((t for v, t in adopted if v == in_force), default=0)
    rules = {
        "version": in_force,
        "since": since,
        "meaning": describe(in_force),
        "adopted": [{"version": v, "starts_at": t} for v, t in adopted],
        "latest_known": LATEST_RULES,
    }
    data = {**(record or {}), "rules": rules}
    if toml is not None and record:
        name = str(record["policy"].get("economy", {}).get("name", ""))  # type: ignore[union-attr]
        header = (
            f"The policy of {name} in force since {format_instant(record['effective_at'])} "
            f"(policy version {record['version']}),\nwritten by `civic policy show --toml`. Start a new economy "
            "from it with `civic init FILE`;\nchange one value of this economy with `civic policy set KEY VALUE`.\n"
            "examples/economy.toml explains every section."
        )
        try:
            toml.write_text(policy_to_toml(record["policy"], header), encoding="utf-8")
        except OSError as e:
            fail(ctx, InvalidInputError(f"cannot write {toml}: {e}", rule="X7"))
        data["toml"] = str(toml)

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        out.print(f"[bold]Rule version {in_force}[/] in force since {format_instant(since)}: {describe(in_force)}")
        for v, t in adopted:
            if t > since:
                out.print(f"  version {v} adopted, starts {format_instant(t)}")
        if in_force < LATEST_RULES:
            out.print(f"  this release knows rule version {LATEST_RULES}; see docs/upgrades.md to move to it")
        if record:
            table = Table(
                "key",
                "value",
                title=f"Policy version {record['version']} in force since {format_instant(record['effective_at'])}",
            )
            for key, value in flatten_policy(record["policy"]):
                table.add_row(key, value)
            out.print(table)
        if toml is not None:
            out.print(f"policy written to {toml}" if record else "no policy in force: nothing written")

    emit(ctx, data, human)


@policy_app.command("adopt-rules")
def policy_adopt_rules(
    ctx: typer.Context,
    version: Annotated[int, typer.Argument(help="The rule version to move to (civic policy show names the latest).")],
    starts: Annotated[str, typer.Option("--starts", help="When it starts (ISO 8601, UTC); now or later.")],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Move the economy to a newer rule version from a given time on (IN8); needs the council's quorum."""
    submit(ctx, lambda s: (AdoptRules(version, parse_instant(starts)), keys), command_id)


def flatten_policy(policy: JSONValue, prefix: str = "") -> list[tuple[str, str]]:
    """One (dotted key, value) row per policy value, as ``civic policy set`` names them."""
    if isinstance(policy, dict):
        return [row for k, v in policy.items() for row in flatten_policy(v, f"{prefix}.{k}" if prefix else k)]
    text = ", ".join(str(v) for v in policy) if isinstance(policy, list) else json.dumps(policy)
    return [(prefix, text)]

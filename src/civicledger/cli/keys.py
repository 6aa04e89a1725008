"""Keys that change while accounts stay (X9): `civic keys rotate`, `civic account guardians`,
`civic account recover start|cancel|complete|rebind`, `civic account freeze`. docs/keys.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from civicledger.adapters.crypto import KeyPair
from civicledger.adapters.keystore import key_path, retire_key, save_key
from civicledger.cli.app import IdOption, KeyOption, Session, session, settings_of, show_receipt
from civicledger.cli.core import account_app, keys_app
from civicledger.cli.output import emit, fail
from civicledger.kernel import identity as ident
from civicledger.kernel.engine import Receipt
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.messages import Command

recover_app = typer.Typer(help="Recover an account whose key is lost or stolen (X9).", no_args_is_help=True)
account_app.add_typer(recover_app, name="recover")

NewKeyOption = Annotated[
    str, typer.Option("--new-key", help="Name of the key file to create for the account (it signs too).")
]


def _run(s: Session, command: Command, keys: list[KeyPair], command_id: str | None) -> Receipt:
    return s.send(command, keys, command_id)


def _fresh_key(s: Session, name: str, account: AccountId) -> KeyPair:
    """A new key saved under ``name`` for ``account`` (it becomes the account's key once the change
    completes); refused if a key file of that name exists, so no key is ever overwritten."""
    key = KeyPair.generate(name, account)
    save_key(s.settings.key_dir(), key)
    return key


def _with_new_key(
    s: Session,
    name: str,
    account: AccountId,
    command: Callable[[KeyPair], Command],
    keys: list[KeyPair],
    cid: str | None,
) -> tuple[KeyPair, Receipt]:
    """Save a new key under ``name``, send the command that installs it, signed by ``keys`` and by
    the new key (proof of possession); a refused command leaves no key file behind."""
    new = _fresh_key(s, name, account)
    try:
        return new, _run(s, command(new), [*keys, new.proving()], cid)
    except CivicLedgerError:
        key_path(s.settings.key_dir(), name).unlink()
        raise


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the key file whose account gets a new key.")],
    command_id: IdOption = None,
) -> None:
    """Give the key's account a new key at once (signed by the old key and the new one). The file
    NAME keeps the account with the new key; the old key is kept as NAME.retired-N."""
    directory = settings_of(ctx).key_dir()
    with session(ctx) as s:
        old = s.key(name)
        pending = f"{name}.pending"
        if key_path(directory, pending).exists():
            fail(ctx, InvalidInputError(f"a rotation of {name} is unfinished: see {pending}.key", rule="X9"))
        new, receipt = _with_new_key(
            s, pending, old.account, lambda k: ident.RotateKey(old.account, k.public_hex), [old], command_id
        )
        retired = retire_key(directory, name)
        save_key(directory, new.renamed(name))
        key_path(directory, pending).unlink()
    data = {"receipt": receipt.to_wire(), "account": old.account, "public_key": new.public_hex, "retired": str(retired)}
    emit(
        ctx,
        data,
        lambda c: c.print(
            f"account {old.account} now signs with key [bold]{name}[/] ({new.public_hex})\n"
            f"  the old key is kept as {retired}"
        ),
    )


@account_app.command("guardians")
def account_guardians(
    ctx: typer.Context,
    guardians: Annotated[list[str], typer.Argument(help="The guardians' account ids or key names.")],
    key: Annotated[str, typer.Option("--key", "-k", help="The owner's key.")],
    threshold: Annotated[int, typer.Option(help="How many guardians must sign (0: the policy's default).")] = 0,
    command_id: IdOption = None,
) -> None:
    """Name the guardians, k of whom may start a recovery or report the key stolen."""
    with session(ctx) as s:
        owner = s.key(key)
        command = ident.NameGuardians(owner.account, tuple(s.account(g) for g in guardians), threshold)
        receipt = _run(s, command, [owner], command_id)
    show_receipt(ctx, receipt)


@recover_app.command("start")
def recover_start(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account to recover (id or key name).")],
    new_key: NewKeyOption,
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Guardians (k of them, --key each) start a recovery to a new key; it completes after the
    policy's waiting period unless the key in force cancels it."""
    with session(ctx) as s:
        target = s.account(account)
        signers = [s.key(k) for k in keys]
        _, receipt = _with_new_key(
            s, new_key, target, lambda k: ident.StartRecovery(target, k.public_hex), signers, command_id
        )
    show_receipt(ctx, receipt)


@recover_app.command("rebind")
def recover_rebind(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The verified person's account (id or key name).")],
    new_key: NewKeyOption,
    evidence: Annotated[str, typer.Option(help="Digest of the fresh evidence the registrar checked.")],
    registrar: Annotated[str, typer.Option("--key", "-k", help="The registrar's key.")] = "registrar-1",
    command_id: IdOption = None,
) -> None:
    """A registrar re-binds a verified person to a new key on fresh evidence (after the waiting period)."""
    with session(ctx) as s:
        target = s.account(account)
        reg = s.key(registrar)
        _, receipt = _with_new_key(
            s,
            new_key,
            target,
            lambda k: ident.RebindKey(target, reg.account, k.public_hex, evidence),
            [reg],
            command_id,
        )
    show_receipt(ctx, receipt)


@recover_app.command("cancel")
def recover_cancel(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account (id or key name).")],
    key: Annotated[str, typer.Option("--key", "-k", help="The account's key in force, or a registrar's key.")],
    registrar: Annotated[bool, typer.Option("--registrar", help="The key is a registrar's.")] = False,
    command_id: IdOption = None,
) -> None:
    """Cancel a pending recovery: by the key in force, or by a registrar for a verified person."""
    with session(ctx) as s:
        signer = s.key(key)
        command = ident.CancelRecovery(s.account(account), signer.account if registrar else None)
        receipt = _run(s, command, [signer], command_id)
    show_receipt(ctx, receipt)


@recover_app.command("complete")
def recover_complete(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account (id or key name).")],
    key: Annotated[str, typer.Option("--key", "-k", help="Any account's key: anyone may complete it.")],
    command_id: IdOption = None,
) -> None:
    """Complete a recovery after its waiting period: the new key is in force, a freeze is lifted."""
    with session(ctx) as s:
        receipt = _run(s, ident.CompleteRecovery(s.account(account)), [s.key(key)], command_id)
    show_receipt(ctx, receipt)


@account_app.command("freeze")
def account_freeze(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account whose key is stolen (id or key name).")],
    keys: KeyOption,
    registrar: Annotated[bool, typer.Option("--registrar", help="The (one) key is a registrar's.")] = False,
    command_id: IdOption = None,
) -> None:
    """Report the account's key stolen: signed by the key itself, by k guardians, or by a registrar.
    Nothing the account must sign goes through until a recovery completes."""
    with session(ctx) as s:
        signers = [s.key(k) for k in keys]
        command = ident.ReportStolen(s.account(account), signers[0].account if registrar else None)
        receipt = _run(s, command, signers, command_id)
    show_receipt(ctx, receipt)


__all__ = ["recover_app"]

"""``pcompile proxy-auth create|list|delete [--stack S]``: tokens for proxy-auth web endpoints.

Web endpoints with ``requires_proxy_auth=True`` and ``@app.server`` classes without
``unauthenticated=True`` answer 401 unless a request carries ``Modal-Key: wk-...`` and
``Modal-Secret: ws-...`` of a token made here (see :mod:`pcompile.runtime.proxy_auth`).
Without ``--stack`` the tokens are the local store's (``pcompile serve`` / ``run``);
with an aws or gcp stack, the stack's secret manager's, found through the provider
registry. Only a salted hash of each secret is stored: ``create`` prints it once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pcompile.cli import deploy as cloud_cli
from pcompile.compiler.errors import UserError

if TYPE_CHECKING:
    from pcompile.runtime.proxy_auth import TokenStore

proxy_auth_app = typer.Typer(
    help="Manage proxy-auth tokens (Modal-Key/Modal-Secret) for web endpoints.", no_args_is_help=True
)
STACK = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)")


def register(app: typer.Typer) -> None:
    """Add the ``proxy-auth`` command group."""
    app.add_typer(proxy_auth_app, name="proxy-auth")


def _store(stack: str | None) -> tuple[TokenStore, str]:
    """(the token store, where it is in words) of ``--stack`` (local without one)."""
    from pcompile.providers import registry

    settings = cloud_cli.cloud_stack(stack) or registry.stackless()
    where = f"stack {settings.name!r}" if registry.get(settings.cloud).remote else "the local store"
    return registry.get(settings.cloud).proxy_auth(settings), where


def _tokens(store: TokenStore) -> dict[str, dict[str, str]]:
    from pcompile.runtime import proxy_auth

    try:
        return proxy_auth.parse(store.read())
    except ValueError as exc:
        raise UserError(
            f"the proxy-auth token set is not valid JSON: {exc}", fix="delete it and create tokens again"
        ) from None


@proxy_auth_app.command("create")
def create(stack: str | None = STACK) -> None:
    """Make a token; prints its Modal-Key and Modal-Secret (the secret only this once)."""
    from pcompile.runtime import proxy_auth

    with cloud_cli.exit_codes():
        store, where = _store(stack)
        tokens = _tokens(store)
        token_id, secret, record = proxy_auth.new_token()
        store.write(proxy_auth.dump({**tokens, token_id: record}))
    typer.echo(f"created proxy-auth token {token_id} on {where}")
    typer.echo(f"Modal-Key: {token_id}")
    typer.echo(f"Modal-Secret: {secret}")
    typer.echo("the secret is shown only now: only its salted hash is stored", err=True)


@proxy_auth_app.command("list")
def list_tokens(stack: str | None = STACK) -> None:
    """Token ids (Modal-Key values), sorted."""
    with cloud_cli.exit_codes():
        store, _ = _store(stack)
        ids = sorted(_tokens(store))
    for token_id in ids:
        typer.echo(token_id)


@proxy_auth_app.command("delete")
def delete(
    token_id: str = typer.Argument(..., help="the token's id (wk-...)"), stack: str | None = STACK
) -> None:
    """Delete a token: requests with it get 401 within seconds."""
    from pcompile.runtime import proxy_auth

    with cloud_cli.exit_codes():
        store, where = _store(stack)
        tokens = _tokens(store)
        if token_id not in tokens:
            known = ", ".join(sorted(tokens)) or "none"
            raise UserError(
                f"no proxy-auth token {token_id!r} on {where} (tokens: {known})",
                fix="pcompile proxy-auth list" + (f" --stack {stack}" if stack else ""),
            )
        store.write(proxy_auth.dump({k: v for k, v in tokens.items() if k != token_id}))
    typer.echo(f"deleted proxy-auth token {token_id} on {where}")

"""What every command shares: settings, server discovery, running a coroutine, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from prestacop.bootstrap import NoServerError, require_urls
from prestacop.config import Settings
from prestacop.runtime.embedded import RuntimeUrls

T = TypeVar("T")
err_console = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def settings(tenant: str | None = None) -> Settings:
    try:
        cfg = Settings(tenant=tenant) if tenant else Settings()
    except ValueError as err:
        fail(str(err), 2)
    _default_creds(cfg)
    return cfg


def _default_creds(cfg: Settings) -> None:
    """On the operator's machine, a command acts for its force with that force's service
    credentials, unless --creds/NATS_CREDS says who it is."""
    import os

    from prestacop.security.authority import Authority

    authority = Authority(cfg.home)
    if not os.environ.get("NATS_CREDS") and cfg.tenant in authority.tenants():
        os.environ["NATS_CREDS"] = str(authority.service_creds(cfg.tenant))
    live = RuntimeUrls.load_live(cfg.home / "runtime.json")
    if not os.environ.get("NATS_CA") and live is not None and live.nats_ca:
        os.environ["NATS_CA"] = live.nats_ca  # the secured embedded runtime's own CA


def urls(cfg: Settings, *, postgres: bool = False) -> RuntimeUrls:
    try:
        return require_urls(cfg, postgres=postgres)
    except NoServerError as err:
        fail(str(err), 2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; Ctrl-C ends it quietly with the conventional exit code."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


TenantOption = typer.Option(
    None, "--tenant", "-t", help="Police force (default $PRESTACOP_TENANT or 'nypd')."
)

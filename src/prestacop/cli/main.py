"""``prestacop``: the root of the command line.

Each command group lives in its own module and imports its heavy dependencies
(Postgres, Textual, eventsourcing) inside its commands, so that the NYPD replay
runs with the core install only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from prestacop.cli import (
    analysis,
    console,
    demo,
    drones,
    nypd,
    pg_creds,
    project,
    quarantine,
    runtime,
    tenants,
)
from prestacop.cli.common import err_console, fail, leave_if_stopping
from prestacop.cli.launch import configure


class Commands(TyperGroup):
    """Every command's errors end the same way: one line (what, where, what to do) and an
    exit code; ``-v`` shows the traceback as well."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Usage errors (unknown option, missing argument, bad value) as one line too,
        exit code 2, instead of typer's box."""
        given = (args, prog_name, complete_var, False, windows_expand_args)
        if not standalone_mode:
            return super().main(*given, **extra)
        try:
            code = super().main(*given, **extra)
        except typer.TyperException as err:
            ctx = getattr(err, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            what = _line(err.format_message()).rstrip(".")
            err_console.print(f"[bold red]error:[/] {escape(what + where)}", highlight=False)
            sys.exit(err.exit_code)
        except typer.Abort:
            err_console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        code = code if type(code) is int else 0
        leave_if_stopping(code)
        sys.exit(code)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as err:  # the one place that turns errors into lines
            if type(err).__module__.startswith("typer"):  # usage errors, exits: typer's own
                raise
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                err_console.print_exception(show_locals=False)
            fail(*explain(err))


def _no_type_label(param: TyperOption | TyperArgument, ctx: typer.Context) -> str | None:
    """Help shows an option's name, range and words, not its Python type (``<bool>``):
    at 80 columns the type column cut option names and defaults."""
    return param.metavar or None


TyperOption.display_type_rich = _no_type_label  # type: ignore[method-assign,assignment]
TyperArgument.display_type_rich = _no_type_label  # type: ignore[method-assign,assignment]


def explain(err: Exception) -> tuple[str, int]:
    """The line that tells the user what went wrong and what to do, and the exit code."""
    from prestacop.bootstrap import UNREACHABLE, NatsUnreachable

    if isinstance(err, NatsUnreachable):
        return f"{err}: start `prestacop up`, or set NATS_URL to a running server", 3
    if isinstance(err, UNREACHABLE):
        return f"{_line(err)}: check the server is up, or fix DATABASE_URL / NATS_URL", 3
    if isinstance(err, ModuleNotFoundError):
        return (
            f"this command needs the server extra (missing module {err.name}): "
            "pip install 'prestacop[server]'",
            2,
        )
    if type(err).__module__.startswith("psycopg"):
        return f"PostgreSQL: {_line(err)}", 3
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror or _line(err)}", 2
    return f"{type(err).__name__}: {_line(err)} (run with -v for the traceback)", 1


def _line(err: BaseException | str) -> str:
    return " ".join(str(err).split()) or type(err).__name__


app = typer.Typer(
    name="prestacop",
    cls=Commands,
    help="PrestaCop: drones' event log, read models, officers' console and NYPD replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"max_content_width": 100},
)
runtime.register(app)
drones.register(app)
demo.register(app)
console.register(app)
quarantine.register(app)
tenants.register(app)
pg_creds.attach(tenants.creds_app)  # `creds analyst` beside the NATS roles
analysis.register(app)
app.add_typer(nypd.app, name="nypd")
app.add_typer(project.app, name="project")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"prestacop {version('prestacop')}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more; tracebacks on errors."),
    _: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    creds: str | None = typer.Option(
        None, "--creds", help="NATS .creds file for every connection (default $NATS_CREDS)."
    ),
) -> None:
    configure(verbose, creds)

"""``prestacop``: the root of the command line.

Each command group lives in its own module and imports its heavy dependencies
(Postgres, Textual, eventsourcing) inside its commands, so that the NYPD replay
runs with the core install only.
"""

from __future__ import annotations

import logging
import os

import typer

from prestacop.cli import console, demo, drones, nypd, project, quarantine, runtime, tenants

app = typer.Typer(
    name="prestacop",
    help="PrestaCop: drones' event log, read models, officers' console and NYPD replay.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
runtime.register(app)
drones.register(app)
demo.register(app)
console.register(app)
quarantine.register(app)
tenants.register(app)
app.add_typer(nypd.app, name="nypd")
app.add_typer(project.app, name="project")


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more."),
    creds: str | None = typer.Option(
        None, "--creds", help="NATS .creds file for every connection (default $NATS_CREDS)."
    ),
) -> None:
    if creds:
        os.environ["NATS_CREDS"] = creds  # read by the one connect function
    logging.basicConfig(
        level=logging.DEBUG if verbose else os.environ.get("PRESTACOP_LOG", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

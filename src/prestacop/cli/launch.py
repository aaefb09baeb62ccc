"""The ``prestacop`` command's entry point: a plain ``nypd replay`` runs without typer.

On NYPD's weak machine typer and the pydantic it loads to convert options were 10 MB
of the replay's 43 MB and 0.2 s of its CPU. So a replay's command line is read here
when it is plain (the options of ``cli.nypd``, spelled ``--name value``, ``--name=value``
or ``-t value``); anything else (``--help``, an unknown option, a value typer might read
otherwise or refuse) goes to typer's app, which answers it as it always has.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from prestacop.cli.nypd_run import ReplayArgs

FLAGS = {
    "--dry-run": "dry_run",
    "--low-priority": "low_priority",
    "--no-progress": "no_progress",
    "--per-message-acks": "per_message_acks",
    "--ignore-unknown-columns": "ignore_unknown_columns",
    "--single-process": "single_process",
    "--parse-process": "parse_process",
}
"""``nypd replay``'s flags (a test holds them equal to typer's command)."""
VALUES = {
    "--tenant": "tenant",
    "-t": "tenant",
    "--rejects": "rejects",
    "--report": "report",
    "--max-rate": "max_rate",
    "--window": "window",
    "--state-dir": "state_dir",
}
"""``nypd replay``'s options that take a value."""
_NUMBER = {
    "max_rate": (re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?"), float, 1),
    "window": (re.compile(r"[1-9][0-9]*"), int, 16),
}
"""Numbers read here: plain digits within typer's range; any other spelling is typer's."""
_PATHS = {"rejects", "report", "state_dir"}


def main() -> NoReturn:
    """``prestacop ...``: the lean replay, or typer's app."""
    plain = replay_command(sys.argv[1:])
    if plain is None or any(k.startswith("_PRESTACOP_COMPLETE") for k in os.environ):
        from prestacop.cli.main import app

        app(prog_name="prestacop")
        sys.exit(0)  # not reached: typer's app exits
    verbose, creds, args = plain
    code = run_replay(verbose, creds, args)
    from prestacop.cli.common import leave

    leave(code)  # its work is stored and its files closed: the teardown is only cost


def replay_command(argv: list[str]) -> tuple[bool, str | None, ReplayArgs] | None:
    """``(verbose, creds, options)`` of a plain ``[-v] [--creds F] nypd replay ...``,
    else None (typer's to read)."""
    verbose, creds, i = False, None, 0
    while i < len(argv) and argv[i].startswith("-"):
        name, value, i = _option(argv, i, {"-v", "--verbose"}, {"--creds"})
        if name is None:
            return None
        if name == "--creds":
            creds = value
        else:
            verbose = True
    if argv[i : i + 2] != ["nypd", "replay"]:
        return None
    files: list[str] = []
    given: dict[str, Any] = {}
    i, only_files = i + 2, False
    while i < len(argv):
        token = argv[i]
        if token == "":
            return None
        if only_files or token == "-" or not token.startswith("-"):
            files.append(token)
            i += 1
            continue
        if token == "--":
            only_files, i = True, i + 1
            continue
        name, value, i = _option(argv, i, set(FLAGS), set(VALUES))
        if name is None:
            return None
        if name in FLAGS:
            given[FLAGS[name]] = True
            continue
        key = VALUES[name]
        if key in _NUMBER:
            pattern, kind, least = _NUMBER[key]
            if value is None or not pattern.fullmatch(value) or kind(value) < least:
                return None
            given[key] = kind(value)
        else:
            given[key] = Path(value) if key in _PATHS and value is not None else value
    if not files:
        return None
    from prestacop.cli.nypd_run import ReplayArgs

    return verbose, creds, ReplayArgs(files=files, **given)


def _option(
    argv: list[str], i: int, flags: set[str], valued: set[str]
) -> tuple[str | None, str | None, int]:
    """The option at ``argv[i]``, its value and the next index; name None if not plain."""
    name, eq, value = argv[i].partition("=") if argv[i].startswith("--") else (argv[i], "", "")
    if name in flags and not eq:
        return name, None, i + 1
    if name not in valued:
        return None, None, i
    if not eq:
        if i + 1 >= len(argv):
            return None, None, i
        value, i = argv[i + 1], i + 1
    if not value or value.startswith("-"):
        return None, None, i
    return name, value, i + 1


def configure(verbose: bool, creds: str | None) -> None:
    """What the root options do, before any command (``cli.main``'s callback calls it too)."""
    if creds:
        os.environ["NATS_CREDS"] = creds  # read by the one connect function
    logging.basicConfig(
        level=logging.DEBUG if verbose else os.environ.get("PRESTACOP_LOG", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # asyncio's note on every TLS connection nats-py closes: noise, not a warning for us
    logging.getLogger("asyncio").addFilter(lambda r: "eof_received()" not in r.getMessage())


def run_replay(verbose: bool, creds: str | None, args: ReplayArgs) -> int:
    """The replay, its errors and exit code as typer's app (``cli.main.Commands``) gives them."""
    from prestacop.cli.common import leave_if_stopping

    try:
        configure(verbose, creds)
        from prestacop.cli.nypd_run import replay

        code = replay(args)
    except KeyboardInterrupt:
        code = 130
    except Exception as err:
        code = _exit_code(err)
    leave_if_stopping(code)
    return code


def _exit_code(err: Exception) -> int:
    """An error as typer's app ends it: its line on stderr, its exit code (typer only now)."""
    import typer

    from prestacop.cli.common import err_console, fail
    from prestacop.cli.main import explain

    if isinstance(err, typer.Exit):  # `fail` said what went wrong
        return int(err.exit_code)
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        err_console.print_exception(show_locals=False)
    try:
        fail(*explain(err))
    except typer.Exit as done:
        return int(done.exit_code)

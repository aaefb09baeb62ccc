"""What every command shares: settings, servers, running a coroutine or a service, errors.

One place decides how a command behaves when the world is wrong: an unreachable server is
one line naming it and what to do; a service waits for it with backoff instead; the first
Ctrl-C, SIGTERM or SIGHUP stops a service within a second, at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape

from prestacop.adapters.postgres_check import redact
from prestacop.bootstrap import NoServerError, require_urls
from prestacop.config import Settings
from prestacop.runtime.embedded import RuntimeUrls

T = TypeVar("T")
log = logging.getLogger(__name__)
# Lines that scripts read (URLs, JSON, tables) are never wrapped to the terminal's width.
# No emoji codes: `module:x:` in an error is no ❌.
err_console = Console(stderr=True, soft_wrap=True, emoji=False)
out = Console(soft_wrap=True, emoji=False)
STOP_GRACE_S = 0.6
"""After a stop signal, what a service has to finish its work in flight before it is cut."""
LAST_RESORT_AFTER_GRACE_S = 0.9
"""After the grace, what cancelled work and the loop's own shutdown (tasks, executor threads)
have before the process leaves anyway: a stop takes at most ~1.5 s, whatever blocks. Safe:
nothing is acknowledged before it is stored, so work cut short is redone, never lost."""
RETRY_MAX_S = 8.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


STOPPING = threading.Event()
"""Set by the first stop signal a service receives."""


def leave_if_stopping(code: int) -> None:
    """After a stop signal, leave without the interpreter's teardown: freeing every object
    of a busy service took up to 1.7 s on a loaded machine, after all work had ended. What
    matters is stored or flushed by then (and nothing relies on teardown: a kill -9 is safe)."""
    if STOPPING.is_set():
        leave(code)


def leave(code: int) -> NoReturn:
    """Exit with ``code`` now, without the interpreter's teardown (see ``leave_if_stopping``):
    logs and standard streams flushed, files closed by their owners before this."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr (what, where, what to do), then exit with ``code``; a password
    in it (libpq quotes the whole URL) is masked."""
    import typer  # here: the lean replay (cli.launch) loads typer only to fail

    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False)
    raise typer.Exit(code)


def say(message: str) -> None:
    """A line for the operator on stderr (waiting, retrying, stopping)."""
    err_console.print(f"[yellow]{escape(message)}[/]", highlight=False)


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
    """Run a one-shot command's coroutine; Ctrl-C ends it quietly (exit 130)."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        import typer

        raise typer.Exit(130) from None


def serve(
    service: Callable[[asyncio.Event], Awaitable[T]],
    *,
    retry: bool = True,
    grace_s: float = STOP_GRACE_S,
) -> T | None:
    """Run a long-running service until it ends or a signal stops it.

    The first SIGINT/SIGTERM/SIGHUP sets the service's ``stop`` event; what does not end
    within ``grace_s`` is cancelled, a second signal cancels at once. A server that
    cannot be reached (at start or after a crash of the service) is waited for with
    backoff, saying so. Returns the service's result, or None when stopped while waiting.
    """
    return asyncio.run(_serve(service, retry, grace_s))


async def _serve(
    service: Callable[[asyncio.Event], Awaitable[T]], retry: bool, grace_s: float
) -> T | None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[int] = []

    def on_signal(sig: int) -> None:
        signals.append(sig)
        stop.set()
        STOPPING.set()
        if len(signals) == 1:
            say(f"{signal.Signals(sig).name}: stopping")
            loop.set_exception_handler(abandoned)
            loop.call_later(grace_s, cut)
            _last_resort(grace_s + LAST_RESORT_AFTER_GRACE_S)
        else:
            cut()

    def abandoned(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Once stopping, acks that will never come are expected: not worth a traceback."""
        if "never retrieved" in context.get("message", ""):
            log.debug("after stop: %s", context.get("exception"))
        else:
            loop.default_exception_handler(context)

    def cut() -> None:
        """Cancel, and again while cleanup code (a drain on a dead connection) still waits."""
        if not running.done():
            running.cancel()
            loop.call_later(0.3, cut)

    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    delay = 0.5
    result: T | None = None
    while not stop.is_set():
        running = asyncio.ensure_future(service(stop))
        try:
            result = await running
            break
        except asyncio.CancelledError:
            if not stop.is_set():
                raise
            break
        except Exception as caught:
            err = _unreachable(caught)
            if err is None:  # not a server gone away (alone or in a task group): a bug
                raise
            if stop.is_set():  # the server went while we stopped: nothing left to do
                break
            if not retry:
                raise
            say(f"{_one_line(err)}; waiting for it, retrying in {delay:g}s (Ctrl-C stops)")
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, RETRY_MAX_S)
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)
    return result


def _unreachable(err: BaseException) -> BaseException | None:
    """The server error behind ``err``, also inside a task group (a gate runs one task per
    stream), or None if anything else is in there."""
    from prestacop.bootstrap import UNREACHABLE

    if not isinstance(err, BaseExceptionGroup):
        return err if isinstance(err, UNREACHABLE) else None
    found, other = err.split(UNREACHABLE)
    if other is not None or found is None:
        return None
    first: BaseException = found
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _last_resort(after_s: float) -> None:
    """Should a thread (a blocking driver call) still hold the process after a stop signal,
    leave anyway: a stop must never need ``kill -9``."""

    def leave() -> None:
        sys.stderr.write("stopped (forced: work in flight abandoned)\n")
        sys.stderr.flush()
        os._exit(130)

    timer = threading.Timer(after_s, leave)
    timer.daemon = True
    timer.start()


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def __getattr__(name: str) -> Any:
    """``TenantOption``, made when a command module asks for it: the lean replay
    (``cli.launch``) runs without typer, and so without it."""
    if name != "TenantOption":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import typer

    return typer.Option(
        None, "--tenant", "-t", help="Police force (default $PRESTACOP_TENANT or 'nypd')."
    )

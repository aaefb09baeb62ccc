"""Opening NATS connections that survive a server restart, with credentials and TLS.

The one place a NATS connection is made: credentials come from a ``.creds`` file
(``creds=`` or ``$NATS_CREDS``), never from the URL; TLS trusts ``tls_ca`` (or
``$NATS_CA``); ``url`` may list several servers separated by commas (a cluster).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.aio.client import Client
from nats.aio.transport import TcpTransport

from prestacop.adapters.server_version import ServerTooOld, check_server

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None] | None]


def _write_joined(self: TcpTransport, payload: list[bytes]) -> None:
    self.write(b"".join(payload))


def coalesce_tls_writes() -> None:
    """One write per flush of nats-py's pending commands, not one per command.

    nats-py flushes its batch with ``writelines``; asyncio's TLS transport (and uvloop's)
    encrypts each element as a TLS record of its own, so over TLS every message cost a
    record (a call into OpenSSL, 22 more bytes, a decryption in the server). Joined, a
    flush of ~100 positions is 3 records. A plain socket's ``writelines`` joins already.
    """
    TcpTransport.writelines = _write_joined  # type: ignore[method-assign]


coalesce_tls_writes()


class NatsUnreachable(ConnectionError):
    """The first connection failed: the server is down, the URL wrong or we are refused."""

    def __init__(self, url: str, cause: BaseException | None) -> None:
        if isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, socket.gaierror):
            reason = f"unknown host: {cause.strerror}"
        elif cause is None or isinstance(cause, TimeoutError):
            reason = "no answer"
        else:
            reason = str(cause) or type(cause).__name__
        super().__init__(f"cannot reach NATS at {url} ({reason})")
        self.url = url


class CredentialsError(ValueError):
    """Credentials given where they may leak, or a file that cannot be used."""


def _is_refusal(text: str) -> bool:
    text = text.lower()
    words = ("authorization", "authentication", "revoked", "expired", "certificate")
    return any(w in text for w in words)


def servers_of(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` -> both; a password inside a URL is refused."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    for server in servers:
        if "@" in server:
            raise CredentialsError(
                "credentials in NATS_URL are refused (they show in logs and `ps`): "
                "use a .creds file with --creds or NATS_CREDS"
            )
    return servers


def _claims(path: Path) -> dict[str, object]:
    from prestacop.security.nats_jwt import decode, jwt_of_creds

    try:
        return decode(jwt_of_creds(path.read_text()))
    except (OSError, ValueError) as err:
        raise CredentialsError(f"NATS credentials {path}: {err}") from None


def officer_of(creds: str | Path | None = None) -> str | None:
    """The officer these credentials (or ``$NATS_CREDS``) belong to; None for other roles.

    The server lets an officer's user write alerts under its own id only, so the console
    takes its id from here rather than from what its user types."""
    creds = creds or os.environ.get("NATS_CREDS") or None
    if not creds:
        return None
    nats = _claims(Path(creds)).get("nats")
    allowed = nats.get("sub", {}).get("allow", []) if isinstance(nats, dict) else []
    first = allowed[0] if allowed else ""
    if not first.startswith("_INBOX_OFFICER."):
        return None
    return str(first.removeprefix("_INBOX_OFFICER.").removesuffix(".>"))


def credential_options(creds: str | Path | None, tls_ca: str | Path | None) -> dict[str, object]:
    """nats-py options for a ``.creds`` file and a CA: user JWT, own inbox, TLS context."""
    options: dict[str, object] = {}
    creds = creds or os.environ.get("NATS_CREDS") or None
    if creds:
        path = Path(creds)
        claims = _claims(path)
        options["user_credentials"] = str(path)
        allowed = claims.get("nats", {}).get("sub", {}).get("allow", [])  # type: ignore[attr-defined]
        if allowed and allowed[0].startswith("_INBOX_"):
            options["inbox_prefix"] = allowed[0].removesuffix(".>")  # replies it may read
    tls_ca = tls_ca or os.environ.get("NATS_CA") or None
    if tls_ca:
        options["tls"] = ssl.create_default_context(cafile=str(tls_ca))
    return options


async def connect(
    url: str,
    name: str,
    *,
    on_status: StatusCallback | None = None,
    connect_timeout: float = 5.0,
    creds: str | Path | None = None,
    tls_ca: str | Path | None = None,
    **options: object,
) -> Client:
    """Connect once, then reconnect endlessly; ``on_status`` hears 'connected'/'disconnected'.

    The first attempt fails fast with :class:`NatsUnreachable` and its real cause (nats-py
    would retry it forever, silently): commands say what is wrong, services retry with
    their own backoff. Once connected, an outage pauses our programs instead of killing
    them: they keep their place and resume when the server is back.
    """
    failed: list[BaseException] = []
    first_failure = asyncio.Event()

    async def notify(state: str) -> None:
        if on_status is not None:
            result = on_status(state)
            if result is not None:
                await result

    opened: list[Client] = []

    async def disconnected() -> None:
        if not opened:  # a failed first attempt: NatsUnreachable says it
            return
        if opened[0].is_closed:  # our own close or drain, not an outage
            log.debug("%s: connection to NATS closed", name)
        else:
            log.warning("%s: disconnected from NATS", name)
        await notify("disconnected")

    async def reconnected() -> None:
        log.warning("%s: reconnected to NATS", name)
        await notify("connected")

    async def error(err: Exception) -> None:
        text = str(err) or type(err).__name__
        loud = _is_refusal(text) or "permissions violation" in text.lower()
        log.log(logging.WARNING if loud else logging.DEBUG, "%s: NATS error %s", name, text)
        if not opened:
            failed.append(err)
            first_failure.set()

    nc = Client()
    attempt = asyncio.create_task(
        nc.connect(
            servers_of(url),
            name=name,
            connect_timeout=connect_timeout,  # type: ignore[arg-type]
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]
            allow_reconnect=True,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
            pending_size=8 * 1024 * 1024,
            **credential_options(creds, tls_ca),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
    )
    failure = asyncio.create_task(first_failure.wait())
    try:
        await asyncio.wait(
            (attempt, failure), timeout=connect_timeout + 1, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        failure.cancel()
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            await nc.close()
    if attempt.cancelled() or attempt.exception() is not None:
        cause = failed[0] if failed else attempt.exception()
        if cause is not None and _is_refusal(str(cause)):
            raise CredentialsError(
                f"{name}: the NATS server refused these credentials, or its certificate is not "
                f"trusted ({cause})"
            )
        raise NatsUnreachable(url, cause)
    opened.append(nc)
    try:
        check_server(nc)
    except ServerTooOld:
        await nc.close()
        raise
    await notify("connected")
    return nc

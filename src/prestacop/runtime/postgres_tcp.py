"""The embedded PostgreSQL on a stable TCP port as well as its socket (``up --pg-port``).

pgserver starts PostgreSQL on a Unix socket only (``-h ""`` on its command line, which no
configuration file can override). Tools that cannot use a socket (another container, a
desktop client, DuckDB's postgres scanner) need TCP: once pgserver has started and
secured the server, it is restarted with ``-h 127.0.0.1 -p PORT`` and its own
``pg_hba`` file (the socket's scram rule, plus the same rule for 127.0.0.1), leaving
pgserver's ``pg_hba.conf`` as the password set-up expects it. The socket moves with the
port (``.s.PGSQL.PORT``), so the URL names the port too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HBA_TCP = "host all all 127.0.0.1/32 scram-sha-256\n"


class PortTaken(OSError):
    """Another program listens on the port asked for."""


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listen_on_tcp(pg: Any, port: int, database_url: str) -> str:
    """Restart ``pg`` (a started pgserver) listening on 127.0.0.1:``port`` too; the URL
    ``database_url`` with the port."""
    import pgserver

    if not port_is_free(port):
        raise PortTaken(f"port {port} is taken: choose another with --pg-port")
    pgdata = Path(pg.pgdata)
    hba = pgdata / "pg_hba_prestacop.conf"
    hba.write_text((pgdata / "pg_hba.conf").read_text() + HBA_TCP)
    socket_dir = pg.get_postmaster_info().socket_dir
    options = f"-h 127.0.0.1 -p {port} -k {socket_dir} -c hba_file={hba}"
    pgserver.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "-o", options, "-l", str(pgdata / "log"), "restart"],
        pgdata=pgdata,
        user=pg.system_user,
        timeout=30,
    )
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "port"] + [("port", str(port))]
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(query, safe="/"), parts.fragment)
    )

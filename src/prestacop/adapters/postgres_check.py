"""Checking a PostgreSQL URL before a command relies on it, with the server's own words."""

from __future__ import annotations

import re


class DatabaseUnreachable(ConnectionError):
    """PostgreSQL refused us or cannot be reached: the cause is the server's (or libpq's)."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"cannot use PostgreSQL at {redact(url)} ({cause})")


_USERINFO = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")  # scheme://user:password@host
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&\"']+)", re.IGNORECASE)


def redact(text: str) -> str:
    """The text without the passwords of the URLs or connection strings it holds
    (``password=`` as a keyword or a query parameter): never print a secret; libpq's own
    errors quote the whole URL."""
    return _PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def check_database(url: str, timeout_s: float = 5.0) -> None:
    """Connect once: a wrong URL, user, password or database is said now, in one line,
    instead of a pool retrying "couldn't get a connection" forever."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=max(1, round(timeout_s))).close()
    except psycopg.ProgrammingError as err:  # not a URL libpq understands
        raise DatabaseUnreachable(url, f"not a PostgreSQL URL: {first_line(err)}") from err
    except psycopg.OperationalError as err:
        raise DatabaseUnreachable(url, first_line(err)) from err


def first_line(err: BaseException) -> str:
    """libpq's message on one line (its hint, the second line, kept after "; ")."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines[:2]) or type(err).__name__

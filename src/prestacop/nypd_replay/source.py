"""Opening a ticket file as a stream of bytes: plain, ``.gz``, ``.zip`` or ``-`` (stdin).

Nothing is loaded whole: the caller reads lines from ``stream``. ``progress()``
reports how far into the file on disk the reading is (compressed bytes for a
``.gz``), for the progress bar and its ETA.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


class SourceError(ValueError):
    """A file that cannot be read as ticket data."""


@dataclass
class Opened:
    name: str
    stream: BinaryIO
    """Decompressed bytes."""
    kind: str
    """``csv`` or ``json``."""
    total: int | None
    """Size on disk (for progress), if known."""
    progress: Callable[[], int] | None
    """Bytes of the file on disk read so far; None: count decompressed bytes instead."""
    seekable: bool
    """A plain file: resuming seeks to the checkpoint instead of reading up to it."""
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def _sniff(stream: BinaryIO) -> str:
    head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if text[:1] in (b"[", b"{") else "csv"


def open_source(name: str) -> Opened:
    """Open ``name`` (``-`` is stdin); the format is taken from its content, not its name."""
    if name == "-":
        stream: BinaryIO = sys.stdin.buffer
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(cast(io.RawIOBase, stream))
        if stream.peek(2)[:2] == GZIP_MAGIC:
            stream = io.BufferedReader(cast(io.RawIOBase, gzip.GzipFile(fileobj=stream)), 1 << 16)
        return Opened("<stdin>", stream, _sniff(stream), None, None, False)
    path = Path(name)
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        size = path.stat().st_size
    except OSError as err:
        raise SourceError(f"{name}: cannot read ({err.strerror or err})") from None
    if magic[:2] == GZIP_MAGIC:
        raw = path.open("rb")
        gz = io.BufferedReader(cast(io.RawIOBase, gzip.GzipFile(fileobj=raw)), 1 << 16)
        return Opened(name, gz, _sniff(gz), size, raw.tell, False, [gz.close, raw.close])
    if magic == ZIP_MAGIC:
        return _open_zip(name, path)
    plain = path.open("rb", buffering=1 << 16)
    return Opened(name, plain, _sniff(plain), size, plain.tell, True, [plain.close])


def _open_zip(name: str, path: Path) -> Opened:
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.infolist() if not m.is_dir()]
    data = [m for m in members if m.filename.lower().endswith((".csv", ".json", ".txt"))]
    if len(members) != 1 and len(data) != 1:
        archive.close()
        names = ", ".join(m.filename for m in members[:20])
        raise SourceError(f"{name}: the zip holds {len(members)} files ({names}); expected one")
    member = members[0] if len(members) == 1 else data[0]
    inner = io.BufferedReader(cast(io.RawIOBase, archive.open(member)), 1 << 16)
    return Opened(
        f"{name}:{member.filename}",
        inner,
        _sniff(inner),
        member.file_size,
        inner.tell,
        False,
        [inner.close, archive.close],
    )


def identity(name: str) -> str | None:
    """A key for the checkpoint of a file: its size and a hash of its first and last MiB.

    Content, not path: a copied or renamed file resumes; a different file does not.
    Stdin has no identity and so no checkpoint.
    """
    if name == "-":
        return None
    digest = hashlib.sha256()
    size = os.path.getsize(name)
    with open(name, "rb") as f:
        digest.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
            digest.update(f.read())
    digest.update(str(size).encode())
    return digest.hexdigest()[:32]

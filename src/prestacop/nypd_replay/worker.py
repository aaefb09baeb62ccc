"""The parse process: reads and translates the file on the second core.

The publishing process spends its time in the NATS client; parsing, translating
and validating in another process lets both cores work. Frames cross the
child's stdout (length-prefixed msgpack), whose small pipe buffer is the
back-pressure: the parser blocks when the publisher is behind, so memory stays
bounded. ``python -m prestacop.nypd_replay.worker`` is the child's entry point.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import AsyncGenerator, Iterator

import msgspec

from prestacop.nypd_replay.frames import Failed, Finished, Frame, Position, pack, unpack

_LENGTH = struct.Struct(">I")


class _Args(msgspec.Struct):
    name: str
    tenant: str
    start: Position | None
    batch_rows: int
    strict: bool = True


def main(argv: list[str]) -> int:
    from prestacop.nypd_replay.batches import produce

    args = msgspec.json.decode(argv[0], type=_Args)
    out = sys.stdout.buffer
    _widen_pipe(out.fileno())
    try:
        frames = produce(
            args.name, args.tenant, args.start, batch_rows=args.batch_rows, strict=args.strict
        )
        for frame in frames:
            data = pack(frame)
            out.write(_LENGTH.pack(len(data)))
            out.write(data)
        out.flush()
    except BrokenPipeError:
        return 1  # the publishing side is gone: nothing left to do
    return 0


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Let the parser run a few batches ahead of the publisher (Linux pipes hold 64 KiB)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError):
        pass  # not Linux, or not a pipe: the default buffer only costs overlap


async def frames_in_process(
    name: str, tenant: str, start: Position | None, batch_rows: int, strict: bool = True
) -> AsyncGenerator[Frame, None]:
    """The same frames, parsed in this process (stdin, dry runs, one core)."""
    from prestacop.nypd_replay.batches import produce  # the publisher of two needs none of it

    source: Iterator[Frame] = produce(name, tenant, start, batch_rows=batch_rows, strict=strict)
    for frame in source:
        yield frame
        await asyncio.sleep(0)  # let acks in between batches


async def frames_from_process(
    name: str, tenant: str, start: Position | None, batch_rows: int, strict: bool = True
) -> AsyncGenerator[Frame, None]:
    """Frames parsed by a child process."""
    args = msgspec.json.encode(_Args(name, tenant, start, batch_rows, strict)).decode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prestacop.nypd_replay.worker", args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        limit=1 << 18,
    )  # fmt: skip
    assert proc.stdout is not None
    stdout = proc.stdout
    queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=2)

    async def read() -> None:
        while True:
            try:
                size = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))[0]
                frame = unpack(await stdout.readexactly(size))
            except asyncio.IncompleteReadError:
                await proc.wait()
                await queue.put(Failed(f"the parse process ended early (exit {proc.returncode})"))
                return
            await queue.put(frame)
            if isinstance(frame, Finished | Failed):
                return

    reader = asyncio.create_task(read())
    try:
        while True:
            frame = await queue.get()
            yield frame
            if isinstance(frame, Finished | Failed):
                return
    finally:
        reader.cancel()
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await stdout.read()  # to the end: the pipe closed, the transport closes with the loop
        await proc.wait()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the publishing side stops us, quietly
    sys.exit(main(sys.argv[1:]))

"""Running the existing drone-control software from a command template, without a shell.

``PRESTACOP_CONTROL_CMD="dronectl takeover {drone_id}"`` is split like a shell
would (``shlex``) and then each word is formatted on its own: a drone id can never
become a second command, whatever it contains.
"""

from __future__ import annotations

import asyncio
import shlex
import tempfile
from typing import IO

from prestacop.alerts.ports import ControlResult


class ControlTemplateError(ValueError):
    """The control command template cannot be turned into a command line."""


def control_argv(template: str, drone_id: str) -> list[str]:
    """The command line for ``drone_id``; ``ControlTemplateError`` says what is wrong."""
    try:
        words = shlex.split(template)
    except ValueError as err:
        raise ControlTemplateError(f"PRESTACOP_CONTROL_CMD {template!r}: {err}") from None
    if not words:
        raise ControlTemplateError("PRESTACOP_CONTROL_CMD is empty")
    try:
        return [word.format(drone_id=drone_id) for word in words]
    except (KeyError, IndexError, ValueError) as err:
        raise ControlTemplateError(
            f"PRESTACOP_CONTROL_CMD {template!r}: only {{drone_id}} may be used ({err!r})"
        ) from None


class CommandControl:
    """``DroneControl`` by running a local program; output captured in temporary files.

    Files rather than pipes: a control session that stays open after ``wait_s``
    keeps running without blocking on a full pipe.
    """

    def __init__(self, template: str, *, wait_s: float = 15.0) -> None:
        self.template = template
        self.wait_s = wait_s

    async def take_over(self, drone_id: str) -> ControlResult:
        try:
            argv = control_argv(self.template, drone_id)
        except ControlTemplateError as err:
            return ControlResult((), None, "", "", error=str(err))
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err_file:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err_file
                )
            except OSError as err:
                return ControlResult(
                    tuple(argv), None, "", "", error=f"cannot run {argv[0]}: {err}"
                )
            try:
                code: int | None = await asyncio.wait_for(proc.wait(), self.wait_s)
            except TimeoutError:
                code = None
            return ControlResult(tuple(argv), code, _read(out), _read(err_file))


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read(64 * 1024).decode("utf-8", "replace")

"""A service whose tasks lost their server is waited for and started again, also when its
task group wraps the error (the gate's does: ``except UNREACHABLE`` never matched it)."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import ConnectionClosedError

from prestacop.cli import common


def test_a_service_that_lost_its_server_inside_a_task_group_is_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common, "say", lambda message: None)
    runs: list[int] = []

    async def service(stop: asyncio.Event) -> str:
        runs.append(1)
        if len(runs) == 1:
            async with asyncio.TaskGroup() as group:  # as run_gate does, one task per stream

                async def stream() -> None:
                    raise ConnectionClosedError

                group.create_task(stream())
        return "done"

    assert common.serve(service) == "done"
    assert len(runs) == 2


def test_any_other_error_in_the_group_still_ends_the_service() -> None:
    async def service(stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:

            async def stream() -> None:
                raise ValueError("a bug")

            group.create_task(stream())

    with pytest.raises(ExceptionGroup):
        common.serve(service)

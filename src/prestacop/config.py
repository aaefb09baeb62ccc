"""Settings from the environment, read once by the composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from prestacop.domain.subjects import check_tenant


def _default_home() -> Path:
    return Path(os.environ.get("PRESTACOP_HOME") or Path.home() / ".prestacop")


@dataclass(frozen=True)
class Settings:
    """Where the servers are. ``None`` URLs mean: start the embedded runtime."""

    nats_url: str | None = field(default_factory=lambda: os.environ.get("NATS_URL") or None)
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    home: Path = field(default_factory=_default_home)
    tenant: str = field(default_factory=lambda: os.environ.get("PRESTACOP_TENANT", "nypd"))
    control_cmd: str = field(
        default_factory=lambda: os.environ.get(
            "PRESTACOP_CONTROL_CMD",
            "echo 'no PRESTACOP_CONTROL_CMD set: would take over {drone_id}'",
        )
    )

    def __post_init__(self) -> None:
        check_tenant(self.tenant)

"""``prestacop console --officer ID``: the officers' terminal console for human-review alerts."""

from __future__ import annotations

import typer

from prestacop.cli.common import TenantOption, fail, serve, settings, urls


def register(app: typer.Typer) -> None:
    @app.command()
    def console(
        officer: str = typer.Option(
            "",
            "--officer",
            "-o",
            help="Your officer id (no spaces); with an officer's .creds, the id they name.",
        ),
        tenant: str | None = TenantOption,
        escalate_after: float = typer.Option(
            120.0, "--escalate-after", help="Highlight alerts unclaimed for longer (seconds)."
        ),
        control_cmd: str | None = typer.Option(
            None,
            "--control-cmd",
            help="Drone-control command template, e.g. 'dronectl takeover {drone_id}' "
            "(default $PRESTACOP_CONTROL_CMD).",
        ),
    ) -> None:
        """Watch, claim, take control of and resolve human-review alerts.

        Keys: up/down select an alert; c claim; t take control of its drone (runs
        --control-cmd); r resolve (asks for the corrected code or no violation); u
        release a claim; o open the image; q quit.
        """
        from prestacop import bootstrap
        from prestacop.adapters.nats_connection import CredentialsError, officer_of
        from prestacop.alerts.ports import AlertLogUnavailable
        from prestacop.domain.subjects import SubjectError, check_token

        cfg = settings(tenant)
        try:
            bound = officer_of()
        except CredentialsError as err:
            fail(str(err), 2)
        if bound is not None and officer not in ("", bound):
            fail(f"these credentials were issued to officer {bound!r}, not {officer!r}", 2)
        officer = bound or officer
        if not officer:
            fail("say who you are: --officer ID, or an officer's credentials (--creds)", 2)
        try:
            check_token(officer, "officer id")
        except SubjectError as err:
            fail(str(err), 2)
        where = urls(cfg)
        go = bootstrap.console(
            where,
            cfg,
            officer,
            control_cmd=control_cmd,
            escalate_after_s=escalate_after,
            database_url=where.database_url,
        )
        try:
            serve(go)
        except AlertLogUnavailable as err:
            fail(str(err))

"""``prestacop gate`` (the validation worker) and ``prestacop rejected`` (what it set aside)."""

from __future__ import annotations

import typer

from prestacop.cli.common import TenantOption, out, run, serve, settings, urls

gate_app = typer.Typer(help="The validation gate: sets invalid live messages aside.")


def register(app: typer.Typer) -> None:
    app.add_typer(gate_app, name="gate")
    app.command()(rejected)


@gate_app.command("run")
def gate_run(
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Only this force (default: every force of this home)."
    ),
) -> None:
    """Check every live message once; quarantine the invalid ones with their reason.

    On a secured runtime, one gate per force, each with that force's service credentials."""
    from prestacop import bootstrap
    from prestacop.gate.service import GateCounters

    cfg = settings(tenant)
    found = urls(cfg)
    counters = GateCounters()
    each = bootstrap.forces(cfg, found, tenant)
    names = ", ".join(c.tenant for c in each if c.tenant) or "its account"
    out.print(f"gate running on {found.nats_url} for {names} (Ctrl-C stops)")
    added = None if tenant else bootstrap.added_forces(cfg, found)  # tenant add: served too
    serve(bootstrap.each_force(lambda c: bootstrap.gate(c, counters), each, added))
    out.print(f"checked {counters.checked}, quarantined {dict(counters.quarantined)}")


def rejected(
    tenant: str | None = TenantOption,
    limit: int = typer.Option(20, min=1, help="Show the last N records."),
    reason: str | None = typer.Option(None, help="Only this reason (e.g. invalid_field)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON record per line."),
) -> None:
    """List the messages set aside by validation: where they are in the log and why."""
    from rich.table import Table

    from prestacop import bootstrap
    from prestacop.gate.records import encoder
    from prestacop.gate.service import read_quarantine

    cfg = settings(tenant)
    found = urls(cfg)

    async def go() -> list:
        log = await bootstrap.log_source(found, "prestacop-rejected")
        try:
            return await read_quarantine(log, cfg.tenant)
        finally:
            await log.close()

    records = [r for r in run(go()) if reason is None or r.reason == reason][-limit:]
    if json_out:
        for r in records:
            print(encoder.encode(r).decode())
        return
    table = Table(title=f"Rejected messages, tenant {cfg.tenant} (last {limit})")
    for col in ("received", "stream", "seq", "subject", "reason", "detail"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.stream,
            str(r.seq),
            r.subject,
            r.reason,
            r.detail,
        )
    out.print(table)

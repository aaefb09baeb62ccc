"""One error style: each bad file, URL or option of issue 11 gives one clear line (what,
where, what to do) and an exit code, never a traceback."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prestacop.cli.main import app
from prestacop.runtime.embedded import free_port

runner = CliRunner()
CLOSED_NATS = f"nats://127.0.0.1:{free_port()}"


@pytest.fixture
def bad_files(tmp_path: Path, shared_data: Path) -> dict[str, Path]:
    elf = tmp_path / "tickets.csv"
    elf.write_bytes(Path(sys.executable).resolve().read_bytes()[:4096])
    noise = tmp_path / "tickets.gz"
    noise.write_bytes(os.urandom(4096))
    cut = tmp_path / "cut.csv.gz"
    whole = gzip.compress((shared_data / "nypd" / "fy2022_trunc_jernejvivod.csv").read_bytes())
    cut.write_bytes(whole[: len(whole) // 2])
    return {"elf": elf, "noise": noise, "cut": cut}


CASES = {
    # name: (args, env, exit code, words the one line must hold)
    "ELF binary named .csv": (
        ["nypd", "replay", "--dry-run", "--no-progress", "{elf}"],
        {},
        1,
        ["tickets.csv", "line 1", "not a CSV ticket file"],
    ),
    "random bytes named .gz": (
        ["nypd", "replay", "--dry-run", "--no-progress", "{noise}"],
        {},
        1,
        ["tickets.gz"],
    ),
    "truncated .gz": (
        ["nypd", "replay", "--dry-run", "--no-progress", "{cut}"],
        {},
        1,
        ["cut.csv.gz", "end-of-stream"],
    ),
    "missing file": (
        ["nypd", "replay", "--dry-run", "no-such.csv"],
        {},
        2,
        ["no such file", "no-such.csv"],
    ),
    "closed NATS_URL, setup": (
        ["setup"],
        {"NATS_URL": CLOSED_NATS},
        3,
        [CLOSED_NATS, "prestacop up"],
    ),
    "closed NATS_URL, rejected": (
        ["rejected"],
        {"NATS_URL": CLOSED_NATS},
        3,
        ["cannot reach NATS", "connection refused"],
    ),
    "NATS_URL not a URL": (["setup"], {"NATS_URL": "not-a-url"}, 3, ["not-a-url", "unknown host"]),
    "unreachable DATABASE_URL, project status": (
        ["project", "status"],
        {"DATABASE_URL": "postgresql://po:secret@127.0.0.1:1/po"},
        3,
        ["cannot use PostgreSQL", "127.0.0.1", "refused"],
    ),
    "DATABASE_URL not a URL": (
        ["project", "status"],
        {"DATABASE_URL": "not-a-url"},
        3,
        ["not a PostgreSQL URL"],
    ),
    "DATABASE_URL, unknown user": (
        ["project", "status"],
        {"DATABASE_URL": "{database_url_nobody}"},
        3,
        ["nobody@", "no password supplied"],
    ),
    "DATABASE_URL, unknown database": (
        ["project", "status"],
        {"DATABASE_URL": "{database_url_nodb}"},
        3,
        ['database "nodb" does not exist'],
    ),
    # a password is masked wherever it sits: libpq quotes a bad URL whole in its error
    "password as a keyword": (
        ["project", "status"],
        {"DATABASE_URL": "host=127.0.0.1 port=1 user=po password=secret dbname=po"},
        3,
        ["cannot use PostgreSQL", "password=***"],
    ),
    "password as a query parameter": (
        ["project", "status"],
        {"DATABASE_URL": "postgresql://po@127.0.0.1:1/po?password=secret"},
        3,
        ["cannot use PostgreSQL", "password=***"],
    ),
    "bad URL quoted by libpq, stats": (
        ["stats"],
        {"DATABASE_URL": "postgresql://po:secret@[bad/po"},
        3,
        ["postgresql://po:***@[bad/po"],
    ),
    "bad URL quoted by libpq, analyst creds": (
        ["creds", "analyst", "--tenant", "nypd"],
        {"DATABASE_URL": "postgresql://po:secret@[bad/po"},
        1,
        ["postgresql://po:***@[bad/po"],
    ),
    "a folder instead of a file": (
        ["nypd", "replay", "--dry-run", "--no-progress", "."],
        {},
        2,
        ["not a regular file: ."],
    ),
    "analyst role with PostgreSQL unreachable": (
        ["creds", "analyst", "--tenant", "nypd"],
        {"DATABASE_URL": "postgresql://po:secret@127.0.0.1:1/po"},
        3,
        ["cannot reach PostgreSQL", "analyst role of nypd", "Connection refused"],
    ),
    "a module:name that reads like an emoji code": (
        ["project", "rebuild", "--custom", "nomodule:x", "--tenant", "nypd"],
        {},
        2,
        ["nomodule:x", "No module named 'nomodule'"],
    ),
    "tenant in capitals": (
        ["rejected", "--tenant", "NYPD"],
        {},
        2,
        ["'NYPD'", "{{1,32}}$"],
    ),
    # usage errors: the same one line, no box, exit code 2
    "negative limit": (["rejected", "--limit", "-1"], {}, 2, ["--limit", "greater than or"]),
    "unknown option": (
        ["nypd", "replay", "--bogus", "x.csv"],
        {},
        2,
        ["No such option: --bogus", "prestacop nypd replay --help"],
    ),
    "missing argument": (["export"], {}, 2, ["Missing argument", "prestacop export --help"]),
    "bad value": (["up", "--nats-port", "abc"], {}, 2, ["'--nats-port'", "integer"]),
    "unknown command": (["nosuch"], {}, 2, ["No such command 'nosuch'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_clear_line_and_an_exit_code(
    case: str,
    bad_files: dict[str, Path],
    nats_url: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args, env, code, words = CASES[case]
    values = {
        **{k: str(v) for k, v in bad_files.items()},
        "database_url_nobody": re.sub(r"//[^@/]*@", "//nobody@", database_url, count=1),
        "database_url_nodb": database_url.replace("/postgres?", "/nodb?", 1),
    }
    monkeypatch.setenv("PRESTACOP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(**values))
    began = time.monotonic()
    result = runner.invoke(app, [a.format(**values) for a in args])
    took = time.monotonic() - began
    output = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, output
    assert not set("╭│╰") & set(output), output  # no box (typer's usage-error panel)
    for word in words:
        assert word.format(**values) in " ".join(output.split()), (word, output)
    assert "secret" not in output
    assert took < 10, f"{case}: {took:.1f}s"


def test_the_core_install_says_which_extra_a_command_needs(tmp_path: Path) -> None:
    """Without the server extra (simulated by hiding eventsourcing): one line, not a
    ModuleNotFoundError traceback."""
    code = (
        "import sys; sys.modules['eventsourcing'] = None\n"
        "from prestacop.cli.main import app; app(prog_name='prestacop')"
    )
    env = {**os.environ, "PRESTACOP_HOME": str(tmp_path), "NATS_URL": CLOSED_NATS}
    env["DATABASE_URL"] = "postgresql://x@127.0.0.1:1/x"
    result = subprocess.run(
        [sys.executable, "-c", code, "project", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "pip install 'prestacop[server]'" in result.stderr
    assert "eventsourcing" in result.stderr


def test_tenant_list_without_forces_says_so_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script reads an empty list on stdout; a person reads why on stderr."""
    monkeypatch.setenv("PRESTACOP_HOME", str(tmp_path / "fresh"))
    result = runner.invoke(app, ["tenant", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "no forces yet" in result.stderr

"""The codebase keeps its own rules: lint clean, and a pure domain."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "src" / "prestacop" / "domain"
PURE_ALLOWED = {"msgspec", "prestacop"}


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_domain_imports_only_the_standard_library_and_msgspec() -> None:
    offenders = []
    for path in DOMAIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if name.startswith("prestacop.") and not name.startswith("prestacop.domain"):
                    offenders.append(f"{path.name}: {name}")
                elif top not in PURE_ALLOWED and top not in sys.stdlib_module_names:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_core_cli_imports_no_server_side_package() -> None:
    """The NYPD machine installs only the core: the CLI must load without the extras."""
    code = (
        "import sys, prestacop.cli.main\n"
        "heavy = {'psycopg', 'textual', 'eventsourcing', 'pgserver'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_mypy_finds_nothing() -> None:
    """Strict on the domain and the ports, clean elsewhere but for the baseline in pyproject."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_keep_the_layers() -> None:
    """domain <- ports <- services <- adapters <- bootstrap <- cli ([tool.importlinter])."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

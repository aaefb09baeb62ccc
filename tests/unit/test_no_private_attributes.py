"""No module reaches into another's private attributes (a library's or another module's class).

A private name (``_x``) is an implementation detail of the module that defines it:
nats-py's ``_process_msg`` or eventsourcing's ``_insert_tracking`` can change in any
patch release, and hid a bug here once (``state.last_ts``). Only ``self._x`` defined in
the same module, or a module's own ``_x``, may be used.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "prestacop"

# Files still to fix, each by its owner (issue 8): shrink this list, never grow it.
STILL_TO_FIX: set[str] = set()  # every file is fixed: keep it empty

# Private by name only: documented, public API of the standard library.
PUBLIC = {"_exit"}  # os._exit: leave at once, after a second Ctrl-C


def defined_privates(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, class attributes, ``self._x = ...``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_")}


def private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    own = defined_privates(tree)
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if mine and name in own:
                continue
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name = node.args[1].value
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private:
                found.append(f"{node.lineno}: from {node.module} import {', '.join(private)}")
            continue
        if name and name.startswith("_") and not name.startswith("__") and name not in PUBLIC:
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_module_uses_a_private_attribute_it_does_not_define() -> None:
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        uses = private_uses(path)
        if uses and rel not in STILL_TO_FIX:
            offenders[rel] = uses
    assert offenders == {}


def test_the_list_of_files_still_to_fix_only_shrinks() -> None:
    fixed = [rel for rel in STILL_TO_FIX if not private_uses(SRC / rel)]
    assert fixed == [], f"fixed: remove {fixed} from STILL_TO_FIX"

"""`safety` is a leaf package: it must not import the app, web, database or HTTP layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SAFETY = Path(__file__).resolve().parents[2] / "safety"
FORBIDDEN = ("bot", "flask", "sqlalchemy", "httpx")


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_no_forbidden_imports_in_source() -> None:
    offenders: list[str] = []
    for path in sorted(SAFETY.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if _top(n) in FORBIDDEN]
    assert not offenders


def test_importing_safety_loads_no_forbidden_module() -> None:
    code = (
        "import sys, safety, safety.triage, safety.language, safety.normalize, "
        "safety.evaluation\n"
        "safety.triage.assess('I cant breathe', history=['x'], sender='whatsapp:+254700000000')\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=SAFETY.parent,
        timeout=60,
    )
    assert out.stdout.strip() == ""

"""DESIGN.md's import rules, checked on the source: who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sdserve"
ML = {"torch", "diffusers", "transformers", "accelerate", "safetensors"}
HTTP = {"fastapi", "starlette", "uvicorn", "aiohttp", "httpx", "urllib"}


def imported_modules(package: str) -> set[str]:
    """Every absolute module a package's files import (top-level and lazy imports alike)."""
    modules: set[str] = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
    return modules


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def sdserve_parts(modules: set[str]) -> set[str]:
    return {m.split(".")[1] for m in modules if m.startswith("sdserve.") and m.count(".") >= 1}


@pytest.mark.parametrize(
    ("package", "may_import"),
    [
        ("spec", set()),
        ("runtime", {"spec"}),
        ("autoscaler", {"spec", "cli"}),
        ("gateway", {"spec", "runtime"}),
        ("engine", set()),
        ("worker", {"engine", "webui", "cli"}),
    ],
)
def test_parts_import_only_what_design_allows(package: str, may_import: set[str]) -> None:
    used = sdserve_parts(imported_modules(package)) - {package}
    assert used <= may_import, f"{package} imports {sorted(used - may_import)}"


@pytest.mark.parametrize("package", ["spec", "runtime", "autoscaler", "gateway", "dashboard"])
def test_control_plane_never_imports_ml_libraries(package: str) -> None:
    assert not roots(imported_modules(package)) & ML


def test_engine_knows_nothing_of_http() -> None:
    assert not roots(imported_modules("engine")) & HTTP


def test_serve_process_does_not_load_torch() -> None:
    """The gateway process starts fast and a model fault cannot take routing down."""
    probe = f"import sys, sdserve.serve; print(sorted(set(sys.modules) & set({sorted(ML)!r})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"

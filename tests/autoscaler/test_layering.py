"""The decision code imports only the standard library and spec's types."""

import ast
from pathlib import Path

import sdserve.autoscaler

PURE = ("kpa.py", "max_window.py", "scale_to_zero.py", "window.py")
ALLOWED = {"__future__", "math", "dataclasses", "typing", "sdserve.spec.types",
           "sdserve.autoscaler.max_window"}


def test_decision_modules_import_no_io_or_clock():
    folder = Path(sdserve.autoscaler.__file__).parent
    for name in PURE:
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules = {node.module or ""}
            else:
                continue
            assert modules <= ALLOWED, f"{name} imports {modules - ALLOWED}"

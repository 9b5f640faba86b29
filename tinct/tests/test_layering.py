"""The package is layered: library code (methods, colour maths, I/O, the pipeline) never imports the front ends.

Front ends (:mod:`tinct.apps`: the command line, the web service, batch runs) sit on top and reach the
library through :mod:`tinct.pipeline` and the registry. ``__main__`` modules are entry points, front ends
themselves, and may import them.
"""

import ast
from pathlib import Path

import tinct

ROOT = Path(tinct.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # function-level imports count as much as top-level ones
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def library_modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "apps" or "tests" in rel.parts or path.name == "__main__.py":
            continue
        yield rel, path


def test_no_library_module_imports_a_front_end():
    offenders = {str(rel): sorted(n for n in _imports(path) if n == "tinct.apps" or n.startswith("tinct.apps."))
                 for rel, path in library_modules()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"library modules importing tinct.apps: {offenders}"


def test_the_check_sees_function_level_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from tinct.apps.cli._common import emit\n")
    assert "tinct.apps.cli._common" in _imports(probe)


def test_there_are_library_modules_to_check():
    rels = {str(rel) for rel, _ in library_modules()}
    assert {"pipeline.py", "registry.py", "io/read.py"} <= rels

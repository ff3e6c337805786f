"""The package's layout: stages in order, and imports that run one way only, later to earlier."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "patcher"

# The stages a release goes through, in order: a module may import its own stage and the ones
# before it, never a later one. The cross-cutting modules at the top import none of them.
STAGES = ("source", "patching", "harness", "gocaches", "runners", "run", "lint", "delivery", "reports", "cluster")
CROSS_CUTTING = ("errors", "ui", "settings", "options", "locks", "owners", "selfcode")
# Top-level modules that are not cross-cutting, with the stage they sit in: a session is the
# source stage's handle for one command; the CLI and the state of every stage come after all.
PLACED = {"session": "source", "cli": None, "state": None, "__main__": None}
MAX_TOP_LEVEL_MODULES = 12


def rank(module: str) -> int:
    """0 for the cross-cutting modules, 1 + a stage's index for a stage, the most for the top."""
    parts = module.split(".")
    assert parts[0] == "patcher", module
    if len(parts) == 1 or parts[1] in CROSS_CUTTING:
        return 0
    name = parts[1]
    if name in STAGES:
        return 1 + STAGES.index(name)
    if name in PLACED:
        stage = PLACED[name]
        return 1 + (STAGES.index(stage) if stage else len(STAGES))
    raise AssertionError(f"patcher.{name} is neither a stage, a cross-cutting module nor placed: give it a place")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every ``patcher`` module the file imports, at any depth of the code, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "patcher"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "patcher" and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
                ).exists()
                found.append((node.lineno, candidate if is_module else node.module))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_place() -> None:
    for path in MODULES:
        rank(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_from_a_later_stage_to_an_earlier_one(path: Path) -> None:
    importer = module_name(path)
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}"
        for line, imported in imports_of(path)
        if rank(imported) > rank(importer) or (rank(importer) == 0 and rank(imported) != 0)
    ]
    assert not wrong, "imports against the stages' order:\n" + "\n".join(wrong)


def test_the_rule_catches_an_import_the_wrong_way(tmp_path: Path) -> None:
    assert rank("patcher.source.checkout") < rank("patcher.run.pipeline") < rank("patcher.cluster.suite") < rank("patcher.cli")
    assert rank("patcher.errors") == 0 and rank("patcher.session") == rank("patcher.source.mirrors")
    with pytest.raises(AssertionError):
        rank("patcher.somewhere_new")


def test_every_stage_says_what_it_owns_and_may_import() -> None:
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Imports" in doc, f"patcher/{stage}/__init__.py: a docstring saying what the stage owns and may import"


def test_the_top_of_the_package_holds_at_most_a_dozen_modules() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert set(top) <= set(CROSS_CUTTING) | set(PLACED), top

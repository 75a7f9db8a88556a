"""The structure contract of the code: no import cycle among `org_backup/` modules, lazy imports included (a cycle
hidden behind an import inside a function still breaks the day someone moves it to the top); no import of the
CDKTF layer (`stacks`, `cdktf`, `constructs`, the provider bindings) from `org_backup/`, which runs without jsii;
no Python file over 450 lines. Imports under `if TYPE_CHECKING:` are not runtime edges and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "org_backup"
CDKTF_LAYER = ("stacks", "cdktf", "constructs", "cdktf_cdktf_provider_aws", "jsii")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those inside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports(path: Path) -> set[str]:
    """Fully qualified modules a file imports at run time (``from org_backup import x`` counts as org_backup.x)."""
    modules: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "org_backup":
                modules |= {f"org_backup.{alias.name}" for alias in node.names}
            else:
                modules.add(node.module)
    return modules


def _graph() -> dict[str, set[str]]:
    own = {f"org_backup.{p.stem}" for p in PACKAGE.glob("*.py")}
    return {f"org_backup.{p.stem}": _imports(p) & own for p in PACKAGE.glob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_in_org_backup() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_org_backup_never_imports_the_cdktf_layer() -> None:
    offending = {
        path.name: sorted(m for m in _imports(path) if m.split(".")[0] in CDKTF_LAYER) for path in PACKAGE.glob("*.py")
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_no_python_file_over_450_lines() -> None:
    """A module a newcomer can read in one sitting; declarative data would be the exception, and there is none."""
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("stacks", "org_backup", "lambda_src")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > 450} == {}

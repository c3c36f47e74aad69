"""Our own imports, counted: circles between modules and imports inside functions.

    python tools/imports.py            # report; exit 1 if a limit is broken
    python tools/imports.py --graph    # every module and what it imports, for the README's diagram

Imports inside functions count (import-linter sees them too); so do imports under
`if TYPE_CHECKING:`, since a circle there is still a circle in the design. Each import
inside a function must carry a comment (on its line or the line above) saying why.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "reminders"
MAX_FUNCTION_IMPORTS = 20
MAX_FLAT_MODULES = 12


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The modules of our package that an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([base] if base else []))
    if base.split(".")[0] != PACKAGE:
        return []
    # `from pkg import name` may name a submodule: both are dependencies if they exist.
    return [base] + [f"{base}.{a.name}" for a in node.names]


class Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.depth = 0
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self.depth > 0))


def scan(root: Path) -> tuple[dict[str, set[str]], list[tuple[str, int, bool]], list[str]]:
    """(module -> imported modules, [(file, line, commented)] of function-level imports, modules)."""
    files = sorted(p for p in (root / PACKAGE).rglob("*.py") if "migrations" not in p.parts)
    modules = {module_name(p, root): p for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    inner: list[tuple[str, int, bool]] = []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        finder = Finder()
        finder.visit(ast.parse(source, str(path)))
        for node, in_function in finder.found:
            targets = [t for t in resolve(name, path.name == "__init__.py", node) if t in modules]
            graph[name].update(t for t in targets if t != name)
            if in_function and targets:
                here = lines[node.lineno - 1]
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                inner.append((f"{path.relative_to(root)}", node.lineno, "#" in here or above.startswith("#")))
    return graph, inner, sorted(modules)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring the edge
    from a package's __init__ to its own submodules (re-exports are not a design circle)."""
    def edges(m: str) -> set[str]:
        return {t for t in graph[m] if not t.startswith(m + ".")}

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10_000)

    def visit(m: str) -> None:
        nonlocal counter
        index[m] = low[m] = counter
        counter += 1
        stack.append(m)
        on_stack.add(m)
        for t in edges(m):
            if t not in index:
                visit(t)
                low[m] = min(low[m], low[t])
            elif t in on_stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            component = []
            while True:
                t = stack.pop()
                on_stack.discard(t)
                component.append(t)
                if t == m:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print each module's imports")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    root = Path(args.root)
    graph, inner, modules = scan(root)
    if args.graph:
        for m in modules:
            print(m, "->", ", ".join(sorted(graph[m])) or "-")
        return 0
    problems = []
    circles = cycles(graph)
    for circle in circles:
        problems.append("import circle: " + " <-> ".join(circle))
    if len(inner) > MAX_FUNCTION_IMPORTS:
        problems.append(f"{len(inner)} imports of our own modules inside functions (at most {MAX_FUNCTION_IMPORTS})")
    for file, line, commented in inner:
        if not commented:
            problems.append(f"{file}:{line}: an import inside a function needs a comment saying why")
    flat = [m for m in modules if m.count(".") == 1 and (root / (m.replace(".", "/") + ".py")).exists()]
    if len(flat) > MAX_FLAT_MODULES:
        problems.append(f"{len(flat)} modules directly in {PACKAGE}/ (at most {MAX_FLAT_MODULES}): {', '.join(flat)}")
    print(f"{len(modules)} modules, {len(circles)} import circles, {len(inner)} imports inside functions, "
          f"{len(flat)} flat modules")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

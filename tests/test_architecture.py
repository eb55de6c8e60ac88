"""The package's shape holds: imports run one way between rooms, and no module imports
itself back through others (README, "Layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "validator"

# Each module belongs to one layer: the bottom of the contract, the rest of the contract,
# the public API, or a room (a subpackage).
BASE = {"validator._catalog", "validator._exceptions"}
CONTRACT = {"validator._results", "validator._options", "validator._aggregate",
            "validator._registry", "validator._account"}
API = {"validator._api", "validator", "validator.asgi", "validator.wsgi"}

# What each layer may import besides itself. A room other than its own is reached through
# its face only: its `__init__` and its modules without a leading underscore. The API is the
# one place that wires the engine's rules in, so it may use their private modules.
ALLOWED: dict[str, set[str]] = {
    "base": {"base"},
    "dns": {"base"},
    "contract": {"base", "contract", "dns"},
    "rules": {"base", "contract"},
    "openapi": {"base", "contract"},
    # List hygiene works on values and results only: it knows nothing of schemas or runs.
    "hygiene": {"base", "contract"},
    "api": {"base", "contract", "rules", "dns", "web", "api"},
    "batch": {"base", "contract", "api", "rules", "dns", "hygiene"},
    "web": {"base", "contract", "api", "rules"},
    "cli": {"base", "contract", "api", "batch", "web", "openapi", "dns"},
}
PRIVATE_ACCESS = {("api", "rules")}


def _module_name(path: Path) -> str:
    parts = ["validator", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> str:
    if module in BASE:
        return "base"
    if module in CONTRACT:
        return "contract"
    if module in API:
        return "api"
    if module == "validator.__main__":
        return "cli"
    return module.split(".")[1]


def _is_face(module: str) -> bool:
    """A room's `__init__`, or one of its public modules (`validator.web.asgi`)."""
    parts = module.split(".")
    return len(parts) == 2 or not parts[-1].startswith("_")


def _imports(module: str) -> set[str]:
    """Every package module this one imports, wherever the statement stands (functions and
    `TYPE_CHECKING` blocks included: a type-only import still ties two modules together)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("validator"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("validator"))
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {module: _imports(module) for module in MODULES}


def test_the_layers_cover_every_module() -> None:
    for module in MODULES:
        assert _layer(module) in ALLOWED, f"{module} belongs to no layer"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_cross_rooms_only_where_allowed(module: str) -> None:
    layer = _layer(module)
    for target in sorted(GRAPH[module]):
        other = _layer(target)
        if other == layer:
            continue
        assert other in ALLOWED[layer], f"{module} ({layer}) may not import {target} ({other})"
        if other not in {"base", "contract", "api"} and (layer, other) not in PRIVATE_ACCESS:
            assert _is_face(target), \
                f"{module} reaches into {target}; use the face of validator.{other}"


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components: any component of two or more modules is a
    # cycle of imports.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_checks_see_real_imports() -> None:
    # The tests above would pass on an empty graph; these edges exist.
    assert "validator._results" in GRAPH["validator._api"]
    assert "validator.rules._compile" in GRAPH["validator._api"]
    assert "validator.hygiene" in GRAPH["validator.batch._hygiene"]


def test_the_disposable_list_loads_on_first_use_only() -> None:
    code = ("import sys, validator.batch, validator.hygiene as h;"
            "print('disposable_email_domains' in sys.modules, end=' ');"
            "h.email_warnings('a@b.cd'); print('disposable_email_domains' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False True"


def test_import_validator_does_not_load_dnspython() -> None:
    code = ("import sys, validator; validator.validate({'email': 'a@b.cd'}, 'contacts.create');"
            "print(any(m == 'dns' or m.startswith('dns.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    code = "import sys, validator; validator.MXChecker; print('dns.resolver' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"

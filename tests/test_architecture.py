"""Imports follow the layer table of docs/ARCHITECTURE.md: none runs up or sideways between layers.

The test reads the first table of the document (``| layer | package | what it does | may import |``),
so a change of the table drives it:

- *package* names what belongs to the layer: a folder (``cds_service/protocol/``) or a module
  (``api.py``: relative to ``cds_service/`` unless it names a folder). A module belongs to the
  layer whose entry matches it most specifically, so a row for ``cds_service/rules/services/`` takes
  those modules out of the row for ``cds_service/rules/``.
- *may import* lists, in backticks, the modules and packages (``chart.facts``, ``protocol``) a
  module of the layer may import; "everything below" allows every layer further down the table.
  Imports inside one layer are free.
- A package a layer may import but no row names (today ``knowledge``) is a foundation under the
  layers that use it: it may import no layer at all.
- Modules in the second table ("Around the request path, not in it") and the other modules no row
  names (``engine.py``, the glue; ``app.py``, ``config.py``, ...) are outside the check, both as
  importers and as imported modules, unless a row of the layer table names them.

Every ``import`` and ``from ... import`` counts, wherever it stands: at the top, inside a function
(a lazy import is still a dependency), and under ``if TYPE_CHECKING:`` (a type the layer names is
knowledge it depends on: a type-only import upward is still a leak, and hiding it from the runtime
is how cycles get hidden).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import pytest
from helpers import ROOT

PACKAGE = ROOT / "cds_service"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
EVERYTHING_BELOW = "everything below"

#: Known leaks (module -> the leak), each to be removed once the refactor of issue #13 fixes it: the
#: test fails (strict xfail) when a listed module no longer leaks, so the list cannot go stale.
KNOWN_LEAKS: dict[str, str] = {}


@dataclass(frozen=True)
class Layer:
    name: str
    members: tuple[str, ...]  # path prefixes relative to ROOT: "cds_service/data/" or "cds_service/api.py"
    allowed: tuple[str, ...]  # dotted module prefixes a member may import: "cds_service.chart.facts"
    everything_below: bool


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text`` as rows of cells (header first, the separator row dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = _cells(line)
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _member(entry: str) -> str:
    """A package cell entry as a path prefix relative to ROOT."""
    return entry if entry.startswith("cds_service/") else f"cds_service/{entry}"


def _backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def layer_table(text: str) -> list[Layer]:
    """The layers of the table whose header has "layer", "package" and "may import", top to bottom."""
    [table] = [t for t in _tables(text) if {"layer", "package", "may import"} <= {c.lower() for c in t[0]}]
    header = [cell.lower() for cell in table[0]]
    name, package, may = header.index("layer"), header.index("package"), header.index("may import")
    return [Layer(name=row[name], members=tuple(_member(e) for e in _backticked(row[package])),
                  allowed=tuple(f"cds_service.{e}" for e in _backticked(row[may])),
                  everything_below=EVERYTHING_BELOW in row[may].lower())
            for row in table[1:]]


def outside_modules(text: str) -> tuple[str, ...]:
    """The modules of the table whose header is "module | what it does" (around the request path)."""
    [table] = [t for t in _tables(text) if [c.lower() for c in t[0][:1]] == ["module"]]
    return tuple(_member(entry) for row in table[1:] for entry in _backticked(row[0]))


TEXT = DOC.read_text(encoding="utf-8")
LAYERS = layer_table(TEXT)
OUTSIDE = outside_modules(TEXT)
MODULES = sorted(path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py"))
#: The foundation of the layers: what a layer may import that no layer holds, as a pseudo-layer that may import none.
FOUNDATION = Layer(name="foundation", members=(), allowed=(), everything_below=False)


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or (prefix.endswith("/") and path.startswith(prefix))


def layer_of(path: str) -> Layer | None:
    """The layer a module (path relative to ROOT) belongs to, by its most specific entry; None: outside."""
    if any(_matches(path, entry) for entry in OUTSIDE if not any(entry in layer.members for layer in LAYERS)):
        return None
    found = [(len(entry), layer) for layer in LAYERS for entry in layer.members if _matches(path, entry)]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def is_foundation(path: str) -> bool:
    """True for a module of a package some layer may import that belongs to no layer (``knowledge``)."""
    module = _dotted(path)
    return layer_of(path) is None and path not in OUTSIDE and any(
        module == name or module.startswith(f"{name}.") for layer in LAYERS for name in layer.allowed)


def _dotted(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _path_of(module: str) -> str | None:
    """The module's file relative to ROOT, or None when it is not part of cds_service."""
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate
    return None


def imported_modules(path: str, source: str | None = None) -> set[str]:
    """Every cds_service module ``path`` (or ``source`` as if it were there) imports: any import statement,
    TYPE_CHECKING and lazy ones too."""
    package = _dotted(path) if path.endswith("__init__.py") else _dotted(path).rpartition(".")[0]
    found: set[str] = set()
    text = (ROOT / path).read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], node.module or ""]).strip(".") \
                if node.level else node.module or ""
            for alias in node.names:  # "from . import x" imports the submodule x when there is one
                found.add(f"{base}.{alias.name}" if _path_of(f"{base}.{alias.name}") else base)
    return {module for module in found if module == "cds_service" or module.startswith("cds_service.")}


def _allows(layer: Layer, module: str) -> bool:
    if any(module == name or module.startswith(f"{name}.") for name in layer.allowed):
        return True
    target_path = _path_of(module)
    target = layer_of(target_path) if target_path else None
    if target is None or target is layer:
        return True  # outside the layers, or inside the same layer
    return layer.everything_below and LAYERS.index(target) > LAYERS.index(layer)


def leaks(path: str, source: str | None = None) -> list[str]:
    """The imports of ``path`` (or ``source`` as if it were there) the table does not allow, with the layer reached."""
    layer = FOUNDATION if is_foundation(path) else layer_of(path)
    if layer is None:
        return []
    out = []
    for module in sorted(imported_modules(path, source)):
        if not _allows(layer, module):
            target = layer_of(_path_of(module) or "")
            out.append(f"{module} ({target.name if target else '?'})")
    return out


LAYERED = [path for path in MODULES if layer_of(path) is not None or is_foundation(path)]


def test_the_layer_table_is_read_from_the_document():
    assert len(LAYERS) >= 5, [layer.name for layer in LAYERS]
    for layer in LAYERS:
        assert layer.members, f"layer {layer.name!r}: no package in backticks"
        for entry in layer.members:
            assert (ROOT / entry).exists(), f"layer {layer.name!r}: {entry} does not exist"
        for name in layer.allowed:
            assert _path_of(name), f"layer {layer.name!r} may import {name}, which does not exist"
    assert "cds_service/metrics.py" in OUTSIDE


def test_every_layer_has_modules():
    for layer in LAYERS:
        assert any(layer_of(path) is layer for path in MODULES), layer.name
    assert any(map(is_foundation, MODULES)), "no foundation (knowledge) found: the may-import names are misread"


@pytest.mark.parametrize(("path", "source", "found"), [
    ("cds_service/chart/labs.py", "from ..rules import labs", ["cds_service.rules.labs (rules)"]),
    ("cds_service/chart/labs.py", "if TYPE_CHECKING:\n    from ..cards.render import x",
     ["cds_service.cards.render (cards)"]),
    ("cds_service/rules/labs.py", "def f():\n    import cds_service.chart.labs", ["cds_service.chart.labs (chart)"]),
    ("cds_service/rules/labs.py", "from ..chart import facts\nfrom . import b12_status\nfrom .. import knowledge", []),
    ("cds_service/knowledge/units.py", "from ..chart.facts import Analyte", ["cds_service.chart.facts (chart)"]),
    ("cds_service/data/prefetch.py", "from ..protocol.request import ParsedCall\nfrom .. import errors", []),
    ("cds_service/api.py", "from .cards import render\nfrom .data.prefetch import resolve", []),
])
def test_the_check_sees_upward_sideways_lazy_and_type_only_imports(path, source, found):
    assert leaks(path, source) == found


@pytest.mark.parametrize("path", [
    pytest.param(path, marks=pytest.mark.xfail(reason=KNOWN_LEAKS[path], strict=True)) if path in KNOWN_LEAKS
    else path for path in LAYERED])
def test_imports_follow_the_layer_table(path):
    found = leaks(path)
    assert not found, f"{path} ({(layer_of(path) or FOUNDATION).name}) imports across the layer table: {found}"

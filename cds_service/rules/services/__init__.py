"""One rule module per CDS service; each registers itself (``decision.register``) when imported.

Adding a service: write ``hooks/<id>.json`` and a module here (its table of rows and its
``decide``); it is found by this package's import of every module beside it. See
docs/ARCHITECTURE.md, "Adding a service".
"""

from __future__ import annotations

import importlib
import pkgutil

from ..decision import RULE_MODULES, RuleModule

_LOADED = False


def rule_modules() -> dict[str, RuleModule]:
    """Every registered rule module by name (imports the modules of this package once)."""
    global _LOADED
    if not _LOADED:
        # Why sorted: a module that reuses another's rows ("uses") finds it registered either way,
        # because RuleModule reads RULE_MODULES only when asked for its kinds.
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    return dict(RULE_MODULES)


def rule_module(name: str) -> RuleModule:
    """The rule module a hooks JSON names; KeyError when there is none."""
    if not _LOADED:
        rule_modules()
    return RULE_MODULES[name]  # Why not rule_modules()[name]: that copies the registry, twice a call

"""Clinical knowledge (value sets, analytes and units, dosing words, clinical.json), loaded and checked once.

``load_knowledge()`` reads every JSON file in this package, validates it with the models in
:mod:`.models` and returns an indexed :class:`Knowledge`. A bad file raises
:class:`KnowledgeError` naming the file and the field, so start-up stops with a clear reason.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .clinical import CLINICAL_FILE, ClinicalKnowledgeError, load_clinical_knowledge
from .lookup import CodeMatch, Knowledge, TextMatch, normalise_text
from .models import AnalytesFile, CodeSystemsFile, DosingFile, ValueSetsFile
from .units import UnitTable, normalise_unit

__all__ = [
    "CodeMatch",
    "Knowledge",
    "KnowledgeError",
    "TextMatch",
    "UnitTable",
    "load_knowledge",
    "normalise_text",
    "normalise_unit",
]

PACKAGE_DIR = Path(__file__).parent
_Model = TypeVar("_Model", bound=BaseModel)


class KnowledgeError(Exception):
    """A knowledge file is missing, is not JSON, or does not match its schema."""


def _read(directory: Path, name: str, model: type[_Model]) -> _Model:
    """Load ``directory/name`` into ``model``; raise KnowledgeError naming file and field."""
    path = directory / name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(f"{name}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise KnowledgeError(f"{name}: not valid JSON at line {exc.lineno}: {exc.msg}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise KnowledgeError(f"{name}: {problems}") from exc


def _check_references(value_sets: ValueSetsFile, analytes: AnalytesFile) -> None:
    """Raise KnowledgeError when analytes.json names a value set valuesets.json lacks."""
    for name, spec in analytes.analytes.items():
        if spec.valueSet not in value_sets.valueSets:
            raise KnowledgeError(
                f"analytes.json: analytes.{name}.valueSet: {spec.valueSet!r} is not defined in valuesets.json"
            )


@functools.lru_cache(maxsize=4)
def load_knowledge(directory: str | Path | None = None) -> Knowledge:
    """Load, validate and index the knowledge files (cached per directory)."""
    folder = Path(directory) if directory is not None else PACKAGE_DIR
    value_sets = _read(folder, "valuesets.json", ValueSetsFile)
    analytes = _read(folder, "analytes.json", AnalytesFile)
    dosing = _read(folder, "dosing.json", DosingFile)
    code_systems = _read(folder, "code_systems.json", CodeSystemsFile)
    _check_references(value_sets, analytes)
    try:
        clinical = load_clinical_knowledge(folder / CLINICAL_FILE.name)
    except ClinicalKnowledgeError as exc:
        raise KnowledgeError(str(exc)) from exc
    try:
        return Knowledge(value_sets, analytes, dosing, code_systems, clinical)
    except ValueError as exc:
        raise KnowledgeError(str(exc)) from exc

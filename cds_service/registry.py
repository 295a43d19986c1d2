"""CDS service definitions: one ``hooks/<id>.json`` each, validated at start-up; discovery comes from them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .chart.facts import DataSet
from .errors import ConfigError, UnknownService
from .protocol.prefetch_tokens import TOKEN, USER_TOKENS
from .protocol.request import CONTEXT_MODELS, field_path
from .query_subset import check_query_subset

PRIVATE_BLOCK = "x-b12cds"  # never served by discovery
RELATIVE_QUERY = re.compile(r"^[A-Z][A-Za-z]+(/|\?|$)")
SCALAR_CONTEXT_FIELDS = frozenset({"patientId", "encounterId", "userId"})
SHARED_TEXTS = "card-texts"  # hooks/card-texts/<name>.json: card texts several services name
SHARED_NAME = r"^[a-z0-9][a-z0-9\-]*$"

#: evaluator name -> parser of the service's card texts: returns them typed (opaque here), or raises
#: ValueError naming the field
CardTextValidators = Mapping[str, Callable[[Mapping[str, Any]], Any]]


class _PrefetchPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)
    # Per search key: "newest" when its first page (sorted newest first) is all the rules need, so further
    # pages are never fetched; "all" (the default) when every page counts (medications, conditions).
    pages: dict[str, Literal["newest", "all"]] = Field(default_factory=dict)
    # Per optional key: the clinical data set it holds, so a card can say what the EHR did not give and
    # the rules reason about data sets, never about this file's key names.
    dataSets: dict[str, DataSet] = Field(default_factory=dict)


class _Private(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evaluator: Annotated[str, StringConstraints(min_length=1)]
    prefetchPolicy: _PrefetchPolicy
    # The card texts: one inline block, or blocks merged in order, where a string names a file of
    # texts shared by several services (hooks/card-texts/<name>.json).
    cards: dict[str, Any] | list[Annotated[str, StringConstraints(pattern=SHARED_NAME)] | dict[str, Any]] = Field(
        default_factory=dict)
    parameters: dict[str, Any] | None = None  # the rule module's own settings, with their sources


class _ServiceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]
    hook: Literal["patient-view", "order-select", "order-sign"]
    title: str | None = None
    description: Annotated[str, StringConstraints(min_length=1)]
    prefetch: dict[str, Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=dict)
    usageRequirements: str | None = None
    private: _Private = Field(alias=PRIVATE_BLOCK)

    @model_validator(mode="after")
    def _consistent(self) -> _ServiceFile:
        policy = self.private.prefetchPolicy
        declared = policy.required + policy.optional
        for key in declared:
            if key not in self.prefetch:
                raise ValueError(f"{PRIVATE_BLOCK}.prefetchPolicy names {key!r}, which is not a prefetch key")
        for key, template in self.prefetch.items():
            if key not in declared:
                raise ValueError(f"prefetch.{key}: say in {PRIVATE_BLOCK}.prefetchPolicy if it is required")
            _check_template(key, template, self.hook)
        for key, pages in policy.pages.items():
            _check_pages(key, pages, self.prefetch.get(key))
        for key in policy.optional:
            if key not in policy.dataSets:
                raise ValueError(f"{PRIVATE_BLOCK}.prefetchPolicy.dataSets: say which data set optional key "
                                 f"{key!r} holds (one of: {', '.join(d.value for d in DataSet)})")
        for key in policy.dataSets:
            if key not in self.prefetch:
                raise ValueError(f"{PRIVATE_BLOCK}.prefetchPolicy.dataSets names {key!r}, which is not a prefetch key")
        return self


def _check_pages(key: str, pages: str, template: str | None) -> None:
    """A "newest" key must be a search sorted newest first, or its first page is not the newest."""
    where = f"{PRIVATE_BLOCK}.prefetchPolicy.pages.{key}"
    if template is None:
        raise ValueError(f"{where}: {key!r} is not a prefetch key")
    if "?" not in template:
        raise ValueError(f"{where}: {key!r} is a read, not a search: it has no pages")
    sort = parse_qs(template.split("?", 1)[1]).get("_sort", [""])[0]
    if pages == "newest" and not sort.startswith("-"):
        raise ValueError(f"{where}: 'newest' needs a search sorted newest first (_sort=-date), got "
                         f"_sort={sort!r}")


def _check_template(key: str, template: str, hook: str) -> None:
    """Accept only relative FHIR queries whose tokens this hook can fill."""
    if not RELATIVE_QUERY.match(template):
        raise ValueError(f"prefetch.{key}: must be relative to fhirServer ('Type?params' or 'Type/id')")
    # Only scalar context fields can fill a URL (draftOrders and selections are not ids).
    context_fields = set(CONTEXT_MODELS[hook].model_fields) & SCALAR_CONTEXT_FIELDS
    for token in TOKEN.findall(template):
        name = token.removeprefix("context.")
        if token in USER_TOKENS or (token.startswith("context.") and name in context_fields):
            continue
        raise ValueError(f"prefetch.{key}: unknown token {{{{{token}}}}} for hook {hook}")
    try:
        check_query_subset(template)
    except ValueError as exc:
        raise ValueError(f"prefetch.{key}: {exc}") from None


@dataclass(frozen=True)
class ServiceDefinition:
    """One CDS service: what discovery shows, plus how the service evaluates and what its cards say."""

    id: str
    hook: str
    title: str | None
    description: str
    prefetch: Mapping[str, str]
    usage_requirements: str | None
    evaluator: str
    required_keys: frozenset[str]
    card_texts: Mapping[str, Any]
    path: Path
    parsed_card_texts: Any = None  # what the evaluator's parser made of card_texts at start-up
    parameters: Any = None  # x-b12cds.parameters parsed by the rule module's schema (None: it has none)
    newest_page_keys: frozenset[str] = frozenset()  # searches whose first page suffices (no further pages)
    data_sets: Mapping[str, DataSet] = field(default_factory=dict)  # optional key -> the data set it holds

    def discovery_entry(self) -> dict[str, Any]:
        """Return this service as ``GET /cds-services`` lists it (no null or empty members)."""
        entry: dict[str, Any] = {"hook": self.hook, "title": self.title, "description": self.description,
                                 "id": self.id, "prefetch": dict(self.prefetch),
                                 "usageRequirements": self.usage_requirements}
        return {key: value for key, value in entry.items() if value not in (None, "", {})}


class ServiceRegistry:
    """The services this deployment offers, by id."""

    def __init__(self, services: Mapping[str, ServiceDefinition]) -> None:
        self._services = dict(services)

    def get(self, service_id: str) -> ServiceDefinition:
        """Return the service or raise UnknownService (404)."""
        try:
            return self._services[service_id]
        except KeyError:
            raise UnknownService(f"no CDS service with id {service_id!r}") from None

    def discovery(self) -> dict[str, Any]:
        """Return the discovery document, services in id order."""
        return {"services": [self._services[key].discovery_entry() for key in sorted(self._services)]}

    def __iter__(self):
        return iter(self._services.values())


def default_hooks_dir() -> Path:
    """Find the service definitions: packaged copy first (wheel install), then the checkout's hooks/."""
    packaged = Path(__file__).resolve().parent / "_hooks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "hooks"


def load_registry(directory: Path, card_validators: CardTextValidators) -> ServiceRegistry:
    """Load every ``*.json`` in ``directory``; any invalid file raises ConfigError naming file and field."""
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        raise ConfigError(f"{directory}: no CDS service definitions (*.json) found")
    services: dict[str, ServiceDefinition] = {}
    for path in files:
        service = _load_service(path, card_validators)
        if service.id in services:
            raise ConfigError(f"{path.name}: id {service.id!r} is already defined in "
                              f"{services[service.id].path.name}")
        services[service.id] = service
    return ServiceRegistry(services)


def _load_service(path: Path, card_validators: CardTextValidators) -> ServiceDefinition:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = _ServiceFile.model_validate(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid JSON ({exc})") from exc
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = field_path("", error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path.name}: {where + ': ' if where else ''}{message}") from exc
    private = parsed.private
    if private.evaluator not in card_validators:
        raise ConfigError(f"{path.name}: {PRIVATE_BLOCK}.evaluator: unknown evaluator {private.evaluator!r} "
                          f"(known: {', '.join(sorted(card_validators))})")
    texts = _card_texts(path, private.cards)
    try:
        parsed_texts = card_validators[private.evaluator](texts)
    except ValueError as exc:
        raise ConfigError(f"{path.name}: {PRIVATE_BLOCK}.cards: {exc}") from exc
    return ServiceDefinition(
        id=parsed.id, hook=parsed.hook, title=parsed.title, description=parsed.description,
        prefetch=parsed.prefetch, usage_requirements=parsed.usageRequirements,
        evaluator=private.evaluator, required_keys=frozenset(private.prefetchPolicy.required),
        card_texts=texts, path=path, parsed_card_texts=parsed_texts,
        parameters=_parameters(path, private.evaluator, private.parameters),
        newest_page_keys=frozenset(k for k, pages in private.prefetchPolicy.pages.items() if pages == "newest"),
        data_sets=dict(private.prefetchPolicy.dataSets),
    )


def _card_texts(path: Path, blocks: dict[str, Any] | list[str | dict[str, Any]]) -> dict[str, Any]:
    """Merge a service's card-text blocks in order: named kinds, suggestions, override reasons and
    notes add up (a later block's entry replaces an earlier one's), any other member is replaced."""
    merged: dict[str, Any] = {}
    for block in [blocks] if isinstance(blocks, dict) else blocks:
        texts = _shared_texts(path, block) if isinstance(block, str) else block
        for key, value in texts.items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(
                merged.get(key), dict) and key != "source" else value
    return merged


def _shared_texts(path: Path, name: str) -> dict[str, Any]:
    shared = path.parent / SHARED_TEXTS / f"{name}.json"
    try:
        texts = json.loads(shared.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path.name}: {PRIVATE_BLOCK}.cards: shared texts {name!r} cannot be read "
                          f"({SHARED_TEXTS}/{name}.json: {exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{SHARED_TEXTS}/{name}.json: not valid JSON ({exc})") from exc
    if not isinstance(texts, dict):
        raise ConfigError(f"{SHARED_TEXTS}/{name}.json: must be a JSON object of card texts")
    return texts


def _parameters(path: Path, evaluator: str, raw: dict[str, Any] | None) -> Any:
    """Parse x-b12cds.parameters with the rule module's schema; a module without one takes none."""
    from .rules.services import rule_modules

    module = rule_modules().get(evaluator)
    schema = module.parameters if module is not None else None
    if schema is None:
        if raw:
            raise ConfigError(f"{path.name}: {PRIVATE_BLOCK}.parameters: rule module {evaluator!r} takes none")
        return None
    try:
        return schema.model_validate(raw or {})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = field_path("", error["loc"])
        raise ConfigError(f"{path.name}: {PRIVATE_BLOCK}.parameters{'.' + where if where else ''}: "
                          f"{error['msg']}") from exc

"""What the data layer needs to know of a service to resolve its prefetch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class PrefetchNeeds(Protocol):
    """What resolving needs to know of a service; ``registry.ServiceDefinition`` is one.

    Why: the data layer sits below the protocol layer (docs/ARCHITECTURE.md), so it names the few
    things it reads instead of importing the registry's service definition.
    """

    @property
    def id(self) -> str: ...  # the service id, for the metrics' labels

    @property
    def prefetch(self) -> Mapping[str, str]: ...  # prefetch key -> template

    @property
    def required_keys(self) -> frozenset[str]: ...  # keys without which the call is a 412

    @property
    def newest_page_keys(self) -> frozenset[str]: ...  # searches whose first page suffices

"""The objects one app instance lives with: registry, feedback store, FHIR fetch settings, clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .data.prefetch import FetchSettings
from .feedback_store import FeedbackStore
from .metrics import Metrics
from .protocol.request import RequestLimits
from .registry import ServiceRegistry
from .repeats import RepeatGuard
from .security import Authenticator
from .shown_cards import ShownCards


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Runtime:
    """Everything a request handler needs besides the request."""

    registry: ServiceRegistry
    store: FeedbackStore
    fetch_settings: FetchSettings
    authenticator: Authenticator | None = None  # None: AUTH_REQUIRED is false (development only)
    public_base_url: str = ""  # the JWT audience is this plus the request path
    limits: RequestLimits = field(default_factory=RequestLimits)
    clock: Callable[[], datetime] = _utc_now  # injectable so fixtures see a fixed "today"
    new_uuid: Callable[[], str] = _new_uuid  # injectable so golden responses are stable
    metrics: Metrics = field(default_factory=lambda: Metrics(()))  # the app's own registry
    shown: ShownCards | None = None  # records the cards returned (None: not recorded)
    repeats: RepeatGuard | None = None  # None: no SUPPRESSION_KEY (or a window of 0), nothing is suppressed

    def today(self) -> date:
        """Return the date the rules reason from."""
        return self.clock().date()

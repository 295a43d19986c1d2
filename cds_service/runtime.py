"""The objects one app instance lives with: registry, feedback store, FHIR fetch settings, clock."""

from __future__ import annotations

import os
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
    """A random (version 4) UUID as text, the bits ``uuid.uuid4()`` sets, without building a UUID object.

    Why: every card and suggestion gets one; ``str(uuid.uuid4())`` took 4.1 µs, this 1.2 µs
    (``tests/test_runtime_uuids.py`` checks the version, the variant and the text form against ``uuid.UUID``).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant RFC 4122
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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

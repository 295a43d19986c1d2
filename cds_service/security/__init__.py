"""Authentication of CDS Clients: the EHR's bearer JWT, checked on every call (CDS Hooks 2.0 security)."""

from .issuers import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS
from .jwt_auth import FAILURE_MESSAGE, Authenticator, Claims
from .keys import BUILTIN_JWKS
from .replay import InMemoryReplayCache, ReplayCache

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "BUILTIN_JWKS",
    "DEFAULT_ALGORITHMS",
    "FAILURE_MESSAGE",
    "Authenticator",
    "Claims",
    "InMemoryReplayCache",
    "ReplayCache",
]

"""Pure clinical rules over chart facts (B12-RULES.md §3-§5): no Flask, no HTTP, no protocol.

Each function is named for the clinical idea, takes typed facts and the clinical
knowledge, and returns a typed result that carries the evidence it used.
"""

from .assessment import B12Assessment, assess
from .b12_status import B12Status, B12StatusCode, DeficiencyBasis, b12_status

__all__ = ["B12Assessment", "B12Status", "B12StatusCode", "DeficiencyBasis", "assess", "b12_status"]

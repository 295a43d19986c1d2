"""Chart layer: FHIR R4 resources in, typed clinical facts (:mod:`.facts`) out, units converted once."""

from __future__ import annotations

from .build import ChartData, build_chart

__all__ = ["ChartData", "build_chart"]

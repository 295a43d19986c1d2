"""`b12-cds report`: what the cards did, per service and card kind, from the feedback database."""

from .data import KindStats, Period, WeekStats, collect

__all__ = ["KindStats", "Period", "WeekStats", "collect"]

"""Structured logs: one JSON object per line, and one line per CDS Hooks call.

What a call line holds is chosen here, field by field, so that no patient identifier, token or
prefetch content can reach it; card summaries are added only when LOG_CARDS is switched on.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

CALLS = logging.getLogger("cds_service.calls")


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object: time, level, logger, message and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str, log_format: str) -> None:
    """Send logs to stderr as JSON lines (or plain text), unless the host already configured logging."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])  # a no-op when the root logger has handlers
    logging.getLogger("cds_service").setLevel(level)


def log_call(*, endpoint: str, service_id: str | None, status: int, latency_ms: float,
             hook_instance: str | None = None, cards: list[dict[str, Any]] | None = None,
             feedback: dict[str, int] | None = None, log_cards: bool = False) -> None:
    """Write the one line that describes a call."""
    if not CALLS.isEnabledFor(logging.INFO):
        return  # a log level above INFO: nothing to build
    fields: dict[str, Any] = {"event": endpoint, "service": service_id, "status": status,
                              "latencyMs": round(latency_ms, 1)}
    if hook_instance:
        fields["hookInstance"] = hook_instance
    if cards is not None:
        fields["cardCount"] = len(cards)
        fields["indicators"] = [card.get("indicator") for card in cards]
        topics = [card.get("source", {}).get("topic") or {} for card in cards]
        fields["cardKinds"] = [topic.get("code") for topic in topics]
        # Why (B12-RULES.md §9): the rule a card applies is traced here and in source.topic, never in its text.
        fields["cardRules"] = [topic.get("display") for topic in topics]
        if log_cards:  # cards describe a patient: only when an operator asks for them
            fields["cards"] = [{"uuid": c.get("uuid"), "summary": c.get("summary")} for c in cards]
    if feedback is not None:
        fields.update(feedback)
    CALLS.info("%s %s %s", endpoint, service_id or "-", status, extra={"fields": fields})

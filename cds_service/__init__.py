"""b12-cds: a CDS Hooks 2.0 service that protects patients from the nerve damage of vitamin B12 deficiency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the b12-cds Flask app (see :func:`cds_service.app.create_app`).

    Imported lazily so that ``import cds_service.chart`` (the evaluate command, tools) stays light.
    """
    from .app import create_app as _create_app

    return _create_app(config)


__all__ = ["create_app"]

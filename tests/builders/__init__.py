"""The tests' one set of builders, by layer.

- ``builders.fhir``: FHIR R4 resources, and ``chart_from_fhir`` (a chart read from them by the chart layer);
- ``builders.facts``: chart facts built directly, and ``chart`` (a chart from facts, for rules and cards);
- ``builders.cards``: cards run from facts, and the checks every card must pass.

Hook requests, Bundles, the clock and the services of hooks/*.json are in ``helpers``.
"""

from datetime import date

#: The day the rule, chart and card tests are evaluated on.
TODAY = date(2026, 3, 15)

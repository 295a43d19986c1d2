"""metformin-b12-monitoring as a whole: one hooks JSON + one rule module, and its golden cards (B12-RULES.md §8)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import FIXTURES, ROOT, load_json

SERVICE, EVALUATOR = "metformin-b12-monitoring", "metformin_b12_monitoring"
NAMES = (SERVICE, EVALUATOR, "metformin_monitoring")  # the service, its rule module, its card kind
SCENARIOS = sorted(p.parent for p in FIXTURES.glob(f"*/{SERVICE}.response.json"))
BOTH = [d for d in SCENARIOS if (d / "b12-status.response.json").is_file()]


def cards(directory, service: str) -> list[dict[str, Any]]:
    return load_json(directory / f"{service}.response.json")["cards"]


def without_uuid(card: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card.items() if k != "uuid"}


def test_the_service_is_one_hooks_json_and_one_rule_module():
    """Nothing in cds_service/ but the rule module names the service or its evaluator (issue #13 point 4)."""
    hook = load_json(ROOT / "hooks" / f"{SERVICE}.json")
    assert (hook["id"], hook["hook"], hook["x-b12cds"]["evaluator"]) == (SERVICE, "order-select", EVALUATOR)
    module = ROOT / "cds_service" / "rules" / "services" / f"{EVALUATOR}.py"
    naming = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cds_service").rglob("*")
                    if p.is_file() and p.suffix in (".py", ".json", ".md")
                    and any(name in p.read_text(encoding="utf-8") for name in NAMES))
    assert naming == [str(module.relative_to(ROOT))]


def test_the_service_is_discovered():
    from cds_service import create_app

    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://"})
    services = {s["id"]: s for s in app.test_client().get("/cds-services").get_json()["services"]}
    assert services[SERVICE]["hook"] == "order-select"
    assert "x-b12cds" not in services[SERVICE]


def test_there_are_scenarios_for_every_row_of_the_table():
    kinds = {c["source"]["topic"]["code"] for d in SCENARIOS for c in cards(d, SERVICE)}
    silent = [d.name for d in SCENARIOS if not cards(d, SERVICE)]
    assert {"metformin_monitoring", "deficient", "indeterminate", "not_tested"} <= kinds
    assert len(silent) >= 5


@pytest.mark.parametrize("directory", BOTH, ids=[d.name for d in BOTH])
def test_a_deferred_card_is_the_patient_view_card(directory):
    """§8: deficient or indeterminate (or an old low result) - one card with patient-view's content and level."""
    [mine], [theirs] = cards(directory, SERVICE), cards(directory, "b12-status")
    assert without_uuid(mine) == without_uuid(theirs)


@pytest.mark.parametrize("directory", SCENARIOS, ids=[d.name for d in SCENARIOS])
def test_the_monitoring_card_suggests_exactly_a_serum_b12(directory):
    for card in cards(directory, SERVICE):
        if card["source"]["topic"]["code"] != "metformin_monitoring":
            continue
        [suggestion] = card["suggestions"]
        [action] = suggestion["actions"]
        resource = action["resource"]
        assert (resource["resourceType"], resource["status"], resource["intent"]) == ("ServiceRequest", "draft",
                                                                                     "proposal")
        assert resource["code"]["coding"][0] == {"system": "http://loinc.org", "code": "2132-9",
                                                 "display": "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma"}
        assert suggestion["isRecommended"] is True
        assert "ADA Standards of Care" in card["detail"] and "Metformin order" in card["detail"]
        assert card["indicator"] == ("warning" if "Neurological:" in card["detail"] else "info")

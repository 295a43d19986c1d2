"""Governance on a real PostgreSQL: the report's known rates, and no repeated card across two instances."""

from __future__ import annotations

from report_data import generate
from test_repeats import KEY, feedback, select_card, sign_cards
from test_report import check_known_rates

from cds_service.feedback_store import FeedbackStore


def test_known_rates_on_postgresql(database_url):
    store = FeedbackStore.from_url(database_url)
    try:
        generate(store)
        check_known_rates(store)
    finally:
        store.engine.dispose()


def test_overridden_at_select_on_one_instance_is_suppressed_at_sign_on_another(pg_config, make_app):
    first, second = (make_app({**pg_config, "SUPPRESSION_KEY": KEY}) for _ in range(2))
    card = select_card(first.test_client())
    assert len(sign_cards(second.test_client())) == 1  # not overridden yet: shown
    feedback(second.test_client(), card)
    assert sign_cards(second.test_client()) == []
    assert sign_cards(first.test_client()) == []
    metrics = second.test_client().get("/metrics").get_data(as_text=True)
    assert 'b12cds_cards_suppressed_total{kind="folate_deficient",service="folic-acid-safety-sign"} 1.0' in metrics
